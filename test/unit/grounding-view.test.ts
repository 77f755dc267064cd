import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { openLinksOnClick, renderGrounding } from '../../webview/grounding';
import { createMarkdownRenderer } from '../../webview/markdown';
import type { GroundingView } from '../../webview/protocol';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const win = dom.window as unknown as Window & typeof globalThis;
const doc = win.document;

/** The engine's grounding of "Where is `retryWithBackoff` defined?" on the demo workspace, plus a re-read file. */
const grounding: GroundingView = {
  sources: [
    { path: 'src/queue.ts', startLine: 18, endLine: 21, reason: 'definition', definition: 'retryWithBackoff' },
    { path: 'README.md', startLine: 7, endLine: 7, reason: 'search' },
  ],
  citations: [{ text: 'src/queue.ts:18', path: 'src/queue.ts', line: 18, verified: true, note: 'function retryWithBackoff' }],
  nothingFound: false,
};

/** A container in the document, so that clicks bubble as in a webview. */
function mount(node: Node | null): HTMLElement {
  const div = doc.createElement('div');
  if (node) div.append(node);
  doc.body.replaceChildren(div);
  return div;
}

function click(el: Element): boolean {
  return el.dispatchEvent(new win.MouseEvent('click', { bubbles: true, cancelable: true }));
}

describe('grounding view: the sources under an answer', () => {
  it('lists each source as path:start-end with its definition name', () => {
    const root = mount(renderGrounding(doc, grounding, 'answer'));
    assert.equal(root.querySelector('.sources > summary')?.textContent, 'Sources (2)');
    assert.equal((root.querySelector('details.sources') as HTMLDetailsElement).open, true, 'shown without a click');
    const items = [...root.querySelectorAll('.sources li')].map((li) => li.textContent);
    assert.deepEqual(items, ['src/queue.ts:18-21 retryWithBackoff', 'README.md:7']);
    const first = root.querySelector('a.source') as HTMLAnchorElement;
    assert.equal(first.title, 'Open src/queue.ts at line 18 (the definition the question names)');
    assert.equal(root.querySelector('.nothing-found'), null);
  });

  it('opens a source at the first line of its span, and a verified citation at its line', () => {
    const md = createMarkdownRenderer(win);
    const root = mount(null);
    root.append(md.render('Defined at src/queue.ts:18.', grounding.citations), renderGrounding(doc, grounding, 'answer')!);
    const opened: [string, number][] = [];
    openLinksOnClick(root, (path, line) => opened.push([path, line]));
    const sources = [...root.querySelectorAll('a.source')];
    assert.equal(click(sources[1]!), false, 'the click does not follow href="#"');
    click(sources[0]!);
    click(root.querySelector('a.citation')!);
    assert.deepEqual(opened, [
      ['README.md', 7],
      ['src/queue.ts', 18],
      ['src/queue.ts', 18],
    ]);
  });

  it('opens nothing for a link the model wrote itself (no data attributes survive the sanitiser)', () => {
    const md = createMarkdownRenderer(win);
    const root = mount(md.render('<a class="source" href="#" data-path="/etc/passwd" data-line="1">x</a> <a class="citation">y</a>', []));
    const opened: unknown[] = [];
    openLinksOnClick(root, (path, line) => opened.push([path, line]));
    for (const a of root.querySelectorAll('a')) click(a);
    assert.deepEqual(opened, []);
  });

  it('says when no code matched, so the answer is from the memory alone', () => {
    const root = mount(renderGrounding(doc, { sources: [], citations: [], nothingFound: true }, 'answer'));
    assert.equal(root.querySelector('.nothing-found')?.textContent, 'No code in the workspace matched: this answer is from the memory alone.');
    assert.equal(root.querySelector('.sources'), null);
    const summary = mount(renderGrounding(doc, { sources: [], citations: [], nothingFound: true }, 'summary'));
    assert.match(summary.textContent ?? '', /this summary is from the memory alone/);
  });

  it('shows nothing when there were no sources and retrieval was not asked (re-read off)', () => {
    assert.equal(renderGrounding(doc, { sources: [], citations: [], nothingFound: false }, 'answer'), null);
  });
});
