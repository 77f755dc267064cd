import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { LineSplitter, NdjsonMessenger, createInProcessPair, type Messenger } from '../../model/engine/messenger';

/** Collects what a messenger receives. */
function record(m: Messenger) {
  const messages: unknown[] = [];
  const errors: string[] = [];
  let closed = 0;
  m.onMessage((x) => messages.push(x));
  m.onError((e) => errors.push(e.message));
  m.onClose(() => closed++);
  return { messages, errors, closed: () => closed };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('NDJSON framing: LineSplitter', () => {
  it('keeps a partial line between chunks and returns several lines from one chunk', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('{"a":'), []);
    assert.deepEqual(s.push('1}\n{"b":2}\n{"c"'), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(s.push(':3}\n'), ['{"c":3}']);
    assert.deepEqual(s.end(), []);
  });

  it('accepts CRLF, skips empty lines, and returns an unterminated last line at the end', () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('1\r\n\n\r\n2\r'), ['1']);
    assert.deepEqual(s.push('\n3'), ['2']);
    assert.deepEqual(s.end(), ['3']);
    assert.deepEqual(s.end(), []);
  });
});

describe('NDJSON framing: NdjsonMessenger over streams', () => {
  it('reads messages split across chunks, a multi-byte character split between two chunks, and several per chunk', async () => {
    const input = new PassThrough();
    const m = new NdjsonMessenger(input, new PassThrough());
    const got = record(m);
    const line = Buffer.from(JSON.stringify({ messageType: 'engine/ask', data: { question: 'où est π ?' } }) + '\n');
    const cut = line.indexOf(Buffer.from('π')) + 1; // inside the two bytes of π
    input.write(line.subarray(0, cut));
    input.write(line.subarray(cut));
    input.write('{"n":1}\n{"n":2}\n{"n":');
    input.write('3}\n');
    await tick();
    assert.deepEqual(got.messages, [{ messageType: 'engine/ask', data: { question: 'où est π ?' } }, { n: 1 }, { n: 2 }, { n: 3 }]);
    assert.deepEqual(got.errors, []);
  });

  it('EXPECTED FAILURE - a line that is not JSON is reported as an error, and the next lines still arrive', async () => {
    const input = new PassThrough();
    const m = new NdjsonMessenger(input, new PassThrough());
    const got = record(m);
    input.write('{"n":1}\nnot json at all\n{"n":2}\n');
    await tick();
    assert.deepEqual(got.messages, [{ n: 1 }, { n: 2 }]);
    assert.equal(got.errors.length, 1);
    assert.match(got.errors[0]!, /^not a JSON message \(.*\): not json at all$/);
  });

  it('delivers an unterminated last message when the input ends, then closes once', async () => {
    const input = new PassThrough();
    const m = new NdjsonMessenger(input, new PassThrough());
    const got = record(m);
    input.end('{"last":true}');
    await new Promise((resolve) => m.onClose(() => resolve(undefined)));
    await tick();
    assert.deepEqual(got.messages, [{ last: true }]);
    assert.equal(got.closed(), 1);
  });

  it('writes exactly one line per message, newlines inside strings escaped', async () => {
    const output = new PassThrough();
    const m = new NdjsonMessenger(new PassThrough(), output);
    m.send({ text: 'line 1\nline 2' });
    m.send([1, 2]);
    const written = output.read().toString('utf8') as string;
    assert.equal(written, '{"text":"line 1\\nline 2"}\n[1,2]\n');
    assert.throws(() => m.send(undefined), /not a JSON value/);
  });

  it('connects two ends through a pair of pipes, in both directions', async () => {
    const aToB = new PassThrough();
    const bToA = new PassThrough();
    const a = new NdjsonMessenger(bToA, aToB);
    const b = new NdjsonMessenger(aToB, bToA);
    const gotA = record(a);
    const gotB = record(b);
    for (let i = 0; i < 100; i++) a.send({ i, pad: 'x'.repeat(i * 50) });
    b.send({ reply: true });
    await tick();
    assert.deepEqual(gotB.messages.map((x) => (x as { i: number }).i), Array.from({ length: 100 }, (_, i) => i));
    assert.deepEqual(gotA.messages, [{ reply: true }]);
    a.close();
    await tick();
    assert.equal(gotB.closed(), 1, 'the other end sees the close');
    assert.throws(() => a.send({}), /closed/);
  });
});

describe('in-process messenger', () => {
  it('delivers on a later turn, in order, as JSON values', async () => {
    const [a, b] = createInProcessPair();
    const got = record(b);
    a.send({ when: new Date(0), gone: undefined, n: 1 });
    a.send({ n: 2 });
    assert.deepEqual(got.messages, [], 'not delivered inside send()');
    await tick();
    assert.deepEqual(got.messages, [{ when: '1970-01-01T00:00:00.000Z', n: 1 }, { n: 2 }]);
  });

  it('closes both ends after what was sent is delivered; sending on a closed end throws', async () => {
    const [a, b] = createInProcessPair();
    const gotA = record(a);
    const gotB = record(b);
    a.send({ before: 'close' });
    a.close();
    await tick();
    await tick();
    assert.deepEqual(gotB.messages, [{ before: 'close' }]);
    assert.equal(gotA.closed(), 1);
    assert.equal(gotB.closed(), 1);
    assert.throws(() => b.send({}), /closed/);
    let lateClose = false;
    b.onClose(() => (lateClose = true));
    await tick();
    assert.ok(lateClose, 'onClose after the close still fires');
  });
});
