/**
 * The transport under the engine protocol, without a model: Content-Length framing over streams, the
 * in-process pair, and a client and serveEngine() over it with stand-in handlers (streaming order, errors,
 * cancellation, a crashed engine process).
 */
import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { NotificationMessage } from 'vscode-jsonrpc/node';
import { EngineClient } from '../../model/engine/client';
import { serveEngine, type EngineHandlers, type RequestContext } from '../../model/engine/dispatch';
import { createInProcessPair, streamMessenger } from '../../model/engine/messenger';
import { EngineError } from '../../model/engine/protocol';
import { rejection } from './engine-errors';

/** One framed message, as the LSP base protocol writes it. */
const frame = (message: unknown): Buffer => {
  const body = Buffer.from(JSON.stringify(message), 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${body.byteLength}\r\n\r\n`, 'ascii'), body]);
};

/** The messages a messenger reads, and the errors its reader reports. */
function listen(input: PassThrough) {
  const { reader } = streamMessenger(input, new PassThrough());
  const messages: unknown[] = [];
  const errors: string[] = [];
  reader.onError((err) => errors.push(err.message));
  reader.listen((m) => messages.push(m));
  return { messages, errors };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe('framing: Content-Length over streams', () => {
  it('reads messages split across chunks, a multi-byte character split between two chunks, and several per chunk', async () => {
    const input = new PassThrough();
    const got = listen(input);
    const first = frame({ jsonrpc: '2.0', method: 'n', params: { question: 'où est π ?' } });
    const cut = first.indexOf(Buffer.from('π')) + 1; // inside the two bytes of π
    input.write(first.subarray(0, cut));
    input.write(first.subarray(cut));
    const two = Buffer.concat([frame({ n: 1 }), frame({ n: 2 })]);
    input.write(two.subarray(0, two.length - 3));
    input.write(two.subarray(two.length - 3));
    await settle();
    assert.deepEqual(got.messages, [{ jsonrpc: '2.0', method: 'n', params: { question: 'où est π ?' } }, { n: 1 }, { n: 2 }]);
    assert.deepEqual(got.errors, []);
  });

  it('EXPECTED FAILURE - a body that is not JSON, or a header without Content-Length, is reported and the next message still arrives', async () => {
    const input = new PassThrough();
    const got = listen(input);
    input.write('Content-Length: 8\r\n\r\nnot json');
    await settle();
    input.write(frame({ n: 1 }));
    await settle();
    input.write('Content-Type: text/plain\r\n\r\n');
    await settle();
    input.write(frame({ n: 2 }));
    await settle();
    assert.deepEqual(got.messages, [{ n: 1 }, { n: 2 }]);
    assert.equal(got.errors.length, 2);
    assert.match(got.errors[0]!, /JSON/);
    assert.match(got.errors[1]!, /Content-Length/);
  });

  it('a message cut off by the other side (a killed engine) leaves no timer behind to keep the process alive', async () => {
    // vscode-jsonrpc re-arms a 10 s "partial message" timer for as long as a message stays incomplete: after an
    // engine was killed mid-message, the CLI and the test process that read from it never exited.
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const input = new PassThrough();
    listen(input);
    const message = frame({ jsonrpc: '2.0', method: 'n', params: { text: 'x'.repeat(1000) } });
    input.write(message.subarray(0, 200));
    input.end();
    await settle();
    assert.equal(timers(), before);
  });

  it('writes a Content-Length header counting bytes, not characters', async () => {
    const output = new PassThrough();
    const message: NotificationMessage = { jsonrpc: '2.0', method: 'm', params: { text: 'π\n' } };
    await streamMessenger(new PassThrough(), output).writer.write(message);
    const body = '{"jsonrpc":"2.0","method":"m","params":{"text":"π\\n"}}';
    assert.equal(output.read().toString('utf8'), `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
});

/** Stand-ins for the engine's handlers: a status, a stream of `n` chunks, a stream that waits for its cancel, a bug. */
function standIns(seen: { waiting?: RequestContext }) {
  return {
    'engine/status': async () => ({ protocolVersion: 1 }),
    'engine/ask': async function* (data: { question: string }) {
      const n = Number(data.question);
      for (let i = 0; i < n; i++) yield { text: `${i} ` };
      return { tokens: n };
    },
    'engine/summarize': async function* (_data: unknown, ctx: RequestContext) {
      seen.waiting = ctx;
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      throw new EngineError('cancelled', 'stopped');
    },
    'workspace/forget': async () => {
      throw new Error('a bug in a handler');
    },
  } as unknown as EngineHandlers;
}

/** The context the waiting stand-in was called with, once it has been. */
async function started(seen: { waiting?: RequestContext }): Promise<RequestContext> {
  while (!seen.waiting) await new Promise((resolve) => setTimeout(resolve, 5));
  return seen.waiting;
}

function connectStandIns() {
  const seen: { waiting?: RequestContext } = {};
  const [clientEnd, engineEnd] = createInProcessPair();
  const lines: string[] = [];
  const ended = serveEngine(engineEnd, standIns(seen), (line) => lines.push(line));
  return { client: new EngineClient(clientEnd), seen, lines, ended };
}

describe('client and serveEngine over the in-process pair', () => {
  it('streams every chunk in order before the final value; a unary request gets its result', async () => {
    const { client } = connectStandIns();
    const stream = client.stream('engine/ask', { question: '200' });
    const texts: string[] = [];
    for await (const chunk of stream) texts.push(chunk.text);
    assert.deepEqual(texts, Array.from({ length: 200 }, (_, i) => `${i} `));
    assert.deepEqual(await stream.result, { tokens: 200 });
    assert.deepEqual(await client.request('engine/status', {}), { protocolVersion: 1 });
    client.close();
  });

  it('gives the handler the JSON-RPC id the client sent the request with', async () => {
    const { client, seen } = connectStandIns();
    await client.request('engine/status', {});
    const controller = new AbortController();
    const stream = client.stream('engine/summarize', { path: 'a.ts' }, { signal: controller.signal });
    assert.equal(stream.messageId, '1');
    assert.equal((await started(seen)).messageId, stream.messageId);
    controller.abort();
    await rejection(stream.result, 'cancelled');
    client.close();
  });

  it('EXPECTED FAILURE - an aborted signal cancels the running request through $/cancelRequest', async () => {
    const { client, seen } = connectStandIns();
    const controller = new AbortController();
    const pending = client.stream('engine/summarize', { path: 'a.ts' }, { signal: controller.signal });
    const ctx = await started(seen);
    assert.equal(ctx.signal.aborted, false);
    controller.abort();
    const err = await rejection(pending.result, 'cancelled');
    assert.equal(err.message, 'stopped');
    assert.equal(ctx.signal.aborted, true);
    await rejection(client.request('engine/status', {}, { signal: controller.signal }), 'cancelled');
    client.close();
  });

  it('EXPECTED FAILURE - bad params name the field; a handler that throws ends its request as internal and is logged', async () => {
    const { client, lines } = connectStandIns();
    const bad = await rejection(client.stream('engine/ask', { question: 7 as unknown as string }).result, 'invalid-request');
    assert.match(bad.message, /^engine\/ask: params\.question: expected a non-empty string, got number$/);
    const bug = await rejection(client.request('workspace/forget', {}), 'internal');
    assert.equal(bug.message, 'a bug in a handler');
    assert.ok(lines.some((l) => l.includes('a bug in a handler')), lines.join('\n'));
    client.close();
  });

  it('closing the client fails its pending requests, aborts them in the engine, and ends serveEngine', async () => {
    const { client, seen, ended } = connectStandIns();
    const pending = client.stream('engine/summarize', { path: 'a.ts' });
    const ctx = await started(seen);
    client.close();
    await rejection(pending.result, 'cancelled');
    await ended;
    assert.equal(ctx.signal.aborted, true);
    await rejection(client.request('engine/status', {}), 'cancelled');
  });
});

describe('an engine process that dies', () => {
  it('EXPECTED FAILURE - every pending request fails with engine-crashed and the last stderr', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'famulus-crash-'));
    const script = path.join(dir, 'crash.js');
    // Reads one message, then dies with a message on stderr.
    await fs.writeFile(script, "process.stdin.once('data', () => { process.stderr.write('out of memory, pretend\\n'); process.exit(3); });\n");
    const engine = EngineClient.spawn({ enginePath: script });
    const first = engine.request('engine/status', {});
    const second = engine.stream('engine/ask', { question: 'q' });
    const err = await rejection(first, 'engine-crashed');
    assert.match(err.message, /exited with code 3; its last output:\nout of memory, pretend/);
    await rejection(second.result, 'engine-crashed');
    await rejection(engine.request('engine/status', {}), 'engine-crashed');
    await fs.rm(dir, { recursive: true, force: true });
  });
});
