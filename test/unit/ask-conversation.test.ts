/**
 * `engine/ask` with a conversation and with code the user pointed at, through the protocol with the tiny test
 * model on the CPU: the earlier turns streamed before the re-read code within their budget (oldest dropped
 * first), the context re-read first and listed as sources, and every path checked (docs/engine-protocol.md,
 * "Follow-ups and context").
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { EngineClient } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair } from '../../model/engine/messenger';
import { rereadChunkTokens, turnTokens } from '../../model/engine/prompt';
import { DEFAULT_HISTORY_TOKENS, MAX_CONTEXT_TEXT, type AnswerResult, type AskRequest, type Turn } from '../../model/engine/protocol';
import { loadModelDir, type FamTokenizer } from '../../model/loader';
import { rejection } from './engine-errors';

const TINY = path.resolve(__dirname, '../fixtures/tiny');

const QUEUE_TS = [
  '/** A queue of jobs. */', // 1
  'export class JobQueue {',
  '  private jobs: string[] = [];',
  '  /** Runs every job that is due. */',
  '  drain(): void {', // 5
  '    this.jobs = [];',
  '  }',
  '}',
  ...Array.from({ length: 300 }, (_, i) => `export const filler${i} = ${i}; // a long tail to cut`),
].join('\n');
const SERVER_TS = ["import { JobQueue } from './queue';", '', 'const queue = new JobQueue();', 'setInterval(() => queue.drain(), 1000);', ''].join('\n');

describe('engine/ask: follow-ups and context (tiny model)', () => {
  let client: EngineClient;
  let engine: Engine;
  let root: string;
  let tokenizer: FamTokenizer;

  const ask = async (req: AskRequest): Promise<AnswerResult> => {
    const stream = client.stream('engine/ask', { options: { maxNewTokens: 4 }, ...req });
    for await (const _ of stream);
    return stream.result;
  };

  before(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-ask-'));
    await fs.mkdir(path.join(root, 'src'));
    await fs.writeFile(path.join(root, 'src', 'queue.ts'), QUEUE_TS);
    await fs.writeFile(path.join(root, 'src', 'server.ts'), SERVER_TS);
    await fs.writeFile(path.join(root, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
    const [clientEnd, engineEnd] = createInProcessPair();
    engine = new Engine();
    serveEngine(engineEnd, engine.handlers);
    client = new EngineClient(clientEnd);
    await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
    const opened = client.stream('workspace/open', { root });
    for await (const _ of opened);
    await opened.result;
    tokenizer = (await loadModelDir(TINY)).tokenizer;
  });
  after(async () => {
    client.close();
    await engine.dispose();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('streams the earlier turns before the re-read code and says how many: the prompt grows by exactly their tokens', async () => {
    const question = 'How are jobs run?';
    const alone = await ask({ question });
    assert.equal(alone.grounding.historyTurns, 0);
    assert.equal(alone.grounding.historyTokens, 0);
    const history: Turn[] = [
      { question: 'What is in src/server.ts?', answer: 'It starts a timer.' },
      { question: 'How often?', answer: 'Every second.' },
    ];
    const followUp = await ask({ question, history });
    const expected = history.reduce((n, t) => n + turnTokens(tokenizer, t).length, 0);
    assert.equal(followUp.grounding.historyTurns, 2);
    assert.equal(followUp.grounding.historyTokens, expected);
    assert.equal(followUp.promptTokens - followUp.grounding.rereadTokens, alone.promptTokens - alone.grounding.rereadTokens + expected);
  });

  it('keeps the most recent turns that fit the budget, dropping the oldest first; 0 turns at budget 0', async () => {
    const history: Turn[] = [1, 2, 3].map((n) => ({ question: `Question ${n}?`, answer: `Answer ${n}.` }));
    const sizes = history.map((t) => turnTokens(tokenizer, t).length);
    const two = await ask({ question: 'And then?', history, historyTokens: sizes[1]! + sizes[2]! });
    assert.equal(two.grounding.historyTurns, 2);
    assert.equal(two.grounding.historyTokens, sizes[1]! + sizes[2]!);
    const none = await ask({ question: 'And then?', history, historyTokens: 0 });
    assert.equal(none.grounding.historyTurns, 0);
    // The default budget on a CPU.
    const long: Turn[] = Array.from({ length: 40 }, (_, i) => ({ question: `Question ${i}?`, answer: `An answer of some length, number ${i}.` }));
    const fitted = await ask({ question: 'And then?', history: long });
    assert.ok(fitted.grounding.historyTurns > 0 && fitted.grounding.historyTurns < 40, `${fitted.grounding.historyTurns} turns`);
    assert.ok(fitted.grounding.historyTokens <= DEFAULT_HISTORY_TOKENS.cpu);
  });

  it('a question that names its own subject and does not lean on the turns is asked alone: none of them is streamed', async () => {
    const history: Turn[] = [{ question: 'What is in src/server.ts?', answer: 'It starts a timer.' }];
    const own = await ask({ question: 'How is JobQueue built?', history });
    assert.equal(own.grounding.historyTurns, 0, 'a new question, whatever came before');
    assert.equal(own.grounding.historyTokens, 0);
    const leaning = await ask({ question: 'How does JobQueue relate to it?', history });
    assert.equal(leaning.grounding.historyTurns, 1, 'it points back: a follow-up');
    const elliptic = await ask({ question: 'How often?', history });
    assert.equal(elliptic.grounding.historyTurns, 1, 'names nothing: a follow-up');
  });

  it("a follow-up that names nothing re-reads what the last turn named: its definition, and where it is used", async () => {
    const history: Turn[] = [{ question: 'What does `drain` do?', answer: 'Runs every job that is due.' }];
    const result = await ask({ question: 'and where is it called?', history });
    const sources = result.grounding.sources;
    assert.ok(sources.some((s) => s.reason === 'definition' && s.definition === 'JobQueue.drain'), JSON.stringify(sources));
    assert.ok(sources.some((s) => s.path === 'src/server.ts'), 'the call site, found by searching for the name');
  });

  it('a question that points back is answered about the last subject: "Where is it defined?" quotes its place', async () => {
    const history: Turn[] = [{ question: 'What does `drain` do?', answer: 'Runs every job that is due.' }];
    const stream = client.stream('engine/ask', { question: 'Where is it defined?', history });
    let text = '';
    for await (const d of stream) text += d.text;
    const result = await stream.result;
    assert.match(text, /`drain` is defined at src\/queue\.ts:5/);
    assert.equal(result.grounding.citations.find((c) => c.text === 'src/queue.ts:5')?.verified, true);
  });

  it('re-reads the context first, as sources with reason context, and cuts a span too large for the budget to its head', async () => {
    const result = await ask({ question: 'What happens here?', context: [{ path: 'src/server.ts', startLine: 3, endLine: 4 }] });
    const last = result.grounding.sources[result.grounding.sources.length - 1]!;
    assert.deepEqual(last, { path: 'src/server.ts', startLine: 3, endLine: 4, reason: 'context' }, 'the context is the last thing read before the question');
    const abs = await ask({ question: 'What happens here?', context: [{ path: path.join(root, 'src', 'server.ts') }] });
    assert.deepEqual(abs.grounding.sources.at(-1), { path: 'src/server.ts', startLine: 1, endLine: 5, reason: 'context' }, 'an absolute path inside the root, whole');
    const cut = await ask({ question: 'How are the jobs kept?', context: [{ path: 'src/queue.ts', startLine: 2 }], reread: { tokens: 200 } });
    const only = cut.grounding.sources.find((s) => s.reason === 'context')!;
    assert.equal(only.startLine, 2);
    assert.equal(only.requestedEndLine, 308);
    assert.ok(only.endLine < 308, `cut at ${only.endLine}`);
    assert.ok(cut.grounding.rereadTokens <= 200);
  });

  it('"What does this do?" about a selection is about the definition selected: its doc comment is quoted', async () => {
    const stream = client.stream('engine/ask', {
      question: 'What does this do?',
      context: [{ path: 'src/queue.ts', startLine: 4, endLine: 7 }],
      history: [{ question: 'What does `JobQueue` do?', answer: 'A queue of jobs.' }],
    });
    let text = '';
    for await (const d of stream) text += d.text;
    assert.match(text, /`JobQueue\.drain` \(method at src\/queue\.ts:5\), from its doc comment: Runs every job that is due\./, 'the selection, not the last turn');
    assert.equal((await stream.result).grounding.sources[0]?.definition, 'JobQueue.drain');
  });

  it("re-reads a file's unsaved text instead of the disk: its lines, its tokens, under the workspace path", async () => {
    // Lines 4-6 as an editor with unsaved changes shows them; on disk the file has 5 lines and line 4 is other code.
    const text = [...SERVER_TS.split('\n').slice(0, 3), '// drain twice as often', 'setInterval(() => queue.drain(), 500);', 'export const unsavedOnly = true;', ''].join('\n');
    const expected = rereadChunkTokens(tokenizer, 'src/server.ts', 4, 6, text.split('\n').slice(3, 6).join('\n')).length;
    const onDisk = rereadChunkTokens(tokenizer, 'src/server.ts', 4, 5, SERVER_TS.split('\n').slice(3, 5).join('\n')).length;
    assert.notEqual(expected, onDisk);
    for (const p of ['src/server.ts', path.join(root, 'src', 'server.ts')]) {
      const result = await ask({ question: 'What happens here?', context: [{ path: p, startLine: 4, endLine: 6, text }], reread: { tokens: expected } });
      assert.deepEqual(result.grounding.sources, [{ path: 'src/server.ts', startLine: 4, endLine: 6, reason: 'context' }], 'line 6 exists only in the unsaved text');
      assert.equal(result.grounding.rereadTokens, expected, 'the unsaved lines were re-read');
    }
    // Another entry of the same file without text reads the same unsaved version.
    const both = await ask({ question: 'What happens here?', context: [{ path: 'src/server.ts', startLine: 6, endLine: 6 }, { path: 'src/server.ts', startLine: 4, endLine: 6, text }] });
    assert.ok(both.grounding.sources.some((s) => s.path === 'src/server.ts' && s.endLine === 6), JSON.stringify(both.grounding.sources));
    // The disk is unchanged, and read as it is without text.
    assert.equal(await fs.readFile(path.join(root, 'src', 'server.ts'), 'utf8'), SERVER_TS);
    const saved = await ask({ question: 'What happens here?', context: [{ path: 'src/server.ts', startLine: 4, endLine: 6 }], reread: { tokens: onDisk } });
    assert.deepEqual(saved.grounding.sources, [{ path: 'src/server.ts', startLine: 4, endLine: 5, reason: 'context' }]);
  });

  it('reads each context file once, however many entries name it', async () => {
    const readFile = fs.readFile.bind(fs);
    const spy = mock.method(fs, 'readFile', (...args: unknown[]) => (readFile as (...a: unknown[]) => Promise<unknown>)(...args));
    try {
      await ask({ question: 'What happens here?', context: [{ path: 'src/server.ts', startLine: 3, endLine: 4 }, { path: 'src/server.ts' }] });
      const reads = spy.mock.calls.filter((c) => String(c.arguments[0]).endsWith(path.join('src', 'server.ts')));
      assert.equal(reads.length, 1);
      spy.mock.resetCalls();
      await ask({ question: 'What happens here?', context: [{ path: 'src/server.ts', text: SERVER_TS }] });
      assert.equal(spy.mock.calls.filter((c) => String(c.arguments[0]).endsWith(path.join('src', 'server.ts'))).length, 0, 'its text came with the request');
    } finally {
      spy.mock.restore();
    }
  });

  it('BAD CALL - a context path outside the workspace is an invalid request; a file that is not text is not-found', async () => {
    const outside = await rejection(ask({ question: 'q', context: [{ path: '../elsewhere.ts' }] }), 'invalid-request');
    assert.match(outside.message, /params\.context\[0\]\.path: \.\.\/elsewhere\.ts is not a file inside the open workspace/);
    await rejection(ask({ question: 'q', context: [{ path: 'src/queue.ts' }, { path: '/etc/passwd' }] }), 'invalid-request');
    await rejection(ask({ question: 'q', context: [{ path: root }] }), 'invalid-request');
    const binary = await rejection(ask({ question: 'q', context: [{ path: 'logo.png' }] }), 'not-found');
    assert.match(binary.message, /cannot re-read logo\.png/);
    await rejection(ask({ question: 'q', context: [{ path: 'src/missing.ts' }] }), 'not-found');
    // Text does not make a path good: it must name a file of the workspace.
    await rejection(ask({ question: 'q', context: [{ path: '../elsewhere.ts', text: 'x' }] }), 'invalid-request');
    assert.match((await rejection(ask({ question: 'q', context: [{ path: 'src/missing.ts', text: 'x' }] }), 'not-found')).message, /cannot re-read src\/missing\.ts/);
    await rejection(ask({ question: 'q', context: [{ path: 'src', text: 'x' }] }), 'not-found');
  });

  it('BAD CALL - malformed history and context are refused by the request check, naming the field', async () => {
    const bad = (params: unknown) => rejection(client.stream('engine/ask', params as AskRequest).result, 'invalid-request');
    assert.match((await bad({ question: 'q', context: [{ path: 'src/queue.ts', startLine: 5, endLine: 2 }] })).message, /context\[0\]\.endLine/);
    assert.match((await bad({ question: 'q', context: [{ path: 'src/queue.ts', startLine: 0 }] })).message, /context\[0\]\.startLine/);
    assert.match((await bad({ question: 'q', context: [{ path: '' }] })).message, /context\[0\]\.path/);
    assert.match((await bad({ question: 'q', context: [{ path: 'src/queue.ts', text: 'x'.repeat(MAX_CONTEXT_TEXT + 1) }] })).message, /context\[0\]\.text/);
    assert.match((await bad({ question: 'q', context: [{ path: 'src/queue.ts', text: 7 }] })).message, /context\[0\]\.text/);
    assert.match((await bad({ question: 'q', history: [{ question: 'a' }] })).message, /history\[0\]\.answer/);
    assert.match((await bad({ question: 'q', history: [{ question: 'a', answer: 'b', extra: 1 }] })).message, /history\[0\]/);
    assert.match((await bad({ question: 'q', historyTokens: -1 })).message, /historyTokens/);
  });
});
