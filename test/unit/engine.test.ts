/**
 * The engine through the protocol, over the in-process messenger: the same envelopes, checks and replies as
 * over stdio, with the tiny test model on the CPU.
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EngineClient } from '../../model/engine/client';
import { serveEngine } from '../../model/engine/dispatch';
import { Engine } from '../../model/engine/engine';
import { createInProcessPair, type Messenger } from '../../model/engine/messenger';
import { fileChunkTokens } from '../../model/engine/prompt';
import { EngineError, type AnswerResult, type IngestChunk, type IngestResult } from '../../model/engine/protocol';
import { loadModelDir } from '../../model/loader';

const TINY = path.resolve(__dirname, '../fixtures/tiny');

function connect(): { client: EngineClient; engine: Engine; raw: Messenger } {
  const [clientEnd, engineEnd] = createInProcessPair();
  const engine = new Engine();
  serveEngine(engineEnd, engine.handlers);
  return { client: new EngineClient(clientEnd), engine, raw: clientEnd };
}

/** An EngineError with `code`, from a promise that must reject. */
async function rejection(p: Promise<unknown>, code: string): Promise<EngineError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected an error with code ${code}`);
}

/** Makes a workspace folder from { path: text }. */
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

async function ingestAll(client: EngineClient, root: string, fresh = false): Promise<{ chunks: IngestChunk[]; result: IngestResult }> {
  const stream = client.stream('workspace/ingest', { root, fresh });
  const chunks: IngestChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return { chunks, result: await stream.result };
}

async function askAll(client: EngineClient, question: string, maxNewTokens = 12): Promise<{ deltas: string[]; result: AnswerResult }> {
  const stream = client.stream('engine/ask', { question, options: { maxNewTokens } });
  const deltas: string[] = [];
  for await (const d of stream) deltas.push(d.text);
  return { deltas, result: await stream.result };
}

describe('engine: before a model is loaded', () => {
  it('answers status with no model and no state', async () => {
    const { client, engine } = connect();
    const status = await client.request('engine/status', {});
    assert.equal(status.protocolVersion, 1);
    assert.equal(status.model, null);
    assert.equal(status.state, null);
    assert.equal(status.busy, null);
    client.close();
    await engine.dispose();
  });

  it('EXPECTED FAILURE - ask, ingest and save say a model must be loaded first', async () => {
    const { client, engine } = connect();
    const err = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-model');
    assert.match(err.message, /send engine\/loadModel first/);
    await rejection(client.stream('workspace/ingest', { root: os.tmpdir() }).result, 'no-model');
    await rejection(client.request('state/save', { path: path.join(os.tmpdir(), 'x.fams') }), 'no-model');
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

  it('BAD CALL - malformed envelopes and payloads get error replies, and the engine keeps serving', async () => {
    const { client, engine, raw } = connect();
    const replies: unknown[] = [];
    raw.onMessage((m) => replies.push(m));
    raw.send('hello');
    raw.send({ messageType: 'engine/ask', messageId: 'r1', data: { question: 7 } });
    raw.send({ messageType: 'engine/nope', messageId: 'r2', data: {} });
    raw.send({ messageType: 'engine/status', data: {} });
    const status = await client.request('engine/status', {});
    assert.equal(status.model, null);
    const errors = replies.filter((r): r is { messageId: string; data: { status: string; content: { code: string; message: string } } } =>
      (r as { data?: { status?: string } }).data?.status === 'error');
    assert.deepEqual(
      errors.map((e) => [e.messageId, e.data.content.code]),
      [
        ['', 'invalid-message'],
        ['r1', 'invalid-request'],
        ['r2', 'invalid-message'],
        ['', 'invalid-message'],
      ],
    );
    assert.match(errors[1]!.data.content.message, /data\.question: expected a non-empty string, got number/);
    client.close();
    await engine.dispose();
  });
});

describe('engine: with the tiny model', () => {
  let client: EngineClient;
  let engine: Engine;
  let root: string;
  const files: Record<string, string> = {
    'README.md': '# demo\n\nA tiny project.\n',
    'src/a.ts': code(1, 40),
    'src/b.ts': code(2, 40),
    'src/c.ts': code(3, 40),
    'notes.txt': 'remember the milk\n\n\n',
  };
  let fullTokens: number;
  let reference: string;

  before(async () => {
    ({ client, engine } = connect());
    root = await workspace(files);
    const loaded = await client.request('engine/loadModel', { modelDir: TINY, device: 'cpu', threads: 1 });
    assert.equal(loaded.device.provider, 'cpu');
    assert.equal(loaded.model.blockSize, 16);
    // What the prompt layout makes of these files, computed independently of the engine.
    const { tokenizer } = await loadModelDir(TINY);
    fullTokens = Object.keys(files)
      .sort()
      .reduce((n, p) => n + fileChunkTokens(tokenizer, p, files[p]!).length, 0);
  });
  after(async () => {
    client.close();
    await engine.dispose();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE - ask before anything was read says to ingest first', async () => {
    const err = await rejection(client.stream('engine/ask', { question: 'q' }).result, 'no-state');
    assert.match(err.message, /ingest a folder or load a saved state first/);
  });

  it('ingests: reports the walk, then progress, and the state holds every token of every file', async () => {
    const { chunks, result } = await ingestAll(client, root);
    const walked = chunks[0]!;
    assert.equal(walked.kind, 'walked');
    assert.equal(walked.kind === 'walked' && walked.filesTotal, 5);
    const last = chunks[chunks.length - 1]!;
    assert.equal(last.kind, 'progress');
    assert.equal(last.kind === 'progress' && last.filesDone, 5);
    assert.equal(last.kind === 'progress' && last.tokensDone, fullTokens);
    assert.equal(result.filesIngested, 5);
    assert.equal(result.tokensIngested, fullTokens);
    assert.equal(result.cancelled, false);
    assert.ok(result.tokensPerSecond > 0 && result.seconds > 0);

    const status = await client.request('engine/status', {});
    assert.equal(status.model?.dir, TINY);
    assert.deepEqual(status.state, result.state);
    const s = status.state!;
    assert.equal(s.root, root);
    assert.equal(s.files, 5);
    assert.equal(s.tokens, fullTokens);
    assert.equal(s.blocks * 16 + s.pendingTokens, fullTokens);
    // fam.md: L * (F*D + 2*m*B*D_kv) float32 numbers = 2 * (4*64 + 2*2*16*32) * 4 bytes.
    assert.equal(s.stateBytes, 2 * (4 * 64 + 2 * 2 * 16 * 32) * 4);
  });

  it('asks: streams text deltas that make up the answer, and leaves the workspace state unchanged', async () => {
    const before = await client.request('engine/status', {});
    const first = await askAll(client, 'Where is `value2_3` defined?');
    assert.equal(first.result.tokens, 12);
    assert.equal(first.result.stopReason, 'max-tokens');
    assert.equal(first.deltas.join(''), first.result.answer);
    assert.ok(first.deltas.length > 0);
    assert.ok(first.result.timings.totalSeconds >= first.result.timings.firstTokenSeconds);
    assert.ok(first.result.tokensPerSecond > 0);
    const again = await askAll(client, 'Where is `value2_3` defined?');
    assert.equal(again.result.answer, first.result.answer, 'greedy answers from an unchanged state are the same');
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);
    reference = first.result.answer;
  });

  it('cancels mid-answer: the stream ends with a cancelled result, and the state is untouched', async () => {
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
    assert.equal((await askAll(client, 'Where is `value2_3` defined?')).result.answer, reference);
  });

  it('cancels a request still waiting in the queue with code cancelled, and reports the busy request', async () => {
    const running = client.stream('engine/ask', { question: 'long', options: { maxNewTokens: 200 } });
    const controller = new AbortController();
    const queued = client.request('state/save', { path: path.join(root, 'never.fams') }, { signal: controller.signal });
    const status = await client.request('engine/status', {});
    assert.equal(status.busy?.messageType, 'engine/ask');
    assert.equal(status.busy?.messageId, running.messageId);
    controller.abort();
    const err = await rejection(queued, 'cancelled');
    assert.match(err.message, /cancelled before it started/);
    assert.equal((await running.result).tokens, 200, 'the running request was not disturbed');
    await assert.rejects(fs.stat(path.join(root, 'never.fams')), { code: 'ENOENT' });
    assert.deepEqual(await client.request('engine/cancel', { messageId: 'no-such-id' }), { cancelled: false });
  });

  it('summarizes a file: streams into a copy, and leaves the workspace state unchanged', async () => {
    const before = await client.request('engine/status', {});
    const stream = client.stream('engine/summarize', { path: 'src/b.ts', options: { maxNewTokens: 6 } });
    let text = '';
    for await (const d of stream) text += d.text;
    const result = await stream.result;
    assert.equal(result.path, 'src/b.ts');
    assert.equal(result.answer, text);
    // The random model may write <|endoftext|> before the limit.
    assert.ok(result.stopReason === 'stop-token' ? result.tokens < 6 : result.tokens === 6, `${result.tokens} tokens, ${result.stopReason}`);
    assert.ok(result.promptTokens > 400, 'the file was streamed again before the question');
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);
    const abs = await client.stream('engine/summarize', { path: path.join(root, 'src/b.ts'), options: { maxNewTokens: 6 } }).result;
    assert.equal(abs.answer, result.answer, 'an absolute path inside the root is the same file');
  });

  it('BAD CALL - summarize of a file outside the workspace or missing is not-found', async () => {
    const outside = await rejection(client.stream('engine/summarize', { path: '../elsewhere.ts' }).result, 'not-found');
    assert.match(outside.message, /not a file inside the ingested folder/);
    const missing = await rejection(client.stream('engine/summarize', { path: 'src/missing.ts' }).result, 'not-found');
    assert.match(missing.message, /src\/missing\.ts: unreadable \(ENOENT\)/);
  });

  it('saves and loads: the loaded state answers exactly as before', async () => {
    const file = path.join(root, '.famulus', 'state.fams');
    const saved = await client.request('state/save', { path: file });
    assert.equal(saved.path, file);
    assert.equal(saved.bytes, (await fs.stat(file)).size);
    assert.equal(saved.state.tokens, fullTokens);
    // A different state in between, so the load is what brings the answer back.
    await ingestAll(client, await workspace({ 'other.ts': code(9, 5) }));
    assert.notEqual((await askAll(client, 'Where is `value2_3` defined?')).result.answer, reference);
    const loaded = await client.request('state/load', { path: file });
    assert.deepEqual(loaded.state, saved.state);
    assert.equal((await askAll(client, 'Where is `value2_3` defined?')).result.answer, reference);
  });

  it('re-ingesting an unchanged folder reads nothing; a cancelled ingest keeps its completed files and resumes', async () => {
    const same = await ingestAll(client, root);
    assert.equal(same.result.filesReused, 5);
    assert.equal(same.result.filesIngested, 0);
    assert.equal(same.result.state?.tokens, fullTokens);

    // Big enough that ingest takes longer than one progress interval, so a progress chunk comes mid-way.
    const big = await workspace({ 'a.ts': code(11, 300), 'b.ts': code(12, 300), 'c.ts': code(13, 300), 'd.ts': code(14, 300) });
    const controller = new AbortController();
    const stream = client.stream('workspace/ingest', { root: big }, { signal: controller.signal });
    for await (const chunk of stream) if (chunk.kind === 'progress') controller.abort();
    const partial = await stream.result;
    assert.equal(partial.cancelled, true);
    assert.ok(partial.filesIngested < 4, `cancelled after ${partial.filesIngested} of 4 files`);
    const status = await client.request('engine/status', {});
    assert.equal(status.state?.root, big);
    assert.equal(status.state?.files, partial.filesIngested, 'the state is that of the last completed file');
    assert.equal(status.state?.tokens, partial.tokensIngested);

    const resumed = await ingestAll(client, big);
    assert.equal(resumed.result.filesReused, partial.filesIngested);
    assert.equal(resumed.result.filesIngested, 4 - partial.filesIngested);
    const resumedAnswer = (await askAll(client, 'What does `value13_1` do?')).result.answer;
    const fresh = await ingestAll(client, big, true);
    assert.equal(fresh.result.filesReused, 0);
    assert.equal(fresh.result.state?.tokens, resumed.result.state?.tokens);
    assert.equal((await askAll(client, 'What does `value13_1` do?')).result.answer, resumedAnswer, 'resumed and fresh states answer alike');
    await fs.rm(big, { recursive: true, force: true });
  });

  it('an update reads only new and changed files on top of the held state; stale text past a third forces a full re-read', async () => {
    const dir = await workspace({ 'a.ts': code(21, 40), 'b.ts': code(22, 40), 'c.ts': code(23, 40), 'd.ts': code(24, 40), 'e.ts': code(25, 40) });
    const first = await ingestAll(client, dir, true);
    assert.equal(first.result.filesIngested, 5);

    // One early file changes and one file is added in the middle of the sorted order: two files are read.
    await fs.writeFile(path.join(dir, 'b.ts'), code(32, 40));
    await fs.writeFile(path.join(dir, 'bb.ts'), code(33, 40));
    const update = await ingestAll(client, dir);
    assert.equal(update.result.filesIngested, 2);
    assert.equal(update.result.filesReused, 4);
    assert.equal(update.result.state?.files, 6, 'distinct files, though b.ts was read twice');
    assert.equal(update.result.state?.tokens, first.result.tokensIngested + update.result.tokensIngested);

    // Nothing changed: nothing is read.
    assert.equal((await ingestAll(client, dir)).result.filesIngested, 0);

    // Changing three of six files would leave more than a third of the stream stale: everything is re-read.
    for (const [name, seed] of [['a.ts', 41], ['c.ts', 42], ['d.ts', 43]] as const) await fs.writeFile(path.join(dir, name), code(seed, 40));
    const compacted = await ingestAll(client, dir);
    assert.equal(compacted.result.filesReused, 0);
    assert.equal(compacted.result.filesIngested, 6);
    const fresh = await ingestAll(client, dir, true);
    assert.equal(compacted.result.state?.tokens, fresh.result.state?.tokens);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE - a state from another model is refused, and the held state stays', async () => {
    // The same dimensions and tokenizer, another config (rope_theta): another model id.
    const other = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-other-model-'));
    for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) await fs.copyFile(path.join(TINY, f), path.join(other, f));
    const config = JSON.parse(await fs.readFile(path.join(TINY, 'config.json'), 'utf8')) as Record<string, unknown>;
    await fs.writeFile(path.join(other, 'config.json'), JSON.stringify({ ...config, rope_theta: 20000 }));
    const second = connect();
    await second.client.request('engine/loadModel', { modelDir: other, device: 'cpu', threads: 1 });
    const small = await workspace({ 'x.ts': code(5, 3) });
    await ingestAll(second.client, small);
    const foreign = path.join(small, 'foreign.fams');
    await second.client.request('state/save', { path: foreign });
    second.client.close();
    await second.engine.dispose();

    await ingestAll(client, root);
    const before = await client.request('engine/status', {});
    const err = await rejection(client.request('state/load', { path: foreign }), 'state-mismatch');
    assert.match(err.message, /model/);
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);

    const newer = Buffer.from(await fs.readFile(foreign));
    newer.writeUInt32LE(99, 4); // the format version field
    await fs.writeFile(path.join(small, 'newer.fams'), newer);
    const version = await rejection(client.request('state/load', { path: path.join(small, 'newer.fams') }), 'state-mismatch');
    assert.match(version.message, /version 0x00000063/);

    await fs.writeFile(path.join(small, 'garbage.fams'), 'not a state file at all, just text');
    await rejection(client.request('state/load', { path: path.join(small, 'garbage.fams') }), 'state-corrupt');
    await rejection(client.request('state/load', { path: path.join(small, 'missing.fams') }), 'not-found');
    await fs.rm(other, { recursive: true, force: true });
    await fs.rm(small, { recursive: true, force: true });
  });

  it('EXPECTED FAILURE - a request whose signal is already aborted is not sent, and fails with cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await rejection(client.request('state/save', { path: path.join(root, 'aborted.fams') }, { signal: controller.signal }), 'cancelled');
    await rejection(client.stream('engine/ask', { question: 'q' }, { signal: controller.signal }).result, 'cancelled');
    await assert.rejects(fs.stat(path.join(root, 'aborted.fams')), { code: 'ENOENT' });
  });

  it('BAD CALL - ingest of a missing folder is not-found and keeps the held state', async () => {
    const before = await client.request('engine/status', {});
    const err = await rejection(client.stream('workspace/ingest', { root: '/nonexistent/ws' }).result, 'not-found');
    assert.match(err.message, /\/nonexistent\/ws/);
    assert.deepEqual((await client.request('engine/status', {})).state, before.state);
  });
});
