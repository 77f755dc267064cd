/**
 * The engine process (dist/engine.js) driven as any editor's JSON-RPC client would drive it: Content-Length
 * framed JSON written by hand on its stdin, responses and notifications read from its stdout, no EngineClient.
 * What docs/engine-protocol.md promises, checked: methods, params, streaming by $/progress, cancellation by
 * $/cancelRequest, error codes. Needs `npm run build` (the test script runs it first).
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ENGINE, TINY, tempDir } from '../reliability/helpers';

interface Incoming {
  jsonrpc: string;
  id?: number | string | null;
  method?: string;
  params?: { token?: unknown; value?: unknown };
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: { code?: string } };
}

/** A JSON-RPC client in a few lines: frames what it sends, unframes what it reads, keeps every message in order. */
class RawClient {
  readonly child: ChildProcessWithoutNullStreams;
  readonly received: Incoming[] = [];
  stderr = '';
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  constructor() {
    this.child = spawn(process.execPath, [ENGINE], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.setEncoding('utf8').on('data', (t: string) => (this.stderr += t));
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (;;) {
        const headerEnd = this.buffer.indexOf('\r\n\r\n');
        if (headerEnd < 0) break;
        const length = Number(/Content-Length: (\d+)/i.exec(this.buffer.subarray(0, headerEnd).toString('ascii'))?.[1]);
        if (this.buffer.length < headerEnd + 4 + length) break;
        this.received.push(JSON.parse(this.buffer.subarray(headerEnd + 4, headerEnd + 4 + length).toString('utf8')) as Incoming);
        this.buffer = this.buffer.subarray(headerEnd + 4 + length);
      }
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  send(message: Record<string, unknown>): void {
    this.sendRaw(JSON.stringify({ jsonrpc: '2.0', ...message }));
  }

  sendRaw(body: string): void {
    this.child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  /** The first message received so far, or later, that matches. */
  async waitFor(match: (m: Incoming) => boolean, what: string, timeoutMs = 30_000): Promise<Incoming> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found) return found;
      if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Resolves once the engine's log (stderr, a pipe of its own: no order with stdout) has a matching line. */
  async logged(line: RegExp, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!line.test(this.stderr)) {
      if (Date.now() > deadline) assert.fail(`no log line ${line} within ${timeoutMs} ms; stderr:\n${this.stderr.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  response(id: number, timeoutMs?: number): Promise<Incoming> {
    return this.waitFor((m) => m.id === id && m.method === undefined, `response to ${id}`, timeoutMs);
  }

  /** The values of the $/progress notifications for `token`, and where they are among all messages. */
  progress(token: string): Array<{ value: unknown; at: number }> {
    return this.received.flatMap((m, at) => (m.method === '$/progress' && m.params?.token === token ? [{ value: m.params.value, at }] : []));
  }
}

describe('the engine over stdio, as a generic JSON-RPC client', () => {
  let client: RawClient;
  let root: string;

  before(async () => {
    client = new RawClient();
    root = await tempDir('jsonrpc');
    for (let i = 0; i < 6; i++) {
      await fs.writeFile(path.join(root, `file${i}.ts`), `export function value${i}() {\n  return ${i * 7};\n}\n`);
    }
  });

  after(async () => {
    client.child.stdin.end();
    await new Promise((resolve) => (client.child.exitCode !== null ? resolve(undefined) : client.child.once('exit', resolve)));
    await fs.rm(root, { recursive: true, force: true });
  });

  it('engine/status answers without params, before any model is loaded', async () => {
    client.send({ id: 1, method: 'engine/status' });
    const status = await client.response(1);
    assert.equal(status.jsonrpc, '2.0');
    assert.equal(status.error, undefined);
    assert.deepEqual(status.result, { protocolVersion: 1, pid: client.child.pid, model: null, device: null, state: null, busy: null });
  });

  it('EXPECTED FAILURE - an unknown method is MethodNotFound, bad params are InvalidParams naming the field', async () => {
    client.send({ id: 2, method: 'engine/explode', params: {} });
    client.send({ id: 3, method: 'engine/ask', params: { question: 'q', options: { topP: 3 } } });
    client.send({ id: 4, method: 'engine/loadModel', params: [TINY] });
    const unknown = await client.response(2);
    assert.equal(unknown.error?.code, -32601);
    assert.equal(unknown.error?.data?.code, 'invalid-message');
    assert.match(unknown.error!.message, /unknown method "engine\/explode"; the engine's methods are engine\/status, engine\/loadModel, /);
    const badOption = await client.response(3);
    assert.deepEqual(badOption.error, {
      code: -32602,
      message: 'engine/ask: params.options.topP: expected a finite number in [0, 1], got number',
      data: { code: 'invalid-request' },
    });
    const positional = await client.response(4);
    assert.equal(positional.error?.code, -32602);
    assert.match(positional.error!.message, /params: expected an object, got an array/);
  });

  it('EXPECTED FAILURE - a frame that is not JSON is logged, not answered, and the next request is served', async () => {
    const before = client.received.length;
    client.sendRaw('{"jsonrpc": "2.0", "id": 5, "method": ');
    client.send({ id: 6, method: 'engine/status', params: {} });
    await client.response(6);
    assert.equal(client.received.length, before + 1, 'one message: the response to 6');
    await client.logged(/unreadable message/);
  });

  it('engine/loadModel loads the tiny model; engine/ask needs a workspace first', async () => {
    client.send({ id: 7, method: 'engine/loadModel', params: { modelDir: TINY, device: 'cpu', threads: 1 } });
    const loaded = await client.response(7);
    assert.equal(loaded.error, undefined, JSON.stringify(loaded.error));
    const model = loaded.result!.model as Record<string, unknown>;
    assert.equal(model.layers, 2);
    assert.equal(model.dir, TINY);
    assert.equal((loaded.result!.device as Record<string, unknown>).provider, 'cpu');
    client.send({ id: 8, method: 'engine/ask', params: { question: 'q' } });
    const noState = await client.response(8);
    assert.equal(noState.error?.code, -32000);
    assert.equal(noState.error?.data?.code, 'no-state');
  });

  it('a streaming method sends its chunks as $/progress to the partialResultToken, all before its response', async () => {
    client.send({ id: 9, method: 'workspace/open', params: { root, mode: 'fresh', partialResultToken: 'open-9' } });
    const opened = await client.response(9);
    assert.equal(opened.error, undefined, JSON.stringify(opened.error));
    assert.equal((opened.result!.read as Record<string, unknown>).filesIngested, 6);
    const chunks = client.progress('open-9');
    assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
    assert.equal((chunks[0]!.value as { kind: string }).kind, 'walked');
    const responseAt = client.received.indexOf(opened);
    assert.ok(chunks.every((c) => c.at < responseAt), 'every chunk before the response');

    client.send({ id: 10, method: 'engine/ask', params: { question: 'What does value3 return?', options: { maxNewTokens: 4 } } });
    const quiet = await client.response(10);
    assert.equal(quiet.error, undefined, JSON.stringify(quiet.error));
    assert.equal(typeof quiet.result!.tokens, 'number', 'without a token the final value still comes');
  });

  it('$/cancelRequest stops a running answer (its final value says cancelled) and fails a queued request', async () => {
    client.send({ id: 11, method: 'engine/ask', params: { question: 'Tell me everything.', options: { maxNewTokens: 1 << 20 }, partialResultToken: 'ask-11' } });
    await client.waitFor((m) => m.method === '$/progress' && m.params?.token === 'ask-11', 'a first chunk of the answer');
    client.send({ id: 12, method: 'workspace/forget', params: {} });
    client.send({ id: 13, method: 'engine/status' });
    const status = await client.response(13);
    assert.deepEqual(status.result!.busy, { messageType: 'engine/ask', messageId: '11' }, 'status answers at once while an answer runs');

    client.send({ method: '$/cancelRequest', params: { id: 12 } });
    const queued = await client.response(12);
    assert.equal(queued.error?.code, -32800);
    assert.equal(queued.error?.data?.code, 'cancelled');

    client.send({ method: '$/cancelRequest', params: { id: 11 } });
    const running = await client.response(11);
    assert.equal(running.error, undefined, JSON.stringify(running.error));
    assert.equal(running.result!.cancelled, true);
    assert.equal(running.result!.stopReason, 'cancelled');
    const responseAt = client.received.indexOf(running);
    assert.ok(client.progress('ask-11').every((c) => c.at < responseAt), 'no chunk after the response');

    client.send({ id: 14, method: 'workspace/status' });
    const kept = await client.response(14);
    assert.notEqual(kept.result!.state, null, 'the cancelled forget did not run');
  });

  it('ends when its stdin ends', async () => {
    const exited = new Promise<number | null>((resolve) => client.child.once('exit', resolve));
    client.child.stdin.end();
    assert.equal(await exited, 0);
  });
});
