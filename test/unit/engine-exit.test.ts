/**
 * The engine never outlives its client. When the client goes away in the middle of the work (its window
 * killed, the extension host crashed), the engine process (dist/engine.js, tiny model) sees its stdin end or
 * its stdout fail, cancels what it was doing and exits within seconds, without writing about the broken pipe
 * to the broken pipe (which once made it spin at a full core, for hours). Needs `npm run build`.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EngineProcess } from '../../model/engine/client';
import { tempDir, tinyEngine } from '../reliability/helpers';

/** Gone within this long after the client went away (the engine allows itself 2 s to stop its work). */
const EXIT_WITHIN_MS = 5000;
/** A few lines say why the engine stops; a loop of failed writes would write thousands. */
const MAX_LOG_LINES_AFTER = 20;

/** Files enough that reading them takes far longer than the test waits. */
async function bigWorkspace(files: number): Promise<string> {
  const root = await tempDir('exit-big');
  const text = Array.from({ length: 60 }, (_, i) => `export const item${i} = computeSomething(${i}, "${'x'.repeat(20)}");`).join('\n');
  await Promise.all(Array.from({ length: files }, (_, i) => fs.writeFile(path.join(root, `m${String(i).padStart(5, '0')}.ts`), `// module ${i}\n${text}\n`)));
  return root;
}

/** An engine with its stderr kept, and the time from `leave()` (the client going away) to its exit. */
async function engineWithLog(): Promise<{ engine: EngineProcess; log: () => string }> {
  let log = '';
  const engine = await tinyEngine({}, (text) => (log += text));
  return { engine, log: () => log };
}

async function exitAfter(engine: EngineProcess, log: () => string, leave: () => void): Promise<{ ms: number; linesAfter: number; code: number | null }> {
  const child = engine.child;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const logBefore = log().length;
  const started = Date.now();
  leave();
  const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS + 5000);
  const code = await exited;
  clearTimeout(timer);
  const ms = Date.now() - started;
  const linesAfter = log().slice(logBefore).split('\n').filter(Boolean).length;
  return { ms, linesAfter, code };
}

/** What a client that dies does to the engine's pipes. */
function leaveEntirely(engine: EngineProcess): void {
  engine.child.stdin!.destroy();
  engine.child.stdout!.destroy();
}

/** Starts `workspace/open` of `root` and resolves once a few files have been read. */
async function startReading(engine: EngineProcess, root: string, memoryDir: string): Promise<void> {
  const stream = engine.stream('workspace/open', { root, memoryDir, mode: 'fresh' });
  for await (const chunk of stream) {
    if (chunk.kind === 'progress' && chunk.filesDone >= 3) return;
  }
  assert.fail(`the read ended before the test could interrupt it: ${JSON.stringify(await stream.result)}`);
}

describe('the engine exits when its client goes away', () => {
  let big: string;
  const dirs: string[] = [];

  before(async () => {
    big = await bigWorkspace(3000);
    dirs.push(big);
  });

  after(async () => {
    for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, (engine: EngineProcess) => void]> = [
    ['the client dies mid-read (stdin and stdout both gone)', leaveEntirely],
    ['stdin ends mid-read while stdout stays open', (e) => e.child.stdin!.end()],
    ['stdout is closed mid-read while stdin stays open (writes fail with EPIPE)', (e) => e.child.stdout!.destroy()],
  ];
  for (const [name, leave] of cases) {
    it(`EXPECTED FAILURE - ${name}`, async () => {
      const memoryDir = await tempDir('exit-memory');
      dirs.push(memoryDir);
      const { engine, log } = await engineWithLog();
      await startReading(engine, big, memoryDir);
      const { ms, linesAfter, code } = await exitAfter(engine, log, () => leave(engine));
      assert.ok(ms < EXIT_WITHIN_MS, `exited after ${ms} ms; log:\n${log().slice(-2000)}`);
      assert.equal(code, 0, `exit code; log:\n${log().slice(-2000)}`);
      assert.ok(linesAfter <= MAX_LOG_LINES_AFTER, `${linesAfter} log lines after the client left:\n${log().slice(-2000)}`);
    });
  }

  it('EXPECTED FAILURE - the client dies mid-answer', async () => {
    const small = await tempDir('exit-small');
    dirs.push(small);
    await fs.writeFile(path.join(small, 'a.ts'), 'export const answer = 42;\n');
    const { engine, log } = await engineWithLog();
    await engine.stream('workspace/open', { root: small }).result;
    const stream = engine.stream('engine/ask', { question: 'Tell me everything.', options: { maxNewTokens: 1 << 20 } });
    assert.equal((await stream[Symbol.asyncIterator]().next()).done, false, 'the answer has started');
    const { ms, linesAfter } = await exitAfter(engine, log, () => leaveEntirely(engine));
    assert.ok(ms < EXIT_WITHIN_MS, `exited after ${ms} ms`);
    assert.ok(linesAfter <= MAX_LOG_LINES_AFTER, `${linesAfter} log lines after the client left`);
  });

  it('an engine stopped mid-read saves what it had read, intact: the next engine restores it', async () => {
    const memoryDir = await tempDir('exit-restore');
    dirs.push(memoryDir);
    const first = await engineWithLog();
    await startReading(first.engine, big, memoryDir);
    await exitAfter(first.engine, first.log, () => first.engine.child.stdin!.end());
    const second = await tinyEngine();
    try {
      const restored = await second.stream('workspace/open', { root: big, memoryDir, mode: 'restore' }).result;
      assert.equal(restored.restoreProblem, null);
      assert.notEqual(restored.restored, null, 'restored');
      assert.ok(restored.state && restored.state.files >= 3, `files in the restored memory: ${JSON.stringify(restored.state)}`);
    } finally {
      await second.shutdown();
    }
  });
});
