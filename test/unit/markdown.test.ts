import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { codeBlocks } from '../../webview/answer-text';
import { createMarkdownRenderer } from '../../webview/markdown';
import type { Citation } from '../../webview/protocol';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const win = dom.window as unknown as Window & typeof globalThis;
const md = createMarkdownRenderer(win);

/** Renders into a live document and returns the container, so tests can query the result. */
function render(text: string, citations?: Citation[]): HTMLElement {
  const div = win.document.createElement('div');
  div.innerHTML = md.renderToString(text, citations);
  return div;
}

const cite = (text: string, verified: boolean, note: string): Citation => {
  const [, path, line] = /^(.*):(\d+)/.exec(text)!;
  return { text, path: path!, line: Number(line), verified, note };
};

describe('markdown: rendering', () => {
  it('renders paragraphs, lists, emphasis and inline code', () => {
    const div = render('Hello **world**\n\n- one\n- two `x`');
    assert.equal(div.querySelector('strong')?.textContent, 'world');
    assert.equal(div.querySelectorAll('li').length, 2);
    assert.equal(div.querySelector('li code')?.textContent, 'x');
  });

  it('highlights fenced code blocks of known languages and escapes unknown ones', () => {
    const div = render('```ts\nconst x: number = 1; // note\n```\n\n```nosuchlang\n<b>raw</b>\n```');
    const blocks = div.querySelectorAll('pre code');
    assert.equal(blocks.length, 2);
    assert.ok(blocks[0]!.classList.contains('language-ts'));
    assert.ok(blocks[0]!.querySelector('.hljs-keyword'), 'keywords are marked');
    assert.ok(blocks[0]!.querySelector('.hljs-comment'), 'comments are marked');
    assert.equal(blocks[1]!.querySelector('b'), null);
    assert.equal(blocks[1]!.textContent?.trim(), '<b>raw</b>');
  });
});

describe('markdown: what the model writes is shown as written', () => {
  it('shows a quoted doc comment as a code block, not as a bullet list', () => {
    const div = render('From its doc comment:\n/**\n * Leases the oldest job.\n * @param kinds which kinds\n * @returns the job\n */');
    assert.equal(div.querySelectorAll('li').length, 0, 'no list items');
    assert.equal(div.querySelectorAll('ul').length, 0);
    assert.equal(div.querySelector('pre code')?.textContent, '/**\n * Leases the oldest job.\n * @param kinds which kinds\n * @returns the job\n */');
  });

  it('shows a file the model writes as a highlighted code block captioned with its path', () => {
    const div = render(";\n<|file|>test/queue.test.ts\nimport { create, test } from 'node:assert';\nimport");
    const block = div.querySelector('.code-block');
    assert.ok(block, 'a code block');
    assert.equal(block.querySelector('.code-caption')?.textContent, 'test/queue.test.ts');
    assert.ok(block.querySelector('code.language-ts .hljs-keyword'), 'highlighted as TypeScript');
    assert.doesNotMatch(div.textContent ?? '', /<\|file\|>/);
  });

  it('shows HTML in an answer as its text, and so every code block it renders is one codeBlocks finds', () => {
    const text = 'Use <b>bold</b> like this:\n\n<pre>not a block</pre>\n\n```html\n<div>x</div>\n```';
    const div = render(text);
    assert.equal(div.querySelector('b'), null);
    assert.match(div.textContent ?? '', /Use <b>bold<\/b> like this/);
    assert.match(div.querySelector('.raw-html')?.textContent ?? '', /<pre>not a block<\/pre>/);
    assert.deepEqual([...div.querySelectorAll('pre')].map((p) => p.textContent), codeBlocks(text));
  });
});

describe('markdown: citations as the engine checked them', () => {
  const answer = '`drain` is defined in src/queue.ts:42, see also `README.md:3`; the plugins are in docs/plugins.md:14.';
  const checked = [
    cite('src/queue.ts:42', true, 'function drain'),
    cite('README.md:3', true, 'line 3 of 20'),
    cite('docs/plugins.md:14', false, 'docs/plugins.md is not a file of the workspace'),
  ];

  it('makes verified citations links, with their target in data attributes only', () => {
    const div = render(answer, checked);
    const links = [...div.querySelectorAll('a.citation')] as HTMLAnchorElement[];
    assert.deepEqual(
      links.map((a) => [a.textContent, a.dataset.path, a.dataset.line, a.getAttribute('href')]),
      [
        ['src/queue.ts:42', 'src/queue.ts', '42', '#'],
        ['README.md:3', 'README.md', '3', '#'],
      ],
    );
    assert.equal(links[0]!.getAttribute('aria-label'), 'Open src/queue.ts at line 42');
    assert.equal(links[0]!.title, 'Open src/queue.ts at line 42 (function drain)');
  });

  it('shows an unverified citation as plain text with a visible mark and the reason in its title', () => {
    const div = render(answer, checked);
    const marked = [...div.querySelectorAll('.unverified-citation')] as HTMLElement[];
    assert.equal(marked.length, 1);
    assert.equal(marked[0]!.tagName, 'SPAN', 'not a link');
    assert.equal(marked[0]!.closest('a'), null);
    assert.equal(marked[0]!.firstChild?.textContent, 'docs/plugins.md:14');
    assert.equal(marked[0]!.querySelector('.unverified-badge')?.textContent, 'unverified');
    assert.equal(marked[0]!.title, 'Not verified: docs/plugins.md is not a file of the workspace');
    assert.equal(div.querySelector('a[data-path="docs/plugins.md"]'), null);
  });

  it('links nothing before the citations are checked (an answer still streaming)', () => {
    const div = render(answer);
    assert.equal(div.querySelectorAll('a').length, 0);
    assert.equal(div.querySelectorAll('.unverified-citation').length, 0);
    assert.match(div.textContent ?? '', /src\/queue\.ts:42.*docs\/plugins\.md:14/);
  });

  it('leaves a path:line the engine did not report as plain text', () => {
    const div = render('See src/queue.ts:42 and src/store.ts:7.', [cite('src/queue.ts:42', true, 'function drain')]);
    assert.deepEqual([...div.querySelectorAll('a.citation')].map((a) => a.textContent), ['src/queue.ts:42']);
    assert.match(div.textContent ?? '', /src\/store\.ts:7\./);
  });

  it('matches whole citations only: a span reference, and no match inside a longer path or number', () => {
    const div = render('Lines src/a.ts:10-20, not lib/src/a.ts:10 nor src/a.ts:100.', [
      cite('src/a.ts:10-20', false, 'line 20 is outside src/a.ts (12 lines)'),
      cite('src/a.ts:10', true, 'line 10 of 12'),
    ]);
    assert.deepEqual([...div.querySelectorAll('.unverified-citation')].map((e) => e.firstChild?.textContent), ['src/a.ts:10-20']);
    assert.equal(div.querySelectorAll('a.citation').length, 0, 'lib/src/a.ts:10 and src/a.ts:100 are other references');
  });

  it('marks every occurrence of a citation written twice', () => {
    const div = render('src/queue.ts:42 and again src/queue.ts:42', [cite('src/queue.ts:42', true, 'function drain')]);
    assert.equal(div.querySelectorAll('a.citation').length, 2);
  });

  it('does not make links inside code blocks', () => {
    const div = render('```\nsrc/queue.ts:42\n```', [cite('src/queue.ts:42', true, 'function drain')]);
    assert.equal(div.querySelectorAll('a').length, 0);
  });

  it('escapes citation text used in its search (a path with regex characters)', () => {
    const div = render('In src/a+b(1).ts:3 and src/aab1.ts:3', [cite('src/a+b(1).ts:3', true, 'line 3 of 9')]);
    assert.deepEqual([...div.querySelectorAll('a.citation')].map((a) => a.textContent), ['src/a+b(1).ts:3']);
  });

});

describe('markdown: a question as typed', () => {
  it('renders plain text with citation links and no markup', () => {
    const div = win.document.createElement('div');
    div.append(md.renderPlain('What is at src/queue.ts:12? <b>not bold</b> **nor this**'));
    assert.equal(div.querySelector('b'), null);
    assert.equal(div.querySelectorAll('a.citation').length, 1);
    assert.equal((div.querySelector('a.citation') as HTMLAnchorElement).dataset.line, '12');
    assert.match(div.textContent ?? '', /<b>not bold<\/b> \*\*nor this\*\*/);
  });

});

describe('markdown: EXPECTED FAILURE - XSS payloads are rendered inert', () => {
  const payloads = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '<svg onload=alert(1)><circle/></svg>',
    '[click](javascript:alert(1))',
    '[click](JaVaScRiPt:alert(1))',
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    '<div onclick="alert(1)" style="background:url(javascript:alert(1))">x</div>',
    '<form action="https://evil.example"><input name=a><button>go</button></form>',
    '<object data="x"></object><embed src="x">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
    '<a href="data:text/html,<script>alert(1)</script>">d</a>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    '<base href="https://evil.example/">',
    '![x](https://evil.example/track.png)',
    '<details open ontoggle=alert(1)>',
    '<a href="vscode://command/workbench.action.terminal.new">cmd</a>',
    '<a href="command:workbench.action.terminal.new">cmd</a>',
  ];

  for (const payload of payloads) {
    it(`renders ${JSON.stringify(payload).slice(0, 60)} without anything that runs or loads`, () => {
      const div = render(`Answer: ${payload}`);
      for (const el of [div, ...div.querySelectorAll('*')]) {
        assert.ok(!['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED', 'FORM', 'INPUT', 'BUTTON', 'STYLE', 'IMG', 'SVG', 'MATH', 'META', 'BASE'].includes(el.tagName.toUpperCase()), `${el.tagName} survived`);
        for (const attr of el.getAttributeNames()) {
          assert.ok(!/^on/i.test(attr), `${el.tagName} kept ${attr}`);
          assert.notEqual(attr, 'style', `${el.tagName} kept a style attribute`);
        }
        const href = el.getAttribute('href');
        if (href !== null) assert.match(href, /^(https?:|#)/, `${el.tagName} kept href ${href}`);
      }
    });
  }

  it('keeps the text of a refused payload visible, escaped', () => {
    const div = render('`<script>alert(1)</script>`');
    assert.equal(div.querySelector('code')?.textContent, '<script>alert(1)</script>');
    assert.equal(div.querySelector('script'), null);
  });
});
