import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { JSDOM } from 'jsdom';
import { createMarkdownRenderer } from '../../webview/markdown';

const dom = new JSDOM('<!DOCTYPE html><body></body>');
const win = dom.window as unknown as Window & typeof globalThis;
const md = createMarkdownRenderer(win);

/** Renders into a live document and returns the container, so tests can query the result. */
function render(text: string): HTMLElement {
  const div = win.document.createElement('div');
  div.innerHTML = md.renderToString(text);
  return div;
}

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

  it('turns path:line references into citation links with data attributes only', () => {
    const div = render('`drain` is defined in src/queue.ts:42, see also `README.md:3`.');
    const links = [...div.querySelectorAll('a.citation')] as HTMLAnchorElement[];
    assert.deepEqual(
      links.map((a) => [a.dataset.path, a.dataset.line, a.getAttribute('href')]),
      [
        ['src/queue.ts', '42', '#'],
        ['README.md', '3', '#'],
      ],
    );
    assert.equal(links[0]!.getAttribute('aria-label'), 'Open src/queue.ts at line 42');
  });

  it('renders plain text (a question) with citation links and no markup', () => {
    const div = win.document.createElement('div');
    div.append(md.renderPlain('What is at src/queue.ts:12? <b>not bold</b> **nor this**'));
    assert.equal(div.querySelector('b'), null);
    assert.equal(div.querySelectorAll('a.citation').length, 1);
    assert.equal((div.querySelector('a.citation') as HTMLAnchorElement).dataset.line, '12');
    assert.match(div.textContent ?? '', /<b>not bold<\/b> \*\*nor this\*\*/);
  });

  it('does not make links inside code blocks', () => {
    const div = render('```\nsrc/queue.ts:42\n```');
    assert.equal(div.querySelectorAll('a').length, 0);
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
