/**
 * Markdown for the webviews: `marked` turns the model's text into HTML, `highlight.js` colours code blocks,
 * `DOMPurify` removes everything that could run (scripts, event handlers, javascript: URLs, forms, frames),
 * and `path:line` references become citation links that ask the extension to open the file.
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
  /** Renders markdown into a sanitised fragment, with highlighted code and citation links. */
  render(markdownText: string): DocumentFragment;
  /** Plain text (a question as typed), with citation links and nothing else: no markup is interpreted. */
  renderPlain(text: string): DocumentFragment;
  /** The same, serialised (for tests and for the open-as-markdown preview). */
  renderToString(markdownText: string): string;
}

/** Elements in which text is never turned into citation links. */
const NO_LINKS = new Set(['A', 'PRE', 'SCRIPT', 'STYLE']);

export function createMarkdownRenderer(win: Window & typeof globalThis): MarkdownRenderer {
  const purify = createDOMPurify(win);
  const marked = new Marked({
    gfm: true,
    breaks: true,
    async: false,
    renderer: {
      code({ text, lang }) {
        const language = (lang ?? '').trim().split(/\s+/)[0] ?? '';
        const known = language !== '' && hljs.getLanguage(language) !== undefined;
        const html = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
        const cls = known ? ` class="hljs language-${escapeHtml(language)}"` : ' class="hljs"';
        return `<pre><code${cls}>${html}</code></pre>\n`;
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
  const linkify = (root: Node): void => {
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
      const found = findCitations(value);
      if (found.length === 0) continue;
      const frag = doc.createDocumentFragment();
      let at = 0;
      for (const c of found) {
        if (c.start > at) frag.append(doc.createTextNode(value.slice(at, c.start)));
        const a = doc.createElement('a');
        a.className = 'citation';
        a.href = '#';
        a.dataset.path = c.path;
        a.dataset.line = String(c.line);
        a.title = `Open ${c.path} at line ${c.line}`;
        a.setAttribute('aria-label', `Open ${c.path} at line ${c.line}`);
        a.textContent = value.slice(c.start, c.end);
        frag.append(a);
        at = c.end;
      }
      if (at < value.length) frag.append(doc.createTextNode(value.slice(at)));
      t.replaceWith(frag);
    }
  };

  const render = (markdownText: string): DocumentFragment => {
    const html = marked.parse(markdownText) as string;
    const fragment = purify.sanitize(html, {
      RETURN_DOM_FRAGMENT: true,
      FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'iframe', 'object', 'embed', 'svg', 'math', 'img', 'video', 'audio', 'link', 'meta', 'base'],
      FORBID_ATTR: ['style'],
      ALLOW_DATA_ATTR: false,
    });
    linkify(fragment);
    return fragment;
  };
  return {
    render,
    renderPlain(text) {
      const fragment = doc.createDocumentFragment();
      fragment.append(doc.createTextNode(text));
      linkify(fragment);
      return fragment;
    },
    renderToString(markdownText) {
      const div = doc.createElement('div');
      div.append(render(markdownText));
      return div.innerHTML;
    },
  };
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
