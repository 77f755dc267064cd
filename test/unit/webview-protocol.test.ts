import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ValidationError } from '../../model/protocol/check';
import { MAX_ANSWER_TOKENS, WEBVIEW_COMMANDS, continuedLimit, msg, parseToExtension, parseToWebview, type GroundingView, type ToWebview } from '../../webview/protocol';

const grounding: GroundingView = {
  sources: [{ path: 'src/queue.ts', startLine: 18, endLine: 21, reason: 'definition', definition: 'retryWithBackoff' }],
  citations: [
    { text: 'src/queue.ts:18', path: 'src/queue.ts', line: 18, verified: true, note: 'function retryWithBackoff' },
    { text: 'docs/plugins.md:14', path: 'docs/plugins.md', line: 14, verified: false, note: 'docs/plugins.md is not a file of the workspace' },
  ],
  nothingFound: false,
};
const memory = {
  phase: 'ready',
  files: 3,
  tokens: 120,
  model: 'built-in model',
  device: 'CPU',
  about: 'Model: /ext/model/weights/default (id f5efb32370c1)',
  lastUpdate: '2026-11-26T01:00:00Z',
  detail: '',
  action: null,
} as const;
const sampling = { maxNewTokens: 256, temperature: 0, repetitionPenalty: 1.1, seed: 0 };

function refusal(parse: (m: unknown) => unknown, message: unknown): ValidationError {
  try {
    parse(message);
  } catch (err) {
    assert.ok(err instanceof ValidationError, `expected a ValidationError, got ${String(err)}`);
    return err;
  }
  assert.fail(`accepted ${JSON.stringify(message)}`);
}

describe('webview protocol: valid messages', () => {
  it('accepts each webview → extension message and returns it typed', () => {
    assert.deepEqual(parseToExtension({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseToExtension({ type: 'chat/ask', question: 'Where is `drain` defined?' }), {
      type: 'chat/ask',
      question: 'Where is `drain` defined?',
    });
    assert.deepEqual(parseToExtension({ type: 'citation/open', path: 'src/queue.ts', line: 12 }), {
      type: 'citation/open',
      path: 'src/queue.ts',
      line: 12,
    });
    for (const command of WEBVIEW_COMMANDS) assert.equal((parseToExtension({ type: 'command/run', command }) as { command: string }).command, command);
    for (const type of ['chat/stop', 'chat/clear', 'summary/copy', 'summary/openMarkdown', 'summary/stop']) {
      assert.deepEqual(parseToExtension({ type }), { type });
    }
  });

  it('accepts each extension → webview message, built with msg()', () => {
    const init = msg<ToWebview, 'chat/init'>('chat/init', {
      entries: [
        { id: 'e1', role: 'user', text: 'hi' },
        { id: 'e2', role: 'assistant', text: 'see `src/a.ts:3`', status: 'done', stats: '3 tokens' },
      ],
      memory,
      progress: null,
      busyId: null,
      canUndoClear: false,
    });
    assert.deepEqual(parseToWebview(init), init);
    const progress = { filesDone: 1, filesTotal: 4, tokensDone: 50, tokensPerSecond: 900.5, secondsLeft: -1, currentFile: 'a.ts', percent: 25 };
    assert.deepEqual(parseToWebview({ type: 'memory/progress', progress }), { type: 'memory/progress', progress });
    assert.deepEqual(parseToWebview({ type: 'chat/delta', id: 'e2', text: 'more' }), { type: 'chat/delta', id: 'e2', text: 'more' });
    assert.deepEqual(parseToWebview({ type: 'summary/end', status: 'cancelled', text: '', stats: '', grounding: null }).type, 'summary/end');
  });

  it("carries an answer's grounding: at its end, and in the stored conversation", () => {
    const end = msg<ToWebview, 'chat/end'>('chat/end', {
      id: 'e2',
      status: 'done',
      text: 'src/queue.ts:18',
      stats: '',
      grounding: structuredClone(grounding),
      cutOff: null,
      action: null,
    });
    assert.deepEqual(parseToWebview(end), end);
    const nothing = { sources: [], citations: [], nothingFound: true };
    assert.deepEqual(parseToWebview({ type: 'summary/end', status: 'done', text: 'x', stats: '', grounding: nothing }), {
      type: 'summary/end',
      status: 'done',
      text: 'x',
      stats: '',
      grounding: nothing,
    });
    const entry = { id: 'e2', role: 'assistant', text: 'see src/queue.ts:18', status: 'done', grounding: structuredClone(grounding) } as const;
    assert.deepEqual(parseToWebview({ type: 'chat/append', entry }), { type: 'chat/append', entry });
  });
});

describe('webview protocol: answer actions, cut-off answers, problems', () => {
  it("accepts each answer control the chat posts, and Clear's undo", () => {
    for (const m of [
      { type: 'answer/copy', id: 'e2', block: null },
      { type: 'answer/copy', id: 'e2', block: 0 },
      { type: 'answer/insert', id: 'e2', block: 3 },
      { type: 'answer/regenerate', id: 'e2' },
      { type: 'answer/continue', id: 'e2' },
      { type: 'chat/undoClear' },
    ]) {
      assert.deepEqual(parseToExtension(m), m);
    }
    for (const command of ['useCpu', 'showLog', 'manageTrust', 'selectModel']) assert.deepEqual(parseToExtension({ type: 'command/run', command }), { type: 'command/run', command });
  });

  it('carries a cut-off answer with its sampling, a failed one with its action, and a header problem with its action', () => {
    const cut = { id: 'e2', role: 'assistant', text: 'x', status: 'done', cutOff: 256, sampling } as const;
    assert.deepEqual(parseToWebview({ type: 'chat/update', entry: cut }), { type: 'chat/update', entry: cut });
    const failed = { type: 'chat/end', id: 'e2', status: 'error', text: 'No GPU adapter found.', stats: '', grounding: null, cutOff: null, action: 'useCpu' };
    assert.deepEqual(parseToWebview(failed), failed);
    const problem = { ...memory, phase: 'error', detail: 'No GPU adapter found.', action: 'useCpu' };
    assert.deepEqual(parseToWebview({ type: 'memory/status', memory: problem }), { type: 'memory/status', memory: problem });
  });

  it('continues an answer with twice the room, up to the most an answer may have', () => {
    assert.equal(continuedLimit(256), 512);
    assert.equal(continuedLimit(3000), MAX_ANSWER_TOKENS);
    assert.equal(continuedLimit(MAX_ANSWER_TOKENS), null);
  });

  it('BAD CALL - a code block number that is no index, an answer control without its entry, an action that is no problem action', () => {
    assert.match(refusal(parseToExtension, { type: 'answer/insert', id: 'e2', block: null }).message, /answer\/insert\.block: expected an integer/);
    assert.match(refusal(parseToExtension, { type: 'answer/insert', id: 'e2', block: -1 }).message, /block: expected an integer in \[0/);
    assert.match(refusal(parseToExtension, { type: 'answer/copy', id: 'e2' }).message, /answer\/copy\.block: expected an integer/);
    assert.match(refusal(parseToExtension, { type: 'answer/copy', id: 'e2', block: null, text: 'rm -rf /' }).message, /answer\/copy\.text: unknown field/);
    assert.match(refusal(parseToExtension, { type: 'answer/regenerate' }).message, /answer\/regenerate\.id: expected a non-empty string/);
    assert.match(refusal(parseToWebview, { type: 'memory/status', memory: { ...memory, action: 'forgetMemory' } }).message, /memory\.action: expected one of useCpu/);
    assert.match(refusal(parseToWebview, { type: 'chat/update', entry: { id: 'e', role: 'assistant', text: '', cutOff: 5000 } }).message, /entry\.cutOff: expected an integer in \[1, 4096\]/);
    assert.match(
      refusal(parseToWebview, { type: 'chat/update', entry: { id: 'e', role: 'assistant', text: '', sampling: { ...sampling, seed: -1 } } }).message,
      /entry\.sampling\.seed/,
    );
  });
});

describe('webview protocol: EXPECTED FAILURE', () => {
  it('BAD CALL - not an object, no type, unknown type', () => {
    assert.match(refusal(parseToExtension, null).message, /message: expected an object, got null/);
    assert.match(refusal(parseToExtension, ['ready']).message, /expected an object, got an array/);
    assert.match(refusal(parseToExtension, { question: 'x' }).message, /unknown message type/);
    assert.match(refusal(parseToExtension, { type: 'engine/ask', question: 'x' }).message, /unknown message type "engine\/ask"/);
    assert.match(refusal(parseToWebview, { type: '__proto__' }).message, /unknown message type/);
    assert.match(refusal(parseToWebview, { type: 'toString' }).message, /unknown message type/);
  });

  it('BAD CALL - a webview cannot run an arbitrary command', () => {
    assert.match(refusal(parseToExtension, { type: 'command/run', command: 'workbench.action.terminal.new' }).message, /command: expected one of/);
  });

  it('BAD CALL - wrong field types, missing fields, extra fields, out-of-range numbers', () => {
    assert.match(refusal(parseToExtension, { type: 'chat/ask' }).message, /chat\/ask\.question: expected a non-empty string/);
    assert.match(refusal(parseToExtension, { type: 'chat/ask', question: '   ' }).message, /non-empty/);
    assert.match(refusal(parseToExtension, { type: 'chat/ask', question: 'x'.repeat(20_001) }).message, /at most 20000/);
    assert.match(refusal(parseToExtension, { type: 'citation/open', path: 'a.ts', line: 0 }).message, /line: expected an integer in \[1/);
    assert.match(refusal(parseToExtension, { type: 'citation/open', path: 'a.ts', line: 2.5 }).message, /line: expected an integer/);
    assert.match(refusal(parseToExtension, { type: 'citation/open', path: 'a.ts', line: '3' }).message, /line: expected an integer/);
    assert.match(refusal(parseToExtension, { type: 'ready', extra: 1 }).message, /ready\.extra: unknown field/);
    assert.match(refusal(parseToWebview, { type: 'chat/end', id: 'e1', status: 'finished', text: '', stats: '', grounding: null, cutOff: null, action: null }).message, /status: expected one of done \| cancelled \| error/);
    assert.match(refusal(parseToWebview, { type: 'memory/status', memory: { ...memory, files: -1 } }).message, /memory\.files/);
    assert.match(refusal(parseToWebview, { type: 'memory/status', memory: { ...memory, phase: 'bogus' } }).message, /memory\.phase/);
    assert.match(
      refusal(parseToWebview, { type: 'chat/append', entry: { id: 'e', role: 'system', text: '' } }).message,
      /entry\.role: expected one of user \| assistant/,
    );
  });

  it("BAD CALL - an answer's end without its grounding, or with bad sources or citations", () => {
    const end = (g: unknown) => ({ type: 'chat/end', id: 'e1', status: 'done', text: '', stats: '', grounding: g, cutOff: null, action: null });
    const withSource = (s: object) => end({ ...grounding, sources: [{ ...grounding.sources[0], ...s }] });
    const withCitation = (c: object) => end({ ...grounding, citations: [{ ...grounding.citations[0], ...c }] });
    assert.match(refusal(parseToWebview, { type: 'chat/end', id: 'e1', status: 'done', text: '', stats: '', cutOff: null, action: null }).message, /grounding: expected an object, got undefined/);
    assert.match(refusal(parseToWebview, end({ sources: [], citations: [] })).message, /grounding\.nothingFound: expected a boolean/);
    assert.match(refusal(parseToWebview, withSource({ path: '' })).message, /sources\[0\]\.path: expected a non-empty string/);
    assert.match(refusal(parseToWebview, withSource({ startLine: 0 })).message, /sources\[0\]\.startLine: expected an integer in \[1/);
    assert.match(refusal(parseToWebview, withSource({ endLine: 17 })).message, /sources\[0\]\.endLine: expected a line ≥ startLine 18/);
    assert.match(refusal(parseToWebview, withSource({ reason: 'guess' })).message, /sources\[0\]\.reason: expected one of context \| definition \| file/);
    assert.match(refusal(parseToWebview, withSource({ href: 'javascript:alert(1)' })).message, /sources\[0\]\.href: unknown field/);
    assert.match(refusal(parseToWebview, withCitation({ verified: 'yes' })).message, /citations\[0\]\.verified: expected a boolean/);
    assert.match(refusal(parseToWebview, withCitation({ line: -1 })).message, /citations\[0\]\.line: expected an integer in \[0/);
    assert.match(refusal(parseToWebview, withCitation({ note: undefined })).message, /citations\[0\]\.note: expected a string/);
    assert.match(refusal(parseToWebview, end({ ...grounding, sources: 'src/queue.ts:18' })).message, /grounding\.sources: expected an array/);
    const stored = { id: 'e2', role: 'assistant', text: '', grounding: { ...grounding, citations: [{ text: 'a.ts:1' }] } };
    assert.match(refusal(parseToWebview, { type: 'chat/append', entry: stored }).message, /entry\.grounding\.citations\[0\]\.path/);
  });
});
