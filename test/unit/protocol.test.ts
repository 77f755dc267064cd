import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { EngineError, STREAMING, parseReply, parseRequest, requestChecks } from '../../model/engine/protocol';

/** The error parseRequest throws for `message`. */
function rejectOf(message: unknown): EngineError {
  try {
    parseRequest(message);
  } catch (err) {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(message)}`);
}

describe('protocol: valid requests', () => {
  it('accepts each message with a well-formed payload and returns the payload checked', () => {
    const ok = parseRequest({
      messageType: 'workspace/ingest',
      messageId: 'c1',
      data: { root: '/w', walker: { excludes: ['dist/'], maxFileBytes: 1000, followSymlinks: false }, fresh: true },
    });
    assert.deepEqual(ok, {
      messageType: 'workspace/ingest',
      messageId: 'c1',
      data: { root: '/w', walker: { excludes: ['dist/'], maxFileBytes: 1000, followSymlinks: false }, fresh: true },
    });
    const ask = parseRequest({
      messageType: 'engine/ask',
      messageId: 'x',
      data: { question: 'Where is `main` defined?', options: { maxNewTokens: 8, temperature: 0.7, topP: 0.9, seed: 1 } },
    });
    assert.equal(ask.messageType, 'engine/ask');
    assert.deepEqual(parseRequest({ messageType: 'engine/status', messageId: 's', data: {} }).data, {});
    assert.deepEqual(parseRequest({ messageType: 'engine/loadModel', messageId: 'm', data: { device: 'cpu' } }).data, { device: 'cpu' });
    assert.deepEqual(parseRequest({ messageType: 'engine/cancel', messageId: 'k', data: { messageId: 'x' } }).data, { messageId: 'x' });
  });

  it('has one check per message, and knows which messages stream', () => {
    assert.deepEqual(Object.keys(requestChecks).sort(), Object.keys(STREAMING).sort());
    assert.deepEqual(
      Object.entries(STREAMING).filter(([, s]) => s).map(([k]) => k).sort(),
      ['engine/ask', 'engine/summarize', 'workspace/ingest'],
    );
  });
});

describe('protocol: bad envelopes', () => {
  it('BAD CALL - a message that is not an object envelope', () => {
    for (const m of [null, 'engine/status', 42, [1, 2], undefined]) {
      const err = rejectOf(m);
      assert.equal(err.code, 'invalid-message');
      assert.match(err.message, /^message: expected an object envelope/);
    }
  });

  it('BAD CALL - a missing or empty messageId', () => {
    assert.match(rejectOf({ messageType: 'engine/status', data: {} }).message, /messageId: expected a non-empty string, got undefined/);
    assert.match(rejectOf({ messageType: 'engine/status', messageId: '', data: {} }).message, /messageId: expected a non-empty string, got ""/);
    assert.match(rejectOf({ messageType: 'engine/status', messageId: 7, data: {} }).message, /got number/);
  });

  it('BAD CALL - an unknown or missing messageType lists the known ones', () => {
    const err = rejectOf({ messageType: 'engine/explode', messageId: 'a', data: {} });
    assert.equal(err.code, 'invalid-message');
    assert.match(err.message, /messageType: expected one of engine\/status, .*engine\/cancel, got "engine\/explode"/);
    assert.equal(rejectOf({ messageType: 'toString', messageId: 'a', data: {} }).code, 'invalid-message');
    assert.equal(rejectOf({ messageId: 'a', data: {} }).code, 'invalid-message');
  });
});

describe('protocol: bad payloads', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['engine/ask', undefined, /^engine\/ask: data: expected an object, got undefined$/],
    ['engine/ask', { question: 42 }, /data\.question: expected a non-empty string, got number/],
    ['engine/ask', { question: '' }, /data\.question: expected a non-empty string, got ""/],
    ['engine/ask', { question: 'q', options: { maxTokens: 5 } }, /data\.options\.maxTokens: unknown field/],
    ['engine/ask', { question: 'q', options: { maxNewTokens: 1.5 } }, /data\.options\.maxNewTokens: expected an integer ≥ 1/],
    ['engine/ask', { question: 'q', options: { topP: 2 } }, /data\.options\.topP: expected a finite number ≥ 0 ≤ 1, got number/],
    ['engine/ask', { question: 'q', options: { repetitionPenalty: 0.5 } }, /data\.options\.repetitionPenalty: expected a finite number ≥ 1 ≤ 2, got number/],
    ['engine/ask', { question: 'q', options: { temperature: null } }, /data\.options\.temperature: expected a finite number.*got null/],
    ['engine/loadModel', { device: 'gpu' }, /data\.device: expected one of auto \| cpu \| webgpu, got "gpu"/],
    ['workspace/ingest', { root: '/w', walker: { excludes: 'dist/' } }, /data\.walker\.excludes: expected an array, got "dist\/"/],
    ['workspace/ingest', { root: '/w', walker: { excludes: ['a', 3] } }, /data\.walker\.excludes\[1\]: expected a non-empty string/],
    ['workspace/ingest', { walker: {} }, /data\.root: expected a non-empty string, got undefined/],
    ['state/save', { path: ['a'] }, /data\.path: expected a non-empty string, got an array/],
    ['engine/status', { verbose: true }, /data\.verbose: unknown field/],
    ['engine/cancel', {}, /data\.messageId: expected a non-empty string/],
  ];
  for (const [messageType, data, expected] of cases) {
    it(`BAD CALL - ${messageType} with ${JSON.stringify(data)}`, () => {
      const err = rejectOf({ messageType, messageId: 'id', data });
      assert.equal(err.code, 'invalid-request');
      assert.match(err.message, expected);
    });
  }
});

describe('protocol: replies', () => {
  it('accepts success chunks and finals, and error finals with code and message', () => {
    assert.ok(parseReply({ messageType: 'engine/ask', messageId: 'c1', data: { status: 'success', done: false, content: { text: 'a' } } }));
    assert.ok(parseReply({ messageType: 'engine/ask', messageId: 'c1', data: { status: 'error', done: true, content: { code: 'no-model', message: 'm' } } }));
  });

  it('BAD CALL - refuses replies without id, status, done flag, or with an error that is not data', () => {
    assert.equal(parseReply({ messageType: 'engine/ask', data: { status: 'success', done: true, content: 1 } }), null);
    assert.equal(parseReply({ messageType: 'engine/ask', messageId: 'c', data: { status: 'ok', done: true } }), null);
    assert.equal(parseReply({ messageType: 'engine/ask', messageId: 'c', data: { status: 'success' } }), null);
    assert.equal(parseReply({ messageType: 'engine/ask', messageId: 'c', data: { status: 'error', done: true, content: 'boom' } }), null);
    assert.equal(parseReply({ messageType: 'engine/ask', messageId: 'c', data: { status: 'error', done: false, content: { code: 'x', message: 'y' } } }), null);
    assert.equal(parseReply('text'), null);
  });
});
