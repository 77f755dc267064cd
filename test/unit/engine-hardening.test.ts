/**
 * Issue 22, items 3, 5 and 6, on the engine process itself (dist/engine.js over its stdio), for every client:
 * - what it reads is bounded: a header that never ends and a message over the size limit are skipped in one
 *   pass, reported, and the next request is answered;
 * - onnxruntime leaves no /tmp/mat-debug-<pid>.log and no telemetry cache behind an engine;
 * - workspace/open refuses the filesystem root and the home folder unless the client allows it;
 * - a save that fails keeps the memory read, says why, and questions are answered from it.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs, readdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MAX_REQUEST_BYTES } from '../../model/engine/messenger';
import { REPO, code, openWorkspace, rawEngine, rssOf, statusFrame, tempDir, tinyEngine, writeFigures } from '../reliability/helpers';
import { rejection } from './engine-errors';

before(() => {
  execFileSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO, stdio: 'inherit' });
});

/** `p`, or a rejection once `ms` have passed (an engine without the refusal walks `/` for minutes). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);
}

describe('the engine reads bounded messages', () => {
  it('EXPECTED FAILURE - 32 MB of header without an end is skipped in one pass and reported; the next request is answered at once', async () => {
    const engine = rawEngine();
    try {
      engine.child.stdin.write(statusFrame(1));
      assert.ok(await engine.responded(1, 10_000), 'the engine started');
      const t = performance.now();
      await engine.pour(32 * 1024 * 1024);
      engine.child.stdin.write(`\r\n\r\n${statusFrame(2)}`);
      assert.ok(await engine.responded(2, 5_000), `no answer within 5 s after the header (${engine.log().slice(-300)})`);
      const seconds = (performance.now() - t) / 1000;
      assert.match(engine.log(), /unreadable message: a message header longer than 8192 bytes was skipped/);
      await writeFigures('engine-hardening', { headerWithoutEnd32MBSeconds: seconds });
    } finally {
      engine.child.kill('SIGKILL');
    }
  });

  it('EXPECTED FAILURE - a message over the size limit is skipped without being held, and the next request is answered', async () => {
    const engine = rawEngine();
    try {
      engine.child.stdin.write(statusFrame(1));
      assert.ok(await engine.responded(1, 10_000));
      const rssBefore = rssOf(engine.child.pid!);
      const bytes = 16 * MAX_REQUEST_BYTES;
      const t = performance.now();
      engine.child.stdin.write(`Content-Length: ${bytes}\r\n\r\n`);
      await engine.pour(bytes, 0x20);
      engine.child.stdin.write(statusFrame(2));
      assert.ok(await engine.responded(2, 5_000), engine.log().slice(-300));
      const seconds = (performance.now() - t) / 1000;
      const grewMB = (rssOf(engine.child.pid!) - rssBefore) / 1024 / 1024;
      assert.match(engine.log(), new RegExp(`a message of ${bytes} bytes was skipped: the limit is ${MAX_REQUEST_BYTES} bytes`));
      assert.ok(grewMB < 96, `RSS grew by ${grewMB.toFixed(0)} MB while ${bytes / 1024 / 1024} MB went by`);
      await writeFigures('engine-hardening', { oversizeMessageMB: bytes / 1024 / 1024, oversizeMessageSeconds: seconds, oversizeMessageRssGrowthMB: grewMB });
    } finally {
      engine.child.kill('SIGKILL');
    }
  });
});

describe('onnxruntime leaves nothing behind', () => {
  it('EXPECTED FAILURE - no /tmp/mat-debug-<pid>.log and no telemetry cache after an engine reads and answers', async () => {
    const dir = await tempDir('mat-debug');
    const logs = () => new Set(readdirSync(os.tmpdir()).filter((n) => n.startsWith('mat-debug-')));
    const before = logs();
    const cache = path.join(dir, 'cache');
    const engine = await tinyEngine({ XDG_CACHE_HOME: cache, HOME: dir });
    try {
      const ws = path.join(dir, 'ws');
      await fs.mkdir(ws);
      await fs.writeFile(path.join(ws, 'a.ts'), code(1, 20));
      await openWorkspace(engine, ws);
      const stream = engine.stream('engine/ask', { question: 'What is v1_0?', options: { maxNewTokens: 2 } });
      for await (const _ of stream);
      await stream.result;
      assert.equal(existsSync(path.join(os.tmpdir(), `mat-debug-${engine.child.pid}.log`)), false, 'the engine wrote its mat-debug log');
      await engine.shutdown();
      // Other processes on the machine (an older build, another suite) may add theirs meanwhile; this engine none.
      const added = [...logs()].filter((n) => !before.has(n));
      assert.ok(!added.includes(`mat-debug-${engine.child.pid}.log`), `new logs: ${added.join(', ')}`);
      assert.equal(existsSync(path.join(cache, 'Microsoft')), false, 'a telemetry cache was made');
    } finally {
      await engine.shutdown();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('workspace/open and the memory it cannot save', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('engine-hard');
  });
  after(() => fs.rm(dir, { recursive: true, force: true }));

  it('EXPECTED FAILURE - refuses to read / and the home folder unless allowBroadRoot; an update after a restore too', async () => {
    const home = path.join(dir, 'home', 'user');
    await fs.mkdir(home, { recursive: true });
    await fs.writeFile(path.join(home, 'notes.md'), '# notes\n');
    const engine = await tinyEngine({ HOME: home });
    try {
      const root = await rejection(within(engine.stream('workspace/open', { root: '/' }).result, 10_000), 'invalid-request');
      assert.equal(root.message, '/ is the filesystem root: reading it would read every file in it. Open a project folder instead.');
      await rejection(engine.stream('workspace/open', { root: home }).result, 'invalid-request');
      await rejection(engine.stream('workspace/open', { root: path.dirname(home) }).result, 'invalid-request');
      // Restoring reads nothing, so it is allowed; an update after it would read, so it is refused.
      const restored = await openWorkspace(engine, home, { mode: 'restore' });
      assert.equal(restored.result.state, null);
      await rejection(engine.stream('workspace/update', {}).result, 'invalid-request');
      const forced = await openWorkspace(engine, home, { allowBroadRoot: true });
      assert.equal(forced.result.state?.files, 1);
    } finally {
      await engine.shutdown(1000);
    }
  });

  it('EXPECTED FAILURE - a memory that cannot be saved is held all the same: saveProblem says why, questions are answered', async () => {
    const ws = path.join(dir, 'ws');
    await fs.mkdir(ws);
    await fs.writeFile(path.join(ws, 'a.ts'), code(2, 30));
    const notAFolder = path.join(dir, 'a-file');
    await fs.writeFile(notAFolder, 'x\n');
    const engine = await tinyEngine();
    try {
      const { result } = await openWorkspace(engine, ws, { memoryDir: path.join(notAFolder, 'memory') });
      assert.equal(result.saved, null);
      assert.match(result.saveProblem ?? '', /^cannot save the memory to .*a-file\/memory\/state\.fams: ENOTDIR/);
      assert.equal(result.state?.files, 1);
      const answer = engine.stream('engine/ask', { question: 'What is v2_3?', options: { maxNewTokens: 2 } });
      for await (const _ of answer);
      assert.equal((await answer.result).cancelled, false);
    } finally {
      await engine.shutdown();
    }
  });
});
