/**
 * The re-read dump (model/tools/reread-dump.ts), run as a command on a small workspace: the chunks it records for
 * each question are exactly what the engine re-reads for that question (`grounding.sources` of `engine/ask` and
 * `engine/summarize`, with the tiny test model and the same budget) on the workspace's variant, which it writes
 * out; the variant lost the doc comments and headers the answers come from; the answers are in their formats.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineClient, type EngineStream } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair } from '../../model/engine/messenger';
import type { Source } from '../../model/engine/protocol';
import { deleteLines, docSpan, headerSpan, plainDoc, summaryOf, type PackageRecord, type QuestionRecord } from '../../model/tools/reread-dump';
import { WorkspaceIndex } from '../../model/index';

const REPO = path.resolve(__dirname, '../..');
const TINY = path.join(REPO, 'test/fixtures/tiny');
const TOOL = path.join(REPO, 'model/tools/reread-dump.ts');

const FILES: Record<string, string> = {
  'README.md': '# queue\n\nA job queue with retries.\n',
  'src/queue.ts': [
    '/**',
    ' * A job queue that runs jobs one at a time and retries the failed ones.',
    ' * Jobs are kept in memory only.',
    ' */',
    '',
    "import { sleep } from './util';",
    '',
    '/** A job and how often it was tried. */',
    'export interface Job {',
    '  id: string;',
    '  attempts: number;',
    '}',
    '',
    '/**',
    ' * Retries a task with exponential backoff until it succeeds or runs out of tries.',
    ' * @param task what to run',
    ' */',
    'export async function retryWithBackoff<T>(task: () => Promise<T>, tries = 5): Promise<T> {',
    '  for (let i = 0; ; i++) {',
    '    try {',
    '      return await task();',
    '    } catch (err) {',
    '      if (i + 1 >= tries) throw err;',
    '      await sleep(100 * 2 ** i);',
    '    }',
    '  }',
    '}',
    '',
    '/** Holds the jobs that are waiting for their turn. */',
    'export class Queue {',
    '  private jobs: Job[] = [];',
    '',
    '  /**',
    '   * Adds a job at the end of the queue and returns its position.',
    '   */',
    '  push(job: Job): number {',
    '    this.jobs.push(job);',
    '    return this.jobs.length;',
    '  }',
    '',
    '  // Takes the first job out of the queue, or undefined when it is empty.',
    '  shift(): Job | undefined {',
    '    return this.jobs.shift();',
    '  }',
    '}',
    '',
  ].join('\n'),
  'src/util.ts': [
    '// Small helpers shared by the queue and its tests.',
    '',
    '/** Waits the given number of milliseconds before it resolves. */',
    'export function sleep(ms: number): Promise<void> {',
    '  return new Promise((r) => setTimeout(r, ms));',
    '}',
    '',
    'export function clamp(x: number, lo: number, hi: number): number {',
    '  return Math.min(hi, Math.max(lo, x));',
    '}',
    '',
  ].join('\n'),
  'lib/cookies.js': [
    "'use strict';",
    '',
    '/*!',
    ' * Parses and serialises the cookie headers of HTTP requests and responses.',
    ' */',
    '',
    '/**',
    ' * Parse a cookie header into an object of names and values, the {@link decode} function applied to each.',
    ' */',
    'function parse(str, options) {',
    '  var obj = {};',
    '  return obj;',
    '}',
    '',
    '/**',
    ' * Serialize a cookie name and value into a header string.',
    ' */',
    'function serialize(name, val) {',
    "  return name + '=' + val;",
    '}',
    '',
    'module.exports = { parse: parse, serialize: serialize };',
    '',
  ].join('\n'),
};

async function drain<C, F>(stream: EngineStream<C, F>): Promise<F> {
  for await (const _ of stream);
  return stream.result;
}

const rows = (sources: Source[]) => sources.map((s) => [s.path, s.startLine, s.endLine, s.reason]);

describe('reread-dump: the chunks of the engine, on the variant it writes', () => {
  const cleanup: string[] = [];
  let root: string;
  let variant: string;
  let records: QuestionRecord[];
  let pkg: PackageRecord;
  let client: EngineClient;
  let engine: Engine;

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-dump-'));
    cleanup.push(root);
    const ws = path.join(root, 'ws');
    for (const [rel, text] of Object.entries(FILES)) {
      await fs.mkdir(path.dirname(path.join(ws, rel)), { recursive: true });
      await fs.writeFile(path.join(ws, rel), text);
    }
    variant = path.join(root, 'variant');
    const out = path.join(root, 'dump.jsonl');
    execFileSync(process.execPath, ['--import', 'tsx', TOOL, '--workspace', ws, '--out', out, '--variant-out', variant,
      '--tokenizer', path.join(TINY, 'tokenizer.json'), '--doc-share', '1', '--header-share', '1', '--budgets', '120:1,400:1,4000:1'], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
    const lines = (await fs.readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as QuestionRecord | PackageRecord);
    pkg = lines[0] as PackageRecord;
    records = lines.slice(1) as QuestionRecord[];
    const [clientEnd, engineEnd] = createInProcessPair();
    engine = new Engine();
    serveEngine(engineEnd, engine.handlers);
    client = new EngineClient(clientEnd);
    await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
    await drain(client.stream('workspace/open', { root: variant, mode: 'fresh' }));
  });
  after(async () => {
    client.close();
    await engine.dispose();
    for (const dir of cleanup) await fs.rm(dir, { recursive: true, force: true });
  });

  it('asks every kind, and the variant is the workspace less the doc comments and headers the answers come from', async () => {
    const kinds = new Set(records.map((r) => r.kind));
    for (const k of ['what', 'which', 'summarize', 'where']) assert.ok(kinds.has(k as QuestionRecord['kind']), `no ${k} question in ${[...kinds]}`);
    assert.deepEqual(pkg.strip['src/queue.ts']?.[0], [1, 5], 'the header and the blank line after it');
    for (const [p, spans] of Object.entries(pkg.strip)) {
      assert.equal(await fs.readFile(path.join(variant, p), 'utf8'), deleteLines(FILES[p]!, spans));
    }
    for (const r of records.filter((q) => q.kind === 'what' || q.kind === 'which' || q.kind === 'summarize')) {
      const text = await fs.readFile(path.join(variant, r.truth!.path), 'utf8');
      const words = r.answer!.replace(/^.* at /, '').split(' ').slice(0, 5).join(' ');
      if (r.kind !== 'which') assert.ok(!text.includes(words), `${r.question}: "${words}" is still in ${r.truth!.path}`);
    }
  });

  it('answers: where -> path:line, which -> NAME at path:line, what -> the doc lead, summarize -> the header', async () => {
    for (const r of records) {
      const lines = (await fs.readFile(path.join(variant, r.truth!.path || 'README.md'), 'utf8')).split('\n');
      if (r.kind === 'where') {
        assert.equal(r.answer, `${r.truth!.path}:${r.truth!.line}`);
        assert.match(lines[r.truth!.line - 1]!, new RegExp(r.truth!.name));
      }
      if (r.kind === 'which') {
        assert.equal(r.answer, `${r.truth!.qname} at ${r.truth!.path}:${r.truth!.line}`);
        assert.match(r.question, /^Which (function|class) does this: /);
        assert.match(lines[r.truth!.line - 1]!, new RegExp(r.truth!.name));
      }
    }
    const what = records.find((r) => r.kind === 'what' && r.truth!.name === 'parse');
    assert.equal(what?.answer, 'Parse a cookie header into an object of names and values, the decode function applied to each.');
    const summary = records.find((r) => r.kind === 'summarize' && r.truth!.path === 'src/queue.ts');
    assert.equal(summary?.answer, 'A job queue that runs jobs one at a time and retries the failed ones. Jobs are kept in memory only.');
  });

  it("each question's chunks are the engine's re-read for it (same budget, same order)", async () => {
    let compared = 0;
    for (const r of records) {
      const options = { maxNewTokens: 1 };
      const reread = { tokens: r.budget };
      if (r.kind === 'summarize') {
        const result = await drain(client.stream('engine/summarize', { path: r.truth!.path, reread, options }));
        assert.deepEqual(rows(result.grounding.sources), r.chunks.map(([p, s, e, why]) => [p, s, e, why === 'whole' ? 'file' : why]), r.question);
        compared++;
        continue;
      }
      const result = await drain(client.stream('engine/ask', { question: r.asked ?? r.question, reread, options }));
      // A where-question about a documented name, and a which-question, are answered from the index alone (their
      // sources are the definitions).
      if (result.grounding.rereadTokens === 0 && (r.kind === 'where' || r.kind === 'which')) continue;
      assert.deepEqual(rows(result.grounding.sources), r.chunks, `${r.asked ?? r.question} (budget ${r.budget})`);
      compared++;
    }
    assert.ok(compared >= records.length - records.filter((r) => r.kind === 'where' || r.kind === 'which').length, `${compared} of ${records.length} compared`);
  });
});

describe('reread-dump: doc comments, headers, summaries', () => {
  it('finds the doc comment lines above a definition as the index reads them', async () => {
    const index = await WorkspaceIndex.create();
    index.addFile('src/queue.ts', FILES['src/queue.ts']!, 'x');
    const lines = FILES['src/queue.ts']!.split('\n');
    const def = (name: string) => index.outline('src/queue.ts').find((d) => d.name === name)!;
    assert.deepEqual(docSpan(lines, def('retryWithBackoff')), [14, 17]);
    assert.deepEqual(docSpan(lines, def('push')), [33, 35]);
    assert.deepEqual(docSpan(lines, def('shift')), [41, 41]);
    assert.equal(docSpan(lines, def('attempts')), null);
  });

  it('finds a header comment after a use-strict line, and not a comment that is not whole lines', () => {
    assert.deepEqual(headerSpan('lib/cookies.js', FILES['lib/cookies.js']!.split('\n'))?.span, [3, 5]);
    assert.equal(headerSpan('a.js', ['/* a */ var x = 1;']), null);
    assert.equal(headerSpan('README.md', ['# x']), null);
  });

  it('summaries stop at a sentence end, a tag or the first paragraph; links read as plain text', () => {
    assert.equal(summaryOf('One. Two. Three. Four.'), 'One. Two. Three.');
    assert.equal(summaryOf('First line\ngoes on.\n\nSecond paragraph.'), 'First line goes on.');
    assert.equal(summaryOf('Does it.\n@param x a thing'), 'Does it.');
    assert.equal(plainDoc('See {@link Router.handle} and {@link foo|the foo}.'), 'See Router.handle and the foo.');
  });
});
