import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { addCodeActions, answerActions, cutOffNotice, onAnswerControl, type AnswerControl } from '../../webview/chat/answer-view';
import { createMarkdownRenderer } from '../../webview/markdown';
import type { ChatEntry } from '../../webview/protocol';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const win = dom.window as unknown as Window & typeof globalThis;
const doc = win.document;
const md = createMarkdownRenderer(win);

const done: ChatEntry = { id: 'e2', role: 'assistant', text: 'The queue leases jobs.', status: 'done', stats: '5 tokens' };

/** An answer article in the document, as the chat builds it, with `parts` inside; returns the clicks' controls. */
function mount(...parts: (HTMLElement | null)[]): { article: HTMLElement; controls: AnswerControl[] } {
  const log = doc.createElement('main');
  const article = doc.createElement('article');
  article.className = 'entry assistant';
  article.dataset.id = 'e2';
  article.append(...parts.filter((p): p is HTMLElement => p !== null));
  log.append(article);
  doc.body.replaceChildren(log);
  const controls: AnswerControl[] = [];
  onAnswerControl(log, (c) => controls.push(c));
  return { article, controls };
}

const labels = (el: Element | null) => [...(el?.querySelectorAll('button') ?? [])].map((b) => b.textContent);
const click = (el: Element) => el.dispatchEvent(new win.MouseEvent('click', { bubbles: true }));

describe('chat: the controls under an answer', () => {
  it('offers Copy and Regenerate under a finished answer, and posts them with the answer id', () => {
    const bar = answerActions(doc, done, true);
    assert.deepEqual(labels(bar), ['Copy', 'Regenerate']);
    const { controls } = mount(bar);
    for (const b of bar!.querySelectorAll('button')) click(b);
    assert.deepEqual(controls, [{ kind: 'copy', id: 'e2', block: null }, { kind: 'regenerate', id: 'e2' }]);
  });

  it('shows nothing while the answer streams, and no Regenerate without the question it answers', () => {
    assert.equal(answerActions(doc, { ...done, status: 'streaming' }, true), null);
    assert.deepEqual(labels(answerActions(doc, done, false)), ['Copy']);
  });

  it("a failed answer: its action's button and Try again, no Copy", () => {
    const bar = answerActions(doc, { ...done, status: 'error', text: 'No GPU adapter found.', action: 'useCpu' }, true);
    assert.deepEqual(labels(bar), ['Use CPU', 'Try again']);
    const { controls } = mount(bar);
    click(bar!.querySelector('button')!);
    assert.deepEqual(controls, [{ kind: 'run', id: 'e2', command: 'useCpu' }]);
  });
});

describe('chat: an answer cut off at its token limit', () => {
  it('says so and offers Continue, which asks for twice the room', () => {
    const notice = cutOffNotice(doc, { ...done, cutOff: 256 }, true);
    assert.match(notice?.textContent ?? '', /^Cut off at 256 tokens — continue\? Continue$/);
    assert.match(notice!.querySelector('button')!.title, /room for 512 tokens/);
    const { controls } = mount(notice);
    click(notice!.querySelector('button')!);
    assert.deepEqual(controls, [{ kind: 'continue', id: 'e2' }]);
  });

  it('says nothing for an answer that ended by itself, and offers no Continue at the most there is', () => {
    assert.equal(cutOffNotice(doc, done, true), null);
    const most = cutOffNotice(doc, { ...done, cutOff: 4096 }, true);
    assert.equal(most?.textContent, 'Cut off at 4096 tokens, the most one answer may have.');
    assert.equal(most?.querySelector('button'), null);
  });
});

describe('chat: the controls of code blocks', () => {
  it('puts Copy and Insert at cursor on each code block, numbered in order, beside its caption', () => {
    const body = doc.createElement('div');
    body.append(md.render('First:\n<|file|>src/a.ts\nconst a = 1;\n<|endoftext|>\n/**\n * Doc.\n */'));
    addCodeActions(doc, body);
    const bars = [...body.querySelectorAll('.code-actions')];
    assert.equal(bars.length, 2);
    assert.deepEqual(labels(bars[0]!), ['Copy', 'Insert at cursor']);
    assert.equal(bars[0]!.querySelector('.code-caption')?.textContent, 'src/a.ts');
    const { controls } = mount(body);
    click(bars[1]!.querySelectorAll('button')[1]!);
    click(bars[0]!.querySelectorAll('button')[0]!);
    assert.deepEqual(controls, [{ kind: 'insert', id: 'e2', block: 1 }, { kind: 'copy', id: 'e2', block: 0 }]);
  });

  it('EXPECTED FAILURE - a button the model wrote has no effect (the sanitiser removes it)', () => {
    const body = doc.createElement('div');
    body.append(md.render('<button data-control="insert" data-block="0">click</button>'));
    const { controls } = mount(body);
    for (const b of body.querySelectorAll('button')) click(b);
    assert.equal(body.querySelectorAll('button').length, 0);
    assert.deepEqual(controls, []);
  });
});
