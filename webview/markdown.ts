/**
 * Markdown for the webviews: `marked` turns the model's text into HTML, `highlight.js` colours code blocks,
 * `DOMPurify` removes everything that could run (scripts, event handlers, javascript: URLs, forms, frames),
 * and the `path:line` citations of an answer are shown as the engine checked them: a verified one becomes a
 * link that asks the extension to open the file, any other is plain text marked unverified.
 *
 * What the model writes is shown as written: files and doc comments it quotes become code blocks
 * (./answer-text.ts), and HTML in its text is shown as text, not interpreted. So every `pre` comes from a code
 * block of the answer, in the order `codeBlocks` finds them.
 *
 * The renderer takes the window it works in, so it runs in a webview and, with jsdom, in node unit tests.
 * Citation links carry their target in data attributes only (`href="#"`): the click handler posts
 * `citation/open` and the extension decides whether the path may be opened.
 */
import createDOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import css from 'highlight.js/lib/languages/css';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked } from 'marked';
import { MARKDOWN_OPTIONS, lexAnswer } from './answer-text';
import type { Citation as CheckedCitation } from './protocol';

for (const [name, lang] of Object.entries({ bash, css, javascript, json, markdown, python, typescript, xml, yaml })) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(['sh', 'shell', 'console'], { languageName: 'bash' });
hljs.registerAliases(['ts', 'tsx', 'mts', 'cts'], { languageName: 'typescript' });
hljs.registerAliases(['js', 'jsx', 'mjs', 'cjs'], { languageName: 'javascript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['md'], { languageName: 'markdown' });
hljs.registerAliases(['yml'], { languageName: 'yaml' });

/** A `path:line` reference in text. */
export interface Citation {
  path: string;
  line: number;
  /** Where the reference starts and ends in the text searched. */
  start: number;
  end: number;
}

/**
 * `path:line` where the file name has an extension that starts with a letter (`src/app.ts:12`, `README.md:3`,
 * `./a/b.py:7:2`). The character before must not be part of a word or URL (so `http://x.io:80` is not one).
 */
const CITATION = /(?<![\w/.:@-])((?:\.{1,2}\/)*(?:[\w@.+-]+\/)*[\w@+-][\w@.+-]*\.[A-Za-z][A-Za-z0-9]{0,9}):(\d{1,7})(?::\d{1,5})?(?![\w/])/g;

/** Finds the citations in a piece of plain text. */
export function findCitations(text: string): Citation[] {
  const out: Citation[] = [];
  for (const m of text.matchAll(CITATION)) {
    const line = Number(m[2]);
    if (line < 1) continue;
    out.push({ path: m[1]!, line, start: m.index!, end: m.index! + m[0].length });
  }
  return out;
}

export interface MarkdownRenderer {
  /**
   * Renders markdown into a sanitised fragment with highlighted code. `citations` are the answer's citations as
   * the engine checked them: the verified ones become links, the others are marked unverified. Without them
   * (an answer still streaming, not checked yet) every `path:line` is plain text.
   */
  render(markdownText: string, citations?: readonly CheckedCitation[]): DocumentFragment;
  /** Plain text (a question as typed), with citation links and nothing else: no markup is interpreted. */
  renderPlain(text: string): DocumentFragment;
  /** `render`, serialised (for tests). */
  renderToString(markdownText: string, citations?: readonly CheckedCitation[]): string;
}

/** Elements in which text is never turned into citation links. */
const NO_LINKS = new Set(['A', 'PRE', 'SCRIPT', 'STYLE']);

export function createMarkdownRenderer(win: Window & typeof globalThis): MarkdownRenderer {
  const purify = createDOMPurify(win);
  const marked = new Marked({
    ...MARKDOWN_OPTIONS,
    async: false,
    renderer: {
      // The info string is the language, then a caption (the path of a file the model wrote).
      code({ text, lang }) {
        const [language = '', ...caption] = (lang ?? '').trim().split(/\s+/);
        const known = language !== '' && hljs.getLanguage(language) !== undefined;
        const html = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
        const cls = known ? ` class="hljs language-${escapeHtml(language)}"` : ' class="hljs"';
        const title = caption.length > 0 ? `<div class="code-caption">${escapeHtml(caption.join(' '))}</div>` : '';
        return `<div class="code-block">${title}<pre><code${cls}>${html}</code></pre></div>\n`;
      },
      html({ text, block }) {
        return block ? `<p class="raw-html">${escapeHtml(text)}</p>\n` : escapeHtml(text);
      },
    },
  });
  // Links the model writes may only point at web pages or anchors; anything else loses its href.
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A') {
      const href = node.getAttribute('href') ?? '';
      if (!/^(https?:|#)/i.test(href)) node.removeAttribute('href');
      node.removeAttribute('target');
    }
  });

  const doc = win.document;
  /** Replaces pieces of the text under `root` (outside links and code blocks): `find` says which, and by what. */
  const replaceInText = (root: Node, find: (text: string) => { start: number; end: number; node: Node }[]): void => {
    const walker = doc.createTreeWalker(root, win.NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => {
        for (let p = n.parentNode; p && p !== root; p = p.parentNode) {
          if (NO_LINKS.has(p.nodeName)) return win.NodeFilter.FILTER_REJECT;
        }
        return win.NodeFilter.FILTER_ACCEPT;
      },
    });
    const texts: Text[] = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) texts.push(n as Text);
    for (const t of texts) {
      const value = t.data;
      const found = find(value);
      if (found.length === 0) continue;
      const frag = doc.createDocumentFragment();
      let at = 0;
      for (const { start, end, node } of found) {
        if (start > at) frag.append(doc.createTextNode(value.slice(at, start)));
        frag.append(node);
        at = end;
      }
      if (at < value.length) frag.append(doc.createTextNode(value.slice(at)));
      t.replaceWith(frag);
    }
  };

  const link = (path: string, line: number, text: string, note = ''): HTMLAnchorElement => {
    const a = doc.createElement('a');
    a.className = 'citation';
    a.href = '#';
    a.dataset.path = path;
    a.dataset.line = String(line);
    a.title = `Open ${path} at line ${line}${note ? ` (${note})` : ''}`;
    a.setAttribute('aria-label', `Open ${path} at line ${line}`);
    a.textContent = text;
    return a;
  };

  /** An unverified citation: its text, a visible "unverified" mark (not colour alone), and why in the title. */
  const unverified = (c: CheckedCitation): HTMLElement => {
    const span = doc.createElement('span');
    span.className = 'unverified-citation';
    span.title = `Not verified: ${c.note}`;
    const badge = doc.createElement('span');
    badge.className = 'unverified-badge';
    badge.textContent = 'unverified';
    span.append(doc.createTextNode(c.text), badge);
    return span;
  };

  /** Marks the checked citations where the answer wrote them: the same boundaries as the engine's search. */
  const markCitations = (root: Node, citations: readonly CheckedCitation[]): void => {
    const byText = new Map(citations.map((c) => [c.text, c]));
    if (byText.size === 0) return;
    // Longest first, so `a.ts:10-20` wins over `a.ts:10`.
    const alternatives = [...byText.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    const pattern = new RegExp(`(?<![\\w/.@:-])(?:${alternatives.join('|')})(?![\\w:/])`, 'g');
    replaceInText(root, (text) =>
      [...text.matchAll(pattern)].map((m) => {
        const c = byText.get(m[0])!;
        return { start: m.index!, end: m.index! + m[0].length, node: c.verified ? link(c.path, c.line, c.text, c.note) : unverified(c) };
      }),
    );
  };

  const render = (markdownText: string, citations?: readonly CheckedCitation[]): DocumentFragment => {
    const html = marked.parser(lexAnswer(markdownText));
    const fragment = purify.sanitize(html, {
      RETURN_DOM_FRAGMENT: true,
      FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math', 'img', 'video', 'audio', 'link', 'meta', 'base'],
      FORBID_ATTR: ['style'],
      ALLOW_DATA_ATTR: false,
    });
    if (citations) markCitations(fragment, citations);
    return fragment;
  };
  return {
    render,
    renderPlain(text) {
      const fragment = doc.createDocumentFragment();
      fragment.append(doc.createTextNode(text));
      replaceInText(fragment, (value) => findCitations(value).map((c) => ({ ...c, node: link(c.path, c.line, value.slice(c.start, c.end)) })));
      return fragment;
    },
    renderToString(markdownText, citations) {
      const div = doc.createElement('div');
      div.append(render(markdownText, citations));
      return div.innerHTML;
    },
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
