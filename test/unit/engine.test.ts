/**
 * The engine through the protocol, over the in-process messenger: the same messages, checks and replies as
 * over stdio, with the tiny test model on the CPU. The workspace session (model/engine/session.ts) is tested
 * here through its four messages: workspace/open (restore, read, save), workspace/update, workspace/forget and
 * workspace/status.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineClient, type EngineStream } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair, type Messenger } from '../../model/engine/messenger';
import { fileChunkTokens } from '../../model/engine/prompt';
import { MEMORY_FILES, type AnswerResult, type EngineStatus, type OpenRequest, type ReadChunk, type UpdateRequest, type WorkspaceStatus } from '../../model/engine/protocol';
import { loadModelDir } from '../../model/loader';
import { readStateFile } from '../../model/state';
import { rejection } from './engine-errors';

const TINY = path.resolve(__dirname, '../fixtures/tiny');

function connect(): { client: EngineClient; engine: Engine; raw: Messenger } {
  const [clientEnd, engineEnd] = createInProcessPair();
  const engine = new Engine();
  serveEngine(engineEnd, engine.handlers);
  return { client: new EngineClient(clientEnd), engine, raw: clientEnd };
}

/** A second engine with the tiny model (a new process would start like this). */
async function tinyEngine(): Promise<{ client: EngineClient; engine: Engine }> {
  const second = connect();
  await second.client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
  return second;
}

/** Makes a folder from { path: text }. */
async function workspace(files: Record<string, string>): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-engine-'));
  for (const [rel, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await fs.writeFile(path.join(root, rel), text);
  }
  return root;
}

/** Text of `n` lines of plausible code, different for each seed. */
function code(seed: number, lines: number): string {
  return Array.from({ length: lines }, (_, i) => `export const value${seed}_${i} = ${(seed * 31 + i * 7) % 1000}; // line ${i}`).join('\n') + '\n';
}

async function drain<C, F>(stream: EngineStream<C, F>): Promise<{ chunks: C[]; result: F }> {
  const chunks: C[] = [];
  for await (const c of stream) chunks.push(c);
  return { chunks, result: await stream.result };
}

const open = (client: EngineClient, root: string, req: Omit<OpenRequest, 'root'> = {}) => drain(client.stream('workspace/open', { root, ...req }));
const update = (client: EngineClient, req: UpdateRequest = {}) => drain(client.stream('workspace/update', req));

async function askAll(client: EngineClient, question: string, maxNewTokens = 12): Promise<{ deltas: string[]; text: string; result: AnswerResult }> {
  const { chunks, result } = await drain(client.stream('engine/ask', { question, options: { maxNewTokens } }));
  const deltas = chunks.map((d) => d.text);
  return { deltas, text: deltas.join(''), result };
}

/** The memory files (MEMORY_FILES) present in a memory folder, as absolute paths. */
async function savedFiles(memoryDir: string): Promise<string[]> {
  const present: string[] = [];
  for (const name of Object.values(MEMORY_FILES)) {
    const file = path.join(memoryDir, name);
    if (await fs.stat(file).then(() => true, () => false)) present.push(file);
  }
  return present.sort();
}

async function savedBytes(memoryDir: string): Promise<number> {
  let bytes = 0;
  for (const file of await savedFiles(memoryDir)) bytes += (await fs.stat(file)).size;
  return bytes;
}

/** What a saved state says it has read: its folder and its files, in stream order. */
async function savedManifest(memoryDir: string, modelId?: string): Promise<{ root: string; files: string[] }> {
  const snap = await readStateFile(path.join(memoryDir, MEMORY_FILES.state), modelId);
  const manifest = snap.meta['famulus.workspace'] as { root: string; files: Array<{ path: string }> };
  return { root: manifest.root, files: manifest.files.map((f) => f.path) };
}

const progressOf = (c: ReadChunk): Extract<ReadChunk, { kind: 'progress' }> | null => (c.kind === 'progress' ? c : null);

describe('engine: before a model is loaded', () => {
  it('answers status with no model and no state, and workspace/status with no workspace', async () => {
    const { client, engine } = connect();
    const status = await client.request('engine/status', {});
    assert.equal(status.protocolVersion, 1);
    assert.equal(status.model, null);
    assert.equal(status.state, null);
    assert.equal(status.busy, null);
    assert.deepEqual(await client.request('workspace/status', {}), { root: null, memoryDir: null, state: null, savedBytes: null });
    client.close();
    await engine.dispose();
  });

  it('EXPECTED FAILURE - ask and open say a model must be loaded first; update and forget that a workspace must be open', async () => {
    const { client, engine } = connect();
    const err = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-model');
    assert.match(err.message, /send engine\/loadModel first/);
    await rejection(client.stream('workspace/open', { root: os.tmpdir() }).result, 'no-model');
    const noWorkspace = await rejection(client.stream('workspace/update', {}).result, 'no-state');
    assert.match(noWorkspace.message, /send workspace\/open first/);
    await rejection(client.request('workspace/forget', {}), 'no-state');
    client.close();
    await engine.dispose();
  });

  it('EXPECTED FAILURE - a missing model folder is a model-error naming the folder', async () => {
    const { client, engine } = connect();
    const err = await rejection(client.request('engine/loadModel', { modelDir: '/nonexistent/model', device: 'cpu' }), 'model-error');
    assert.match(err.message, /\/nonexistent\/model/);
    client.close();
    await engine.dispose();
  });

});

describe('engine: with the tiny model', () => {
  let client: EngineClient;
  let engine: Engine;
  let root: string;
  let memoryDir: string;
  let modelId: string;
  const files: Record<string, string> = {
    'README.md': '# demo\n\nA tiny project.\n',
    'src/a.ts': code(1, 40),
    'src/b.ts': code(2, 40),
    'src/c.ts': code(3, 40),
    'notes.txt': 'remember the milk\n\n\n',
  };
  let fullTokens: number;
  let reference: string;
  /** What the reference answer re-read: a restored memory that answers otherwise says where it went apart. */
  let referenceGrounding: AnswerResult['grounding'];
  const assertReferenceAnswer = async (): Promise<void> => {
    const again = await askAll(client, 'Where is `value2_3` defined?');
    const seen = (g: AnswerResult['grounding']) => JSON.stringify({ rereadTokens: g.rereadTokens, sources: g.sources });
    assert.equal(again.text, reference, `the answer differs; re-read ${seen(again.result.grounding)}, reference ${seen(referenceGrounding)}`);
  };
  /** Folders made by the tests, removed at the end. */
  const cleanup: string[] = [];
  const tempDir = async (name: string): Promise<string> => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), `famulus-engine-${name}-`));
    cleanup.push(dir);
    return dir;
  };

  before(async () => {
    ({ client, engine } = connect());
    root = await workspace(files);
    cleanup.push(root);
    const loaded = await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
    assert.equal(loaded.device.provider, 'cpu');
    assert.equal(loaded.model.blockSize, 16);
    modelId = loaded.model.modelId;
    // What the prompt layout makes of these files, computed independently of the engine.
    const { tokenizer } = await loadModelDir(TINY);
    fullTokens = Object.keys(files)
      .sort()
      .reduce((n, p) => n + fileChunkTokens(tokenizer, p, files[p]!).length, 0);
  });
  after(async () => {
    client.close();
    await engine.dispose();
    for (const dir of cleanup) await fs.rm(dir, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE - ask before a workspace is open, or before anything of it was read, says to read it first', async () => {
    const closed = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-state');
    assert.match(closed.message, /send workspace\/open first/);
    // 'restore' with no memory folder: nothing to restore, and nothing is read.
    const { chunks, result } = await open(client, root, { mode: 'restore' });
    assert.deepEqual(chunks, []);
    assert.deepEqual(
      { restored: result.restored, restoreProblem: result.restoreProblem, read: result.read, saved: result.saved, cancelled: result.cancelled, state: result.state },
      { restored: null, restoreProblem: null, read: null, saved: null, cancelled: false, state: null },
    );
    const empty = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-state');
    assert.match(empty.message, /read it first \(workspace\/open\)/);
  });

  it('opens: reports the walk, then progress, and the memory holds every token of every file', async () => {
    const { chunks, result } = await open(client, root);
    const walked = chunks[0]!;
    assert.equal(walked.kind, 'walked');
    assert.equal(walked.kind === 'walked' && walked.filesTotal, 5);
    const last = chunks[chunks.length - 1]!;
    assert.equal(last.kind, 'progress');
    assert.equal(last.kind === 'progress' && last.filesDone, 5);
    assert.equal(last.kind === 'progress' && last.tokensDone, fullTokens);
    const read = result.read!;
    assert.equal(read.filesIngested, 5);
    assert.equal(read.filesReused, 0);
    assert.equal(read.tokensIngested, fullTokens);
    assert.ok(read.tokensPerSecond > 0 && read.seconds > 0);
    assert.equal(result.cancelled, false);
    assert.equal(result.root, root);
    // No memory folder: nothing was restored and nothing is saved.
    assert.equal(result.memoryDir, null);
    assert.equal(result.restored, null);
    assert.equal(result.saved, null);

    const status = await client.request('engine/status', {});
    assert.equal(status.model?.dir, TINY);
    assert.deepEqual(status.state, result.state);
    assert.deepEqual(await client.request('workspace/status', {}), { root, memoryDir: null, state: result.state, savedBytes: null });
    const s = status.state!;
    assert.equal(s.root, root);
    assert.equal(s.files, 5);
    assert.equal(s.tokens, fullTokens);
    assert.equal(s.blocks * 16 + s.pendingTokens, fullTokens);
    // docs/fam.md: L * (F*D + 2*m*B*D_kv) float32 numbers = 2 * (4*64 + 2*2*16*32) * 4 bytes.
    assert.equal(s.stateBytes, 2 * (4 * 64 + 2 * 2 * 16 * 32) * 4);
  });

  it('asks: streams text deltas that make up the answer, and leaves the workspace memory unchanged', async () => {
    const before = await client.request('engine/status', {});
    const first = await askAll(client, 'Where is `value2_3` defined?');
    assert.equal(first.result.tokens, 12);
    assert.equal(first.result.stopReason, 'max-tokens');
    assert.ok(first.deltas.length > 0);
    assert.ok(first.text.length > 0);
    assert.ok(first.result.timings.totalSeconds >= first.result.timings.firstTokenSeconds);
    assert.ok(first.result.tokensPerSecond > 0);
    const again = await askAll(client, 'Where is `value2_3` defined?');
    assert.equal(again.text, first.text, 'greedy answers from an unchanged memory are the same');
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);
    reference = first.text;
    referenceGrounding = first.result.grounding;
  });

  it('a which-question is answered by the index alone: its ranking, nothing re-read, the model not run', async () => {
    // The workspace defines constants only: no function to rank.
    const { text, result } = await askAll(client, 'Which function does this: adds two numbers');
    assert.equal(text, 'No function in the workspace index matches that description.');
    assert.deepEqual([result.tokens, result.promptTokens, result.grounding.rereadTokens, result.grounding.sources], [0, 0, 0, []]);
    assert.equal(result.grounding.nothingFound, false, 'the answer is the index, not the memory alone');
  });

  it('cancels mid-answer: the stream ends with a cancelled result, and the memory is untouched', async () => {
    const controller = new AbortController();
    const stream = client.stream('engine/ask', { question: 'Where is `value2_3` defined?', options: { maxNewTokens: 100_000 } }, { signal: controller.signal });
    let deltas = 0;
    for await (const _ of stream) {
      if (++deltas === 3) controller.abort();
    }
    const result = await stream.result;
    assert.equal(result.cancelled, true);
    assert.equal(result.stopReason, 'cancelled');
    assert.ok(result.tokens >= 3 && result.tokens < 1000, `stopped after ${result.tokens} tokens`);
    assert.equal((await askAll(client, 'Where is `value2_3` defined?')).text, reference);
  });

  it('cancels a request still waiting in the queue with code cancelled, and reports the busy request', async () => {
    const held = await client.request('workspace/status', {});
    const running = client.stream('engine/ask', { question: 'long', options: { maxNewTokens: 200 } });
    const controller = new AbortController();
    const queued = client.request('workspace/forget', {}, { signal: controller.signal });
    const status = await client.request('engine/status', {});
    assert.equal(status.busy?.messageType, 'engine/ask');
    assert.equal(status.busy?.messageId, running.messageId);
    controller.abort();
    const err = await rejection(queued, 'cancelled');
    assert.match(err.message, /cancelled before it started/);
    assert.equal((await running.result).tokens, 200, 'the running request was not disturbed');
    assert.deepEqual(await client.request('workspace/status', {}), held, 'the cancelled forget never ran');
  });

  it('summarizes a file: streams into a copy, and leaves the workspace memory unchanged', async () => {
    const before = await client.request('engine/status', {});
    const { chunks, result } = await drain(client.stream('engine/summarize', { path: 'src/b.ts', options: { maxNewTokens: 6 } }));
    const text = chunks.map((d) => d.text).join('');
    assert.equal(result.path, 'src/b.ts');
    // The random model may write <|endoftext|> before the limit.
    assert.ok(result.stopReason === 'stop-token' ? result.tokens < 6 : result.tokens === 6, `${result.tokens} tokens, ${result.stopReason}`);
    assert.ok(result.promptTokens > 400, 'the file was streamed again before the question');
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);
    const abs = await drain(client.stream('engine/summarize', { path: path.join(root, 'src/b.ts'), options: { maxNewTokens: 6 } }));
    assert.equal(abs.result.path, 'src/b.ts');
    assert.equal(abs.chunks.map((d) => d.text).join(''), text, 'an absolute path inside the root is the same file');
  });

  it('BAD CALL - summarize of a file outside the workspace or missing is not-found', async () => {
    const outside = await rejection(client.stream('engine/summarize', { path: '../elsewhere.ts' }).result, 'not-found');
    assert.match(outside.message, /not a file inside the open workspace/);
    const missing = await rejection(client.stream('engine/summarize', { path: 'src/missing.ts' }).result, 'not-found');
    assert.match(missing.message, /src\/missing\.ts: unreadable \(ENOENT\)/);
  });

  it('saves the memory into its folder, and opening it again after another folder restores it: the same answers', async () => {
    memoryDir = await tempDir('memory');
    const first = await open(client, root, { memoryDir });
    // Another memory folder: another session, which found nothing saved, so it read everything.
    assert.equal(first.result.memoryDir, memoryDir);
    assert.equal(first.result.restored, null);
    assert.equal(first.result.restoreProblem, null);
    assert.equal(first.result.read?.filesIngested, 5);
    assert.equal(first.result.state?.tokens, fullTokens);
    const saved = first.result.saved;
    assert.ok(saved && saved.bytes > 0 && saved.seconds >= 0, 'saved');
    assert.ok((await savedFiles(memoryDir)).includes(path.join(memoryDir, MEMORY_FILES.state)));
    assert.equal(saved.bytes, await savedBytes(memoryDir));
    assert.deepEqual(await savedManifest(memoryDir, modelId), { root, files: Object.keys(files).sort() });
    assert.deepEqual(await client.request('workspace/status', {}), { root, memoryDir, state: first.result.state, savedBytes: saved.bytes });

    // Another folder in between closes this one, so the restore is what brings the answer back.
    const other = await workspace({ 'other.ts': code(9, 5) });
    cleanup.push(other);
    await open(client, other);
    assert.equal((await client.request('workspace/status', {})).root, other);
    assert.notEqual((await askAll(client, 'Where is `value2_3` defined?')).text, reference);

    const again = await open(client, root, { memoryDir, mode: 'restore' });
    assert.equal(again.chunks.length, 1);
    const restored = again.chunks[0]!;
    assert.equal(restored.kind, 'restored');
    assert.deepEqual(restored.kind === 'restored' && restored.state, first.result.state);
    assert.ok(again.result.restored && again.result.restored.seconds >= 0);
    assert.equal(again.result.read, null, "'restore' reads nothing");
    assert.equal(again.result.saved, null);
    assert.deepEqual(again.result.state, first.result.state);
    await assertReferenceAnswer();
  });

  it('opening the same folder and memory folder again keeps the held memory: the saved files are not read again', async () => {
    const held = await client.request('workspace/status', {});
    const stateFile = path.join(memoryDir, MEMORY_FILES.state);
    const good = await fs.readFile(stateFile);
    await fs.writeFile(stateFile, 'not a state file: a reload would say so');
    try {
      const restore = await open(client, root, { memoryDir, mode: 'restore' });
      assert.equal(restore.result.restoreProblem, null, 'the file was not read');
      assert.deepEqual(restore.result.state, held.state);
      const read = await open(client, root, { memoryDir });
      assert.equal(read.result.restoreProblem, null);
      assert.equal(read.result.read?.filesIngested, 0);
      assert.equal(read.result.read?.filesReused, 5);
      assert.equal(read.result.saved, null, 'nothing changed, so nothing was saved');
      assert.equal(await fs.readFile(stateFile, 'utf8'), 'not a state file: a reload would say so');
      assert.deepEqual(read.result.state, held.state);
      await assertReferenceAnswer();
    } finally {
      await fs.writeFile(stateFile, good);
    }
  });

  it('a re-open that keeps the held memory does not report it as restored (nothing was loaded)', async () => {
    const again = await open(client, root, { memoryDir, mode: 'restore' });
    assert.deepEqual(again.chunks.map((c) => c.kind), []);
    assert.equal(again.result.restored, null);
  });

  it('re-opening an unchanged folder reads nothing; a cancelled read saves its completed files, a new engine resumes from them', async () => {
    const same = await open(client, root, { memoryDir });
    assert.equal(same.result.read?.filesReused, 5);
    assert.equal(same.result.read?.filesIngested, 0);
    assert.equal(same.result.state?.tokens, fullTokens);

    // Big enough that reading takes several progress intervals, so a progress chunk comes mid-way.
    const N = 8;
    const big = await workspace(Object.fromEntries(Array.from({ length: N }, (_, i) => [`m${i}.ts`, code(11 + i, 400)])));
    cleanup.push(big);
    const bigMemory = await tempDir('big-memory');
    const controller = new AbortController();
    const stream = client.stream('workspace/open', { root: big, memoryDir: bigMemory }, { signal: controller.signal });
    let busy: { workspace: WorkspaceStatus; engine: EngineStatus; filesDone: number } | null = null;
    for await (const chunk of stream) {
      const p = progressOf(chunk);
      if (p && p.filesDone >= 1 && !busy) {
        // Both status messages answer at once while the read is at work.
        const [ws, es] = await Promise.all([client.request('workspace/status', {}), client.request('engine/status', {})]);
        busy = { workspace: ws, engine: es, filesDone: p.filesDone };
        controller.abort();
      }
    }
    const partial = await stream.result;
    assert.ok(busy, 'a progress chunk came after a completed file');
    assert.equal(busy.engine.busy?.messageType, 'workspace/open');
    assert.equal(busy.engine.busy?.messageId, stream.messageId);
    assert.equal(busy.workspace.root, big);
    assert.equal(busy.workspace.memoryDir, bigMemory);
    const k = partial.state!.files;
    assert.ok(busy.workspace.state!.files >= busy.filesDone && busy.workspace.state!.files <= k, 'the memory of the files completed so far');
    assert.equal(partial.cancelled, true);
    assert.ok(k >= 1 && k < N, `cancelled after ${k} of ${N} files`);
    assert.equal(partial.read?.filesIngested, k);
    const status = await client.request('engine/status', {});
    assert.equal(status.busy, null);
    assert.deepEqual(status.state, partial.state, 'the memory is that of the last completed file');
    // Saved on cancel: exactly the completed files.
    assert.ok(partial.saved, 'a cancelled read is saved');
    assert.equal(partial.saved.bytes, await savedBytes(bigMemory));
    assert.deepEqual(await savedManifest(bigMemory, modelId), { root: big, files: Array.from({ length: k }, (_, i) => `m${i}.ts`) });

    const second = await tinyEngine();
    try {
      const resumed = await open(second.client, big, { memoryDir: bigMemory });
      assert.equal(resumed.chunks[0]?.kind, 'restored');
      assert.ok(resumed.result.restored);
      assert.equal(resumed.result.read?.filesReused, k);
      assert.equal(resumed.result.read?.filesIngested, N - k);
      assert.equal(resumed.result.state?.files, N);
      assert.deepEqual(await savedManifest(bigMemory, modelId), { root: big, files: Array.from({ length: N }, (_, i) => `m${i}.ts`) });
      const resumedAnswer = (await askAll(second.client, 'What does `value13_1` do?')).text;
      const fresh = await open(second.client, big, { memoryDir: bigMemory, mode: 'fresh' });
      assert.equal(fresh.result.restored, null, "'fresh' restores nothing");
      assert.equal(fresh.result.read?.filesReused, 0);
      assert.equal(fresh.result.read?.filesIngested, N);
      assert.ok(fresh.result.saved, "'fresh' saves what it read");
      assert.equal(fresh.result.state?.tokens, resumed.result.state?.tokens);
      assert.equal((await askAll(second.client, 'What does `value13_1` do?')).text, resumedAnswer, 'resumed and fresh memories answer alike');
    } finally {
      second.client.close();
      await second.engine.dispose();
    }
  });

  it('an update reads only new and changed files on top of the held memory; stale text past a third forces a full re-read', async () => {
    const dir = await workspace({ 'a.ts': code(21, 40), 'b.ts': code(22, 40), 'c.ts': code(23, 40), 'd.ts': code(24, 40), 'e.ts': code(25, 40) });
    cleanup.push(dir);
    const first = await open(client, dir, { mode: 'fresh' });
    assert.equal(first.result.read?.filesIngested, 5);

    // One early file changes and one file is added in the middle of the sorted order: two files are read.
    await fs.writeFile(path.join(dir, 'b.ts'), code(32, 40));
    await fs.writeFile(path.join(dir, 'bb.ts'), code(33, 40));
    const changed = await update(client);
    assert.equal(changed.result.root, dir);
    assert.equal(changed.result.read?.filesIngested, 2);
    assert.equal(changed.result.read?.filesReused, 4);
    assert.equal(changed.result.state?.files, 6, 'distinct files, though b.ts was read twice');
    assert.equal(changed.result.state?.tokens, first.result.read!.tokensIngested + changed.result.read!.tokensIngested);

    // Nothing changed: nothing is read.
    assert.equal((await update(client)).result.read?.filesIngested, 0);

    // Changing three of six files would leave more than a third of the stream stale: everything is re-read.
    for (const [name, seed] of [['a.ts', 41], ['c.ts', 42], ['d.ts', 43]] as const) await fs.writeFile(path.join(dir, name), code(seed, 40));
    const compacted = await update(client);
    assert.equal(compacted.result.read?.filesReused, 0);
    assert.equal(compacted.result.read?.filesIngested, 6);
    const fresh = await update(client, { mode: 'fresh' });
    assert.equal(fresh.result.read?.filesReused, 0);
    assert.equal(compacted.result.state?.tokens, fresh.result.state?.tokens);
  });

  it("walker settings: the open request's stay for later updates, and an update can change them", async () => {
    const dir = await workspace({ 'a.ts': code(51, 10), 'b.md': '# b\n', 'docs/c.md': '# c\n' });
    cleanup.push(dir);
    const first = await open(client, dir, { walker: { excludes: ['*.md'] } });
    assert.equal(first.result.read?.filesIngested, 1);
    assert.deepEqual(first.result.read?.skipped.map((s) => [s.path, s.reason]).sort(), [['b.md', 'excluded'], ['docs/c.md', 'excluded']]);
    const kept = await update(client);
    assert.equal(kept.result.read?.filesIngested, 0, 'the excludes of the open request still apply');
    assert.equal(kept.result.read?.skipped.length, 2);
    const widened = await update(client, { walker: {} });
    assert.equal(widened.result.read?.filesIngested, 2);
    assert.equal(widened.result.read?.filesReused, 1);
    assert.deepEqual(widened.result.read?.skipped, []);
    assert.equal(widened.result.state?.files, 3);
    const after = await update(client);
    assert.equal(after.result.read?.filesIngested, 0);
    assert.deepEqual(after.result.read?.skipped, [], 'the new settings stay for later updates');
  });

  it('a saved memory of another model, of another format version, or damaged is not used: restoreProblem says why, and the folder is read again', async () => {
    // The same dimensions and tokenizer, another config (rope_theta): another model id.
    const other = await tempDir('other-model');
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) await fs.copyFile(path.join(TINY, f), path.join(other, f));
    const config = JSON.parse(await fs.readFile(path.join(TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
    await fs.writeFile(path.join(other, 'config.json'), JSON.stringify({ ...config, rope_theta: 20000 }));
    const small = await workspace({ 'x.ts': code(5, 3) });
    cleanup.push(small);
    const foreign = await tempDir('foreign-memory');
    const second = connect();
    try {
      await second.client.request('engine/loadModel', { modelDir: other, device: 'cpu', threads: 1 });
      assert.ok((await open(second.client, small, { memoryDir: foreign })).result.saved);
    } finally {
      second.client.close();
      await second.engine.dispose();
    }
    const foreignBytes = await fs.readFile(path.join(foreign, MEMORY_FILES.state));

    const mismatch = await open(client, small, { memoryDir: foreign });
    assert.match(mismatch.result.restoreProblem ?? '', /^the saved memory in .*state\.fams cannot be used: .*model/);
    assert.ok(mismatch.result.restoreProblem!.includes(path.join(foreign, MEMORY_FILES.state)), 'the problem names the file');
    assert.equal(mismatch.result.restored, null);
    assert.equal(mismatch.result.read?.filesReused, 0);
    assert.equal(mismatch.result.read?.filesIngested, 1, 'read again from scratch');
    assert.ok(mismatch.result.saved, 'and saved, for this model');
    assert.deepEqual(await savedManifest(foreign, modelId), { root: small, files: ['x.ts'] });

    const cases: Array<[string, Buffer | string, RegExp]> = [
      ['newer', (() => {
        const newer = Buffer.from(foreignBytes);
        newer.writeUInt32LE(99, 4); // the format version field
        return newer;
      })(), /version 0x00000063/],
      ['garbage', 'not a state file at all, just text', /not a Famulus state file/],
      ['truncated', foreignBytes.subarray(0, foreignBytes.length / 2), /bytes/],
    ];
    for (const [name, bytes, why] of cases) {
      const dir = await tempDir(`memory-${name}`);
      await fs.writeFile(path.join(dir, MEMORY_FILES.state), bytes);
      const restore = await open(client, small, { memoryDir: dir, mode: 'restore' });
      assert.match(restore.result.restoreProblem ?? '', why, name);
      assert.equal(restore.result.restored, null, name);
      assert.equal(restore.result.state, null, `${name}: nothing half-loaded is held`);
      const read = await open(client, small, { memoryDir: dir });
      assert.match(read.result.restoreProblem ?? '', why, `${name}: reported again by the read`);
      assert.equal(read.result.read?.filesIngested, 1, `${name}: read from scratch`);
      assert.deepEqual(await savedManifest(dir, modelId), { root: small, files: ['x.ts'] }, `${name}: replaced by a usable memory`);
    }

    // A memory folder with nothing saved is no problem: there is nothing to restore.
    const none = await open(client, small, { memoryDir: await tempDir('memory-none'), mode: 'restore' });
    assert.equal(none.result.restoreProblem, null);
    assert.equal(none.result.restored, null);
  });

  it('a saved memory of another folder is not used: restoreProblem names both, and the folder is read again', async () => {
    const copy = await workspace(files);
    cleanup.push(copy);
    const copiedMemory = await tempDir('copied-memory');
    await fs.copyFile(path.join(memoryDir, MEMORY_FILES.state), path.join(copiedMemory, MEMORY_FILES.state));
    const opened = await open(client, copy, { memoryDir: copiedMemory });
    const stateFile = path.join(copiedMemory, MEMORY_FILES.state);
    assert.equal(opened.result.restoreProblem, `${stateFile} holds the memory of ${root}, not of ${copy}`);
    assert.equal(opened.result.restored, null);
    assert.equal(opened.result.read?.filesReused, 0);
    assert.equal(opened.result.read?.filesIngested, 5);
    assert.equal(opened.result.state?.root, copy);
    assert.equal((await savedManifest(copiedMemory, modelId)).root, copy);
  });

  it('forget drops the held memory and deletes the saved files, and the engine keeps serving with its model', async () => {
    await open(client, root, { memoryDir });
    const saved = await savedFiles(memoryDir);
    assert.ok(saved.includes(path.join(memoryDir, MEMORY_FILES.state)));
    const { deleted } = await client.request('workspace/forget', {});
    assert.deepEqual([...deleted].sort(), saved);
    assert.deepEqual(await savedFiles(memoryDir), []);
    assert.deepEqual(await client.request('workspace/status', {}), { root, memoryDir, state: null, savedBytes: null });
    const status = await client.request('engine/status', {});
    assert.equal(status.model?.dir, TINY, 'the model stays loaded');
    assert.equal(status.state, null);
    const err = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-state');
    assert.match(err.message, /read it first/);
    // Nothing is left to delete, and the workspace stays open: an update reads it all again, and saves.
    assert.deepEqual(await client.request('workspace/forget', {}), { deleted: [] });
    const reread = await update(client);
    assert.equal(reread.result.read?.filesReused, 0);
    assert.equal(reread.result.read?.filesIngested, 5);
    assert.ok(reread.result.saved);
    assert.equal(reread.result.state?.tokens, fullTokens);
    assert.equal((await askAll(client, 'Where is `value2_3` defined?')).text, reference);
  });

  it('EXPECTED FAILURE - a request whose signal is already aborted is not sent, and fails with cancelled', async () => {
    const held = await client.request('workspace/status', {});
    const controller = new AbortController();
    controller.abort();
    await rejection(client.request('workspace/forget', {}, { signal: controller.signal }), 'cancelled');
    await rejection(client.stream('engine/ask', { question: 'q' }, { signal: controller.signal }).result, 'cancelled');
    assert.deepEqual(await client.request('workspace/status', {}), held, 'the forget was never run');
  });

  it('BAD CALL - open of a missing folder is not-found and keeps the open workspace and its memory', async () => {
    const before = await client.request('workspace/status', {});
    assert.ok(before.state);
    const err = await rejection(client.stream('workspace/open', { root: '/nonexistent/ws' }).result, 'not-found');
    assert.match(err.message, /\/nonexistent\/ws/);
    assert.deepEqual(await client.request('workspace/status', {}), before);
  });
});
