import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ProtocolError, WEBVIEW_COMMANDS, msg, parseToExtension, parseToWebview, type ToWebview } from '../../webview/protocol';

const memory = { phase: 'ready', files: 3, tokens: 120, model: 'tiny 1234abcd', device: 'cpu (cpu x64)', lastUpdate: '2026-11-26T01:00:00Z', detail: '' } as const;

function refusal(parse: (m: unknown) => unknown, message: unknown): ProtocolError {
  try {
    parse(message);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `expected a ProtocolError, got ${String(err)}`);
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
    });
    assert.deepEqual(parseToWebview(init), init);
    const progress = { filesDone: 1, filesTotal: 4, tokensDone: 50, tokensPerSecond: 900.5, secondsLeft: -1, currentFile: 'a.ts', percent: 25 };
    assert.deepEqual(parseToWebview({ type: 'memory/progress', progress }), { type: 'memory/progress', progress });
    assert.deepEqual(parseToWebview({ type: 'chat/delta', id: 'e2', text: 'more' }), { type: 'chat/delta', id: 'e2', text: 'more' });
    assert.deepEqual(parseToWebview({ type: 'summary/end', status: 'cancelled', text: '', stats: '' }).type, 'summary/end');
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
    assert.match(refusal(parseToWebview, { type: 'chat/end', id: 'e1', status: 'finished', text: '', stats: '' }).message, /status: expected one of done \| cancelled \| error/);
    assert.match(refusal(parseToWebview, { type: 'memory/status', memory: { ...memory, files: -1 } }).message, /memory\.files/);
    assert.match(refusal(parseToWebview, { type: 'memory/status', memory: { ...memory, phase: 'bogus' } }).message, /memory\.phase/);
    assert.match(
      refusal(parseToWebview, { type: 'chat/append', entry: { id: 'e', role: 'system', text: '' } }).message,
      /entry\.role: expected one of user \| assistant/,
    );
  });
});
