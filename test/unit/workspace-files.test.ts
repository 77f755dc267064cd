/**
 * What reading says, through the engine's protocol (in-process messenger, tiny model, CPU): progress that moves
 * within a big file, `workspace/files` (each file with its tokens, the last walk's skips, kept with the saved
 * memory), `index/suggest` (an example question from the workspace's own definitions), and a refresh that
 * finds nothing changed.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nothingChanged } from '../../extension/memory-view';
import { EngineClient, type EngineStream } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair } from '../../model/engine/messenger';
import { MAX_SKIPPED_KEPT, type ReadChunk } from '../../model/engine/protocol';
import { rejection } from './engine-errors';

const TINY = path.resolve(__dirname, '../fixtures/tiny');

async function tinyClient(): Promise<EngineClient> {
  const [clientEnd, engineEnd] = createInProcessPair();
  serveEngine(engineEnd, new Engine().handlers);
  const client = new EngineClient(clientEnd);
  await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
  return client;
}

async function workspace(files: Record<string, string>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-files-'));
  for (const [rel, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), text);
  }
  return root;
}

async function drain<C, F>(stream: EngineStream<C, F>): Promise<{ chunks: C[]; result: F }> {
  const chunks: C[] = [];
  for await (const c of stream) chunks.push(c);
  return { chunks, result: await stream.result };
}

type Progress = Extract<ReadChunk, { kind: 'progress' }>;
const progressChunks = (chunks: ReadChunk[]): Progress[] => chunks.filter((c): c is Progress => c.kind === 'progress');

/** Lines of code, different for each seed. */
const code = (seed: number, lines: number) =>
  Array.from({ length: lines }, (_, i) => `export const value${seed}_${i} = ${(seed * 31 + i * 7) % 1000}; // line ${i}`).join('\n') + '\n';

describe('reading: progress by bytes', () => {
  let client: EngineClient;
  let root: string;
  before(async () => {
    client = await tinyClient();
    // One big file first (as History.md was in express): its bytes must move while it is read.
    root = await workspace({ 'A-big.md': code(1, 3000), 'b.ts': code(2, 20), 'c.ts': code(3, 20) });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('says at once that reading started, then moves the bytes within a big file before it is done', async () => {
    const { chunks } = await drain(client.stream('workspace/open', { root }));
    const progress = progressChunks(chunks);
    const bigBytes = (await fs.stat(path.join(root, 'A-big.md'))).size;
    const totalBytes = bigBytes + (await fs.stat(path.join(root, 'b.ts'))).size + (await fs.stat(path.join(root, 'c.ts'))).size;
    assert.equal(chunks[0]!.kind, 'walked');
    assert.deepEqual(
      { ...progress[0]!, tokensPerSecond: 0 },
      { kind: 'progress', filesDone: 0, filesTotal: 3, bytesDone: 0, bytesTotal: totalBytes, currentFile: 'A-big.md', tokensDone: 0, tokensPerSecond: 0 },
    );
    const within = progress.filter((p) => p.filesDone === 0 && p.bytesDone > 0);
    assert.ok(within.length >= 2, `${within.length} progress chunks moved within the big file: ${JSON.stringify(progress.map((p) => p.bytesDone))}`);
    for (const p of within) assert.ok(p.bytesDone < bigBytes && p.tokensDone > 0);
    const bytes = progress.map((p) => p.bytesDone);
    assert.deepEqual(bytes, [...bytes].sort((a, b) => a - b), 'the bytes never go back');
    const last = progress[progress.length - 1]!;
    assert.equal(last.bytesDone, last.bytesTotal);
    assert.equal(last.filesDone, 3);
  });
});

describe('reading: workspace/files', () => {
  let client: EngineClient;
  let root: string;
  let memoryDir: string;
  before(async () => {
    client = await tinyClient();
    root = await workspace({
      'CHANGELOG.md': '# Changes\n',
      'yarn.lock': '# lock\n',
      'dist/app.min.js': 'var a=1;\n',
      'src/queue.ts': code(4, 30),
      'src/util.ts': code(5, 10),
      'README.md': '# Queue\n',
    });
    memoryDir = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-files-memory-'));
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
    await fs.rm(memoryDir, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE: before any workspace is open, and with params it does not take', async () => {
    await rejection(client.request('workspace/files', {}), 'no-state');
    const bad = await rejection(client.request('workspace/files', { limit: 3 } as never), 'invalid-request');
    assert.match(bad.message, /workspace\/files: params\.limit/);
  });

  it('lists each file in memory with the tokens it took, and what the walk skipped, with why', async () => {
    const { result } = await drain(client.stream('workspace/open', { root, memoryDir }));
    const files = await client.request('workspace/files', {});
    assert.equal(files.root, root);
    assert.deepEqual(files.files.map((f) => f.path), ['README.md', 'src/queue.ts', 'src/util.ts']);
    assert.equal(files.files.reduce((n, f) => n + f.tokens, 0), result.state!.tokens, 'the tokens add up to the memory');
    for (const f of files.files) assert.equal(f.bytes, (await fs.stat(path.join(root, f.path))).size);
    assert.deepEqual(
      files.skipped.map((s) => [s.path, s.reason]),
      [
        ['CHANGELOG.md', 'default-excluded'],
        ['dist/app.min.js', 'default-excluded'],
        ['yarn.lock', 'default-excluded'],
      ],
    );
    assert.equal(files.skippedTotal, 3);
    assert.ok(files.walkedAt && files.walkedAt <= new Date().toISOString());
    assert.equal(files.lastUpdate, result.state!.lastUpdate);
  });

  it('keeps the skips with the saved memory: a new engine lists them after a restore, without a walk', async () => {
    const second = await tinyClient();
    const { chunks } = await drain(second.stream('workspace/open', { root, memoryDir, mode: 'restore' }));
    assert.deepEqual(chunks.map((c) => c.kind), ['restored']);
    const files = await second.request('workspace/files', {});
    assert.deepEqual(files.skipped.map((s) => s.path), ['CHANGELOG.md', 'dist/app.min.js', 'yarn.lock']);
    assert.equal(files.files.length, 3);
  });

  it('a refresh with nothing changed reads nothing, keeps the time of the last update, and says so', async () => {
    const before = await client.request('workspace/files', {});
    const { result } = await drain(client.stream('workspace/update', {}));
    assert.equal(result.read!.filesIngested, 0);
    assert.equal(result.saved, null, 'nothing to save');
    assert.equal(result.state!.lastUpdate, before.lastUpdate);
    assert.equal(nothingChanged(result), true);
    // One file changed: not "nothing changed".
    await fs.appendFile(path.join(root, 'src/util.ts'), 'export const more = 1;\n');
    const { result: changed } = await drain(client.stream('workspace/update', {}));
    assert.equal(changed.read!.filesIngested, 1);
    assert.equal(nothingChanged(changed), false);
    // The latest reading of a file read twice is listed once.
    const after = await client.request('workspace/files', {});
    assert.deepEqual(after.files.map((f) => f.path), ['README.md', 'src/queue.ts', 'src/util.ts']);
    // A file deleted is a change too (it leaves the index), though nothing is read.
    await fs.rm(path.join(root, 'README.md'));
    const { result: deleted } = await drain(client.stream('workspace/update', {}));
    assert.equal(deleted.read!.filesIngested, 0);
    assert.equal(nothingChanged(deleted), false);
  });

  it('keeps at most MAX_SKIPPED_KEPT skips, and counts them all', async () => {
    const many = await workspace(Object.fromEntries(Array.from({ length: MAX_SKIPPED_KEPT + 5 }, (_, i) => [`locks/${String(i).padStart(5, '0')}/yarn.lock`, '#\n']).concat([['a.ts', 'a\n']])));
    try {
      await drain(client.stream('workspace/open', { root: many }));
      const files = await client.request('workspace/files', {});
      assert.equal(files.skipped.length, MAX_SKIPPED_KEPT);
      assert.equal(files.skippedTotal, MAX_SKIPPED_KEPT + 5);
    } finally {
      await fs.rm(many, { recursive: true, force: true });
    }
  });
});

describe('reading: index/suggest', () => {
  let client: EngineClient;
  let root: string;
  before(async () => {
    client = await tinyClient();
    root = await workspace({
      'index.js': "module.exports = require('./lib/queue-kit');\n",
      'lib/queue-kit.js': [
        '/** Makes a queue. */',
        'function createQueue(options) {',
        '  return { items: [], options };',
        '}',
        'function drain(q) {',
        '  q.items.length = 0;',
        '}',
        'module.exports = createQueue;',
      ].join('\n'),
      'lib/internal/helpers.js': 'function formatTimestamp(t) {\n  return String(t);\n}\nmodule.exports = { formatTimestamp };\n',
      'test/queue.test.js': 'function makeTestQueue() {\n  return null;\n}\n',
      'examples/basic.js': 'function runExampleServer() {}\n',
    });
  });
  after(() => fs.rm(root, { recursive: true, force: true }));

  it('EXPECTED FAILURE: before a workspace is read, and with a limit out of range', async () => {
    await rejection(client.request('index/suggest', {}), 'no-state');
    await drain(client.stream('workspace/open', { root }));
    const bad = await rejection(client.request('index/suggest', { limit: 0 }), 'invalid-request');
    assert.match(bad.message, /index\/suggest: params\.limit/);
  });

  it("asks where the workspace's main definition is, from its own code, never from tests or examples", async () => {
    const { suggestions } = await client.request('index/suggest', {});
    assert.deepEqual(
      suggestions.map((s) => [s.question, `${s.definition.path}:${s.definition.startLine}`]),
      [
        ['Where is `createQueue` defined?', 'lib/queue-kit.js:2'],
        ['Where is `formatTimestamp` defined?', 'lib/internal/helpers.js:1'],
        ['Where is `drain` defined?', 'lib/queue-kit.js:5'],
      ],
    );
    const one = await client.request('index/suggest', { limit: 1 });
    assert.equal(one.suggestions.length, 1);
  });
});
