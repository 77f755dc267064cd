import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { isCancellation } from '../../model/engine/cancellation';
import { toResponseError } from '../../model/engine/dispatch';
import { EngineError, STREAMING, parseRequest, requestChecks } from '../../model/engine/protocol';
import { ValidationError, v } from '../../model/protocol/check';

/** The error parseRequest throws for `method` and `params`. */
function rejectOf(method: string, params: unknown): EngineError {
  try {
    parseRequest(method, params);
  } catch (err) {
    assert.ok(err instanceof EngineError, `expected an EngineError, got ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${method} ${JSON.stringify(params)}`);
}

describe('protocol: valid requests', () => {
  it('accepts each method with well-formed params and returns them checked', () => {
    const walker = { excludes: ['dist/'], maxFileBytes: 1000, followSymlinks: false };
    assert.deepEqual(parseRequest('workspace/open', { root: '/w', walker, mode: 'fresh' }), {
      method: 'workspace/open',
      params: { root: '/w', walker, mode: 'fresh' },
      progressToken: undefined,
    });
    const ask = parseRequest('engine/ask', { question: 'Where is `main` defined?', options: { maxNewTokens: 8, temperature: 0.7, topP: 0.9, seed: 1 } });
    assert.equal(ask.method, 'engine/ask');
    assert.deepEqual(parseRequest('engine/loadModel', { device: 'cpu' }).params, { device: 'cpu' });
  });

  it('takes the partialResultToken out of the params; omitted params count as {}', () => {
    assert.deepEqual(parseRequest('engine/ask', { question: 'q', partialResultToken: 'p1' }), {
      method: 'engine/ask',
      params: { question: 'q' },
      progressToken: 'p1',
    });
    assert.equal(parseRequest('engine/summarize', { path: 'a.ts', partialResultToken: 7 }).progressToken, 7);
    assert.deepEqual(parseRequest('engine/status', undefined).params, {});
    assert.deepEqual(parseRequest('workspace/status', {}).params, {});
  });

  it('has one check per method, and knows which methods stream', () => {
    assert.deepEqual(Object.keys(requestChecks).sort(), Object.keys(STREAMING).sort());
    assert.deepEqual(
      Object.entries(STREAMING).filter(([, s]) => s).map(([k]) => k).sort(),
      ['engine/ask', 'engine/summarize', 'workspace/import', 'workspace/open', 'workspace/update'],
    );
  });
});

describe('protocol: bad requests', () => {
  it('BAD CALL - an unknown method lists the known ones', () => {
    const err = rejectOf('engine/explode', {});
    assert.equal(err.code, 'invalid-message');
    assert.match(err.message, /^unknown method "engine\/explode"; the engine's methods are engine\/status, .*engine\/summarize/);
    assert.equal(rejectOf('toString', {}).code, 'invalid-message');
    assert.equal(rejectOf('engine/cancel', { messageId: 'c1' }).code, 'invalid-message', '$/cancelRequest replaced it');
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['engine/ask', [{ question: 'q' }], /^engine\/ask: params: expected an object, got an array$/],
    ['engine/ask', { question: 42 }, /params\.question: expected a non-empty string, got number/],
    ['engine/ask', { question: '' }, /params\.question: expected a non-empty string, got ""/],
    ['engine/ask', { question: '  \n' }, /params\.question: expected a non-empty string/],
    ['engine/ask', { question: 'q', options: { maxTokens: 5 } }, /params\.options\.maxTokens: unknown field/],
    ['engine/ask', { question: 'q', options: { maxNewTokens: 1.5 } }, /params\.options\.maxNewTokens: expected an integer in \[1, 1048576\]/],
    ['engine/ask', { question: 'q', options: { topP: 2 } }, /params\.options\.topP: expected a finite number in \[0, 1\], got number/],
    ['engine/ask', { question: 'q', options: { temperature: null } }, /params\.options\.temperature: expected a finite number.*got null/],
    ['engine/ask', { question: 'q', partialResultToken: { id: 1 } }, /params\.partialResultToken: expected a string or a number, got object/],
    ['engine/loadModel', { device: 'gpu' }, /params\.device: expected one of auto \| cpu \| webgpu, got "gpu"/],
    ['workspace/open', { root: '/w', walker: { excludes: 'dist/' } }, /params\.walker\.excludes: expected an array, got "dist\/"/],
    ['workspace/open', { root: '/w', walker: { excludes: ['a', 3] } }, /params\.walker\.excludes\[1\]: expected a non-empty string/],
    ['workspace/open', { walker: {} }, /params\.root: expected a non-empty string, got undefined/],
    ['workspace/update', { mode: 'restore' }, /params\.mode: expected one of read \| fresh, got "restore"/],
    ['engine/status', { verbose: true }, /params\.verbose: unknown field/],
  ];
  for (const [method, params, expected] of cases) {
    it(`BAD CALL - ${method} with ${JSON.stringify(params)}`, () => {
      const err = rejectOf(method, params);
      assert.equal(err.code, 'invalid-request');
      assert.match(err.message, expected);
    });
  }
});

describe('protocol: errors as JSON-RPC errors', () => {
  it('sends each failure with a JSON-RPC code and the engine code in data', () => {
    const json = (err: unknown) => toResponseError(err).toJson();
    assert.deepEqual(json(new EngineError('invalid-message', 'unknown method')), { code: -32601, message: 'unknown method', data: { code: 'invalid-message' } });
    assert.deepEqual(json(new EngineError('invalid-request', 'bad')), { code: -32602, message: 'bad', data: { code: 'invalid-request' } });
    assert.deepEqual(json(new EngineError('no-model', 'load one')), { code: -32000, message: 'load one', data: { code: 'no-model' } });
    assert.deepEqual(json(Object.assign(new Error('x'), { name: 'AbortError' })), { code: -32800, message: 'cancelled', data: { code: 'cancelled' } });
    assert.deepEqual(json(new ValidationError('at: expected')), { code: -32602, message: 'at: expected', data: { code: 'invalid-request' } });
    assert.deepEqual(json(new TypeError('boom')), { code: -32603, message: 'boom', data: { code: 'internal' } });
  });

  it('recognises a cancellation, whoever cancelled', () => {
    assert.equal(isCancellation(Object.assign(new Error('x'), { name: 'AbortError' })), true);
    assert.equal(isCancellation(new EngineError('cancelled', 'stopped')), true);
    assert.equal(isCancellation(new EngineError('no-model', 'x')), false);
    assert.equal(isCancellation('cancelled'), false);
  });
});

describe('checks: the shared library', () => {
  it('BAD CALL - strings: length bounds and blank text', () => {
    assert.equal(v.string({ max: 3 })('abc', 'x'), 'abc');
    assert.throws(() => v.string({ max: 3 })('abcd', 'x'), /^ValidationError: x: expected a string of at most 3 characters, got "abcd"$/);
  });

  it('BAD CALL - numbers: finite, integer, and a range said the way it is', () => {
    assert.throws(() => v.number()(NaN, 'n'), /n: expected a finite number, got number/);
    assert.throws(() => v.number({ min: 0 })(-1, 'n'), /expected a finite number ≥ 0/);
    assert.throws(() => v.number({ max: 9 })(10, 'n'), /expected a finite number ≤ 9/);
    assert.throws(() => v.number({ integer: true, min: 1, max: 5 })(2.5, 'n'), /expected an integer in \[1, 5\]/);
  });

  it('BAD CALL - arrays with a maximum length, nullable values, and a typed object that refuses unknown fields', () => {
    assert.throws(() => v.array(v.boolean(), { max: 1 })([true, false], 'a'), /a: expected an array of at most 1, got an array/);
    assert.equal(v.nullable(v.string())(null, 's'), null);
    const point = v.objectOf<{ x: number; label?: string }>({ x: v.number(), label: v.optional(v.string()) });
    assert.deepEqual(point({ x: 1 }, 'p'), { x: 1 });
    assert.throws(() => point({ x: 1, y: 2 }, 'p'), /p\.y: unknown field/);
  });
});
