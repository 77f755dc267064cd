/**
 * The shipped processes end to end: dist/engine.js spoken to over stdio, and dist/cli.js run as a user
 * would, on a copy of samples/demo-workspace with the tiny test model on the CPU.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineClient } from '../../model/engine/client';
import { EngineError, MEMORY_FILES } from '../../model/engine/protocol';

const REPO = path.resolve(__dirname, '../..');
const CLI = path.join(REPO, 'dist/cli.js');
const ENGINE = path.join(REPO, 'dist/engine.js');
const TINY = path.join(REPO, 'test/fixtures/tiny');
const SAMPLE = path.join(REPO, 'samples/demo-workspace');

before(() => {
  execFileSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO, stdio: 'inherit' });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function famulus(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs famulus with --json and returns the parsed report. */
function famulusJson(args: string[]): Record<string, any> {
  const r = famulus([...args, '--json', '--device', 'cpu', '--model', TINY]);
  assert.equal(r.code, 0, `famulus ${args.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, any>;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), `${rel}/`)));
    else out.push(rel);
  }
  return out.sort();
}

describe('engine process over stdio', () => {
  it('EXPECTED FAILURE - a killed engine fails every pending request with its signal and last log lines', async () => {
    const client = EngineClient.spawn({ enginePath: ENGINE });
    await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu' });
    const ws = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-crash-'));
    await fs.writeFile(path.join(ws, 'a.ts'), 'export const a = 1;\n');
    await client.stream('workspace/open', { root: ws }).result;
    const answer = client.stream('engine/ask', { question: 'q', options: { maxNewTokens: 1_000_000 } });
    for await (const _ of answer) {
      client.child.kill('SIGKILL');
      break;
    }
    const err = await answer.result.then(
      () => assert.fail('the answer should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof EngineError);
    assert.equal(err.code, 'engine-crashed');
    assert.match(err.message, /the engine process was killed by SIGKILL; its last output:\n.*ready/s);
    await assert.rejects(client.request('engine/status', {}), { code: 'engine-crashed' });
    await fs.rm(ws, { recursive: true, force: true });
  });
});

describe('famulus CLI', () => {
  let ws: string;
  before(async () => {
    ws = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-cli-')), 'demo');
    await fs.cp(SAMPLE, ws, { recursive: true });
  });
  after(() => fs.rm(path.dirname(ws), { recursive: true, force: true }));

  it('ingest --json: reads the workspace, saves its memory under .famulus/, adds nothing else', async () => {
    const filesBefore = await listFiles(ws);
    const r = famulusJson(['ingest', ws]);
    assert.equal(r.command, 'ingest');
    assert.equal(r.root, ws);
    assert.equal(r.stateFile, path.join(ws, '.famulus/state.fams'));
    assert.equal(r.device.provider, 'cpu');
    assert.equal(r.model.dir, TINY);
    // Every file but the changelog, which is skipped by default (model/workspace/default-excludes.ts).
    assert.deepEqual(r.ingest.skipped.map((s: { path: string; reason: string }) => [s.path, s.reason]), [['CHANGELOG.md', 'default-excluded']]);
    assert.equal(r.ingest.filesIngested, filesBefore.length - 1);
    assert.ok(r.tokensIngested > 5000, `${r.tokensIngested} tokens`);
    assert.equal(r.tokensIngested, r.ingest.tokensIngested);
    assert.ok(r.tokensPerSecond.ingest > 0);
    assert.equal(r.stateBytes, r.state.stateBytes);
    assert.equal(r.stateFileBytes, (await fs.stat(r.stateFile)).size);
    assert.ok(r.timings.ingestSeconds > 0 && r.timings.totalSeconds >= r.timings.ingestSeconds);
    const added = (await listFiles(ws)).filter((f) => !filesBefore.includes(f));
    assert.ok(added.includes('.famulus/state.fams'), added.join(', '));
    const memoryFiles = Object.values(MEMORY_FILES).map((name) => `.famulus/${name}`);
    assert.deepEqual(added.filter((f) => !memoryFiles.includes(f)), [], 'only memory files were added');
  });

  it('ask --json: answers from the saved memory without reading the files again', () => {
    const r = famulusJson(['ask', ws, 'Where is `retryWithBackoff` defined?', '--max-tokens', '7']);
    assert.equal(r.ingest.filesIngested, 0);
    assert.equal(r.ingest.filesReused, 12);
    assert.ok(r.timings.stateLoadSeconds >= 0);
    const a = r.answers[0];
    assert.equal(r.answer, a.answer);
    assert.equal(a.question, 'Where is `retryWithBackoff` defined?');
    assert.equal(typeof a.answer, 'string');
    assert.ok(a.tokens <= 7);
    assert.ok(r.tokensPerSecond.answer === a.tokensPerSecond);
  });

  it('ask in text mode streams the answer to stdout and the statistics to stderr', () => {
    const r = famulus(['ask', ws, 'How are failed jobs retried?', '--max-tokens', '5', '--device', 'cpu', '--model', TINY]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.endsWith('\n'));
    assert.match(r.stderr, /\(\d+ tokens, (max-tokens|stop-token); first token after [\d.]+ s, [\d.]+ tok\/s/);
    assert.match(r.stderr, /device: cpu/);
    // A doc comment answers this one: quoted from the code, no tokens generated, its source and check printed.
    const quoted = famulus(['ask', ws, 'What does `loadConfig` do?', '--device', 'cpu', '--model', TINY]);
    assert.equal(quoted.code, 0, quoted.stderr);
    assert.match(quoted.stderr, /\(quoted from the code, [\d.]+ s\)/);
    assert.match(quoted.stdout, /^`loadConfig` \(function at src\/config\.ts:\d+\), from its doc comment: /);
    assert.match(quoted.stdout, /\nsources \(quoted from the code\): src\/config\.ts:\d+-\d+ \(loadConfig\)\nverified: src\/config\.ts:\d+ /);
  });

  it('ask with follow-ups: a later question sees the turns before it unless it names its own subject; --context is re-read first and listed', () => {
    const asked = ['How are failed jobs retried?', 'and where is that called?', 'How is `loadConfig` used?', 'Why?'];
    const r = famulusJson(['ask', ws, ...asked, '--max-tokens', '4', '--context', path.join(ws, 'src/server.ts:70-80')]);
    assert.deepEqual(r.answers.map((a: any) => a.question), asked);
    assert.deepEqual(r.answers.map((a: any) => a.grounding.historyTurns), [0, 1, 0, 3], 'the third names a definition of its own: asked alone');
    assert.ok(r.answers[1].grounding.historyTokens > 0);
    for (const a of r.answers) {
      // The context is read last; a span retrieval found next to it is merged into it.
      const { path: p, startLine, endLine, reason } = a.grounding.sources.at(-1);
      assert.ok(p === 'src/server.ts' && reason === 'context' && startLine <= 70 && endLine >= 80, JSON.stringify(a.grounding.sources.at(-1)));
    }
    const text = famulus(['ask', ws, 'q?', '--max-tokens', '1', '--context', 'nowhere/else.ts', '--device', 'cpu', '--model', TINY]);
    assert.equal(text.code, 1);
    assert.match(text.stderr, /params\.context\[0\]\.path: .*nowhere\/else\.ts is not a file inside the open workspace/);
  });

  it('a changed file makes ask read that file on top of the saved memory and save it again', async () => {
    await fs.appendFile(path.join(ws, 'src/config.ts'), '// changed\n');
    const r = famulusJson(['ask', ws, 'q?', '--max-tokens', '2']);
    assert.equal(r.ingest.filesReused, 11);
    assert.equal(r.ingest.filesIngested, 1);
    assert.ok(r.timings.saveSeconds > 0);
  });

  it('summarize --json: finds the workspace with the saved memory above the file', () => {
    const r = famulusJson(['summarize', path.join(ws, 'src/queue.ts'), '--max-tokens', '4']);
    assert.equal(r.root, ws);
    assert.equal(r.ingest.filesReused, 12);
    assert.equal(r.answers[0].path, 'src/queue.ts');
    assert.equal(r.answers[0].question, 'Summarize src/queue.ts');
  });

  it('status --json: the saved memory of the folder', () => {
    const r = famulusJson(['status', ws]);
    assert.equal(r.state.root, ws);
    assert.equal(r.state.files, 12);
    assert.equal(r.tokensIngested, r.state.tokens);
  });

  it('EXPECTED FAILURE - a damaged saved memory is reported and the workspace is read again', async () => {
    const stateFile = path.join(ws, '.famulus/state.fams');
    const bytes = await fs.readFile(stateFile);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0xff;
    await fs.writeFile(stateFile, bytes);
    const r = famulusJson(['ask', ws, 'q?', '--max-tokens', '2']);
    assert.ok(r.notes.some((n: string) => n.startsWith(`the saved memory in ${stateFile} cannot be used: `)), r.notes.join('\n'));
    assert.equal(r.ingest.filesIngested, 12);
    assert.equal(famulusJson(['status', ws]).state.files, 12, 'the memory was saved again, whole');
  });

  it('--memory <dir> keeps the memory there: nothing is added to the workspace, and the next run restores it', async () => {
    const memory = path.join(path.dirname(ws), 'elsewhere');
    const filesBefore = await listFiles(ws);
    const r = famulusJson(['ingest', ws, '--memory', memory]);
    assert.equal(r.stateFile, path.join(memory, MEMORY_FILES.state));
    assert.equal(r.ingest.filesIngested, 12, 'nothing was saved there yet');
    assert.deepEqual(await listFiles(ws), filesBefore);
    assert.ok((await listFiles(memory)).includes(MEMORY_FILES.state));
    const a = famulusJson(['ask', ws, 'q?', '--max-tokens', '2', '--memory', memory]);
    assert.equal(a.ingest.filesIngested, 0);
    assert.equal(a.ingest.filesReused, 12);
    assert.equal(a.stateFile, r.stateFile);
  });

  it('summarize --memory <dir> finds the workspace that memory holds, and never reads another folder over it', async () => {
    const memory = path.join(path.dirname(ws), 'elsewhere');
    const saved = await fs.readFile(path.join(memory, MEMORY_FILES.state));
    // A file deep inside the workspace: the memory's folder is found above it, and nothing is read again.
    const r = famulusJson(['summarize', path.join(ws, 'src/queue.ts'), '--max-tokens', '2', '--memory', memory]);
    assert.equal(r.root, ws);
    assert.equal(r.ingest.filesIngested, 0);
    // A file outside it: refused, and the saved memory is the same to the byte.
    const outside = path.join(path.dirname(ws), 'outside.txt');
    await fs.writeFile(outside, 'x\n');
    const bad = famulus(['summarize', outside, '--memory', memory, '--device', 'cpu', '--model', TINY]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /does not hold the memory of a folder containing .*outside\.txt .*holds the memory of /);
    assert.deepEqual(await fs.readFile(path.join(memory, MEMORY_FILES.state)), saved);
  });

  it('Ctrl-C during ingest stops at a block boundary, saves the files completed, and the next run continues', async () => {
    const big = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-sigint-'));
    try {
      for (let f = 0; f < 30; f++) {
        const lines = Array.from({ length: 400 }, (_, i) => `export const v${f}_${i} = ${(f * 7919 + i) % 997}; // ${f}:${i}`);
        await fs.writeFile(path.join(big, `m${String(f).padStart(2, '0')}.ts`), `${lines.join('\n')}\n`);
      }
      // Its own process group, so that the signal reaches the CLI and its engine, as Ctrl-C in a terminal does.
      const child = spawn(process.execPath, [CLI, 'ingest', big, '--device', 'cpu', '--model', TINY], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (t: string) => {
        if (!stderr.includes('walked') && (stderr + t).includes('walked')) setTimeout(() => process.kill(-child.pid!, 'SIGINT'), 300);
        stderr += t;
      });
      const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
      assert.equal(code, 130, stderr);
      const stopped = /stopped after (\d+) files; they are saved in (.+), run again to continue/.exec(stderr);
      assert.ok(stopped, stderr);
      const done = Number(stopped[1]);
      assert.ok(done < 30, `${done} files read before the interrupt`);
      assert.equal(stopped[2], path.join(big, '.famulus'));

      const status = famulusJson(['status', big]);
      assert.equal(status.state.files, done);
      const resumed = famulusJson(['ingest', big]);
      assert.equal(resumed.ingest.filesReused, done);
      assert.equal(resumed.ingest.filesIngested, 30 - done);
      assert.equal(resumed.state.files, 30);
    } finally {
      await fs.rm(big, { recursive: true, force: true });
    }
  });

  it('BAD CALL - wrong arguments exit 1 with a clear message', () => {
    const cases: Array<[string[], RegExp, NodeJS.ProcessEnv?]> = [
      [['ask', ws], /ask takes <dir> "<question>" \["<follow-up>" \.\.\.\], got 1 argument/],
      [['ingest', '/nonexistent/folder'], /no such folder: \/nonexistent\/folder/],
      [['summarize', path.join(ws, 'nope.ts')], /no such file: .*nope\.ts/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['ingest', ws, '--device', 'gpu'], /--device must be auto, cpu or webgpu, got "gpu"/],
      [['ingest', ws], /FAMULUS_DEVICE must be auto, cpu or webgpu, got "tpu"/, { FAMULUS_DEVICE: 'tpu' }],
      [['ask', ws, 'q', '--top-p', '1.5'], /--top-p must be a number in \(0, 1\], got "1\.5"/],
      [['ask', ws, 'q', '--max-tokens', 'many'], /--max-tokens must be a whole number/],
      [['ask', ws, 'q', '--context', 'a.ts:9-3'], /--context a\.ts:9-3: lines must be 1 or more, the end not before the start/],
      [['ask', ws, 'q', ''], /a question is empty/],
      [['status', '--nope'], /Unknown option '--nope'/],
    ];
    for (const [args, message, env] of cases) {
      const r = famulus(args, env);
      assert.equal(r.code, 1, `famulus ${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    }
  });

  it('EXPECTED FAILURE - a model folder without a model exits 1 naming it', () => {
    const r = famulus(['status', ws, '--model', ws, '--device', 'cpu']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no config\.json/);
  });

  it('--help prints the usage and exits 0', () => {
    const r = famulus(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /famulus ask <dir> "<question>"/);
  });
});

describe('npm start', () => {
  it('the demo (no arguments) runs end to end, says which model it used, and exits 0', async () => {
    const sampleBefore = await listFiles(SAMPLE);
    const r = famulus([]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Famulus demo: reading samples\/demo-workspace/);
    assert.match(r.stdout, /model: {2}.+ \(id [0-9a-f]{12};/);
    assert.match(r.stdout, /read 12 files, [\d,]+ tokens in [\d.]+ s \([\d,]+ tok\/s\)/);
    assert.match(r.stdout, /Q: Where is `retryWithBackoff` defined\?\nA: /);
    assert.match(r.stdout, /Q: What does `summarize_runs` do\?\nA: /);
    assert.match(r.stdout, /Summary of src\/queue\.ts:/);
    const summary = /\ndevice (cpu|webgpu) \(.+\); [\d,]+ tokens read at [\d,]+ tok\/s; (?:(\d+) answer\(s\) generated at [\d.]+ tok\/s)?(?:, )?(?:(\d+) quoted from the code)?; working memory [\d.]+ [KM]B/.exec(r.stdout);
    assert.ok(summary, r.stdout);
    assert.equal(Number(summary[2] ?? 0) + Number(summary[3] ?? 0), 3, 'two answers and a summary, each generated or quoted');
    assert.match(r.stdout, /memory saved: [\d.]+ [KM]?B in [\d.]+ s/);
    assert.match(r.stdout, /timings: model load [\d.]+ s, read [\d.]+ s, save [\d.]+ s/);
    assert.deepEqual(await listFiles(SAMPLE), sampleBefore, 'the demo adds nothing to the sample');
  });
});
