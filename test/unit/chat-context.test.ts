/**
 * The context of a question in the chat: `#file` / `@file` references found in a question (webview/references.ts),
 * the chips that show them and the attached code (webview/chat/context-chips.ts), and the webview messages that
 * carry them, which the extension checks because the webview is untrusted (webview/protocol.ts).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { ValidationError } from '../../model/protocol/check';
import { askedContext, composerChips, contextLabel, onChipAction } from '../../webview/chat/context-chips';
import { msg, parseToExtension, parseToWebview, type ChatEntry, type ContextChip, type ReferenceView, type ToWebview } from '../../webview/protocol';
import { MAX_REFERENCES, findReferences, questionWithPaths } from '../../webview/references';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const win = dom.window as unknown as Window & typeof globalThis;
const doc = win.document;

describe('chat context: #file and @file references', () => {
  it('finds references with a path or a file name, once each, in the order written, without trailing dots', () => {
    assert.deepEqual(findReferences('What does #src/queue.ts export? And @server.ts. Then #src/queue.ts again'), ['#src/queue.ts', '@server.ts']);
    assert.deepEqual(findReferences('#README.md'), ['#README.md']);
    assert.deepEqual(findReferences('see (@lib/a-b_c.py) and "#docs/"'), ['@lib/a-b_c.py', '#docs/']);
  });

  it('leaves alone what is no reference: issue numbers, decorators, JSDoc tags, e-mail addresses, a bare sigil', () => {
    assert.deepEqual(findReferences('Fix #123 with @Injectable and @param x; mail a@b.com; # or @ alone; C# and x#y.ts'), []);
  });

  it(`reads at most ${MAX_REFERENCES} references from one question`, () => {
    const many = Array.from({ length: 30 }, (_, i) => `#f${i}.ts`).join(' ');
    assert.equal(findReferences(many).length, MAX_REFERENCES);
  });

  it('asks the engine with the resolved references written as paths; unresolved ones stay as written', () => {
    const resolved = new Map([
      ['@queue.ts', 'src/queue.ts'],
      ['#docs/ops.md', 'docs/ops.md'],
    ]);
    assert.equal(questionWithPaths('What does @queue.ts do, per #docs/ops.md. And @nope.ts?', resolved), 'What does src/queue.ts do, per docs/ops.md. And @nope.ts?');
  });
});

describe('chat context: chips', () => {
  const selection: ContextChip = { id: 'selection', context: { kind: 'selection', path: 'src/queue.ts', startLine: 18, endLine: 21 }, attached: true, note: '' };
  const editor: ContextChip = { id: 'editor', context: { kind: 'editor', path: 'src/server.ts' }, attached: false, note: "unsaved changes: the editor's text is read" };

  it('labels a span path:start-end, one line path:line, a whole file by its path', () => {
    assert.equal(contextLabel({ kind: 'selection', path: 'a.ts', startLine: 3, endLine: 9 }), 'a.ts:3-9');
    assert.equal(contextLabel({ kind: 'selection', path: 'a.ts', startLine: 3, endLine: 3 }), 'a.ts:3');
    assert.equal(contextLabel({ kind: 'editor', path: 'a.ts' }), 'a.ts');
  });

  it('shows the selection with a remove button, the editor file as a toggle, and each reference resolved, pending or not found', () => {
    const resolved = new Map<string, ReferenceView>([
      ['@queue.ts', { written: '@queue.ts', path: 'src/queue.ts', note: '' }],
      ['@nope.ts', { written: '@nope.ts', path: null, note: 'no such file in the workspace' }],
    ]);
    const shown = composerChips(doc, [selection, editor], ['@queue.ts', '@nope.ts', '#later.ts'], resolved);
    assert.deepEqual(
      shown.map((c) => c.textContent),
      ['src/queue.ts:18-21×', '+ src/server.ts · current file', '@queue.ts → src/queue.ts', '⚠ @nope.ts: no such file in the workspace', '#later.ts …'],
    );
    assert.equal(shown[1]!.getAttribute('aria-pressed'), 'false');
    assert.match(shown[1]!.title, /unsaved changes/);
    assert.ok(shown[3]!.classList.contains('unresolved'));
    const attached = composerChips(doc, [{ ...editor, attached: true }], [], new Map())[0]!;
    assert.equal(attached.textContent, 'src/server.ts · current file ×');
    assert.equal(attached.getAttribute('aria-pressed'), 'true');
  });

  it('posts what a click on a chip asks: remove the selection, attach or detach the current file', () => {
    const box = doc.createElement('div');
    box.append(...composerChips(doc, [selection, editor], [], new Map()));
    const clicks: Array<[string, boolean]> = [];
    onChipAction(box, (id, attached) => clicks.push([id, attached]));
    for (const b of box.querySelectorAll('button')) b.dispatchEvent(new win.MouseEvent('click', { bubbles: true }));
    assert.deepEqual(clicks, [
      ['selection', false],
      ['editor', true],
    ]);
  });

  it('shows under a question the code it was asked about and the references that named nothing', () => {
    const question: ChatEntry = {
      id: 'e1',
      role: 'user',
      text: 'What is this? See @nope.ts',
      context: [selection.context, { kind: 'reference', path: 'src/util.ts' }],
      unresolved: ['@nope.ts'],
    };
    assert.deepEqual([...askedContext(doc, question)!.children].map((c) => c.textContent), [
      'src/queue.ts:18-21 · selection',
      'src/util.ts · reference',
      '⚠ @nope.ts: not found',
    ]);
    assert.equal(askedContext(doc, { id: 'e2', role: 'user', text: 'q' }), null);
  });
});

describe('chat context: the messages that carry it', () => {
  it('accepts New topic, attaching and removing chips, resolving references, and a conversation with a divider', () => {
    assert.deepEqual(parseToExtension({ type: 'chat/newTopic' }), { type: 'chat/newTopic' });
    assert.deepEqual(parseToExtension({ type: 'context/attach', id: 'editor', attached: true }), { type: 'context/attach', id: 'editor', attached: true });
    assert.deepEqual(parseToExtension({ type: 'context/resolve', references: ['@queue.ts'] }), { type: 'context/resolve', references: ['@queue.ts'] });
    const entries: ChatEntry[] = [
      { id: 'e1', role: 'user', text: 'q', context: [{ kind: 'selection', path: 'a.ts', startLine: 1, endLine: 2 }], unresolved: ['@b.ts'], asked: 'q' },
      { id: 'e2', role: 'divider', text: '' },
    ];
    const init: ToWebview['chat/init'] = { entries, memory: { phase: 'ready', files: 1, tokens: 1, model: '', device: '', about: '', lastUpdate: '', detail: '', action: null }, progress: null, busyId: null, canUndoClear: false };
    assert.deepEqual(parseToWebview(msg<ToWebview, 'chat/init'>('chat/init', init)), { type: 'chat/init', ...init });
    const chips = msg<ToWebview, 'chat/context'>('chat/context', { chips: [{ id: 'editor', context: { kind: 'editor', path: 'a.ts' }, attached: false, note: '' }] });
    assert.deepEqual(parseToWebview(chips), chips);
    const refs = msg<ToWebview, 'chat/references'>('chat/references', { references: [{ written: '@a.ts', path: null, note: 'no such file' }] });
    assert.deepEqual(parseToWebview(refs), refs);
  });

  it('BAD CALL - a webview cannot attach a path, a chip that does not exist, or too many references', () => {
    const refused = (m: unknown) => assert.throws(() => parseToExtension(m), ValidationError, JSON.stringify(m));
    refused({ type: 'context/attach', id: 'editor', attached: true, path: '/etc/passwd' });
    refused({ type: 'context/attach', id: 'file', attached: true });
    refused({ type: 'context/attach', id: 'editor' });
    refused({ type: 'chat/ask', question: 'q', context: [{ path: '/etc/passwd' }] });
    refused({ type: 'context/resolve', references: Array.from({ length: MAX_REFERENCES + 1 }, (_, i) => `#f${i}.ts`) });
    refused({ type: 'context/resolve', references: [''] });
    refused({ type: 'context/resolve', references: [`#${'a'.repeat(400)}.ts`] });
    refused({ type: 'chat/newTopic', now: true });
  });

  it('BAD CALL - an entry with a bad context, or a role that is none of question, answer, divider', () => {
    const entry = (e: object) => ({ type: 'chat/append', entry: { id: 'e1', role: 'user', text: 'q', ...e } });
    assert.throws(() => parseToWebview(entry({ role: 'system' })), ValidationError);
    assert.throws(() => parseToWebview(entry({ context: [{ kind: 'clipboard', path: 'a.ts' }] })), ValidationError);
    assert.throws(() => parseToWebview(entry({ context: [{ kind: 'selection', path: 'a.ts', startLine: 0 }] })), ValidationError);
    assert.throws(() => parseToWebview(entry({ context: [{ kind: 'selection', path: '' }] })), ValidationError);
  });
});
