/**
 * What an answer was grounded on, shown under it in the chat and in the summary panel: the code the engine
 * re-read or quoted for it ("Sources", each a link to the file at the span's first line), or a line saying that
 * no code in the workspace matched, so the answer comes from the memory alone.
 *
 * Takes the document it works in, so it runs in a webview and, with jsdom, in node unit tests.
 */
import type { GroundingView, Source } from './protocol';

const WHY: Record<Source['reason'], string> = {
  context: 'the code you pointed at',
  definition: 'the definition the question names',
  file: 'the file asked about',
  search: 'matched the question',
  outline: "the file's outline",
};

/** The grounding section of an answer, or null when there is nothing to show. */
export function renderGrounding(doc: Document, grounding: GroundingView, what: 'answer' | 'summary'): HTMLElement | null {
  if (grounding.sources.length === 0 && !grounding.nothingFound) return null;
  const section = doc.createElement('section');
  section.className = 'grounding';
  section.setAttribute('aria-label', `What the ${what} is based on`);
  if (grounding.nothingFound) {
    const p = doc.createElement('p');
    p.className = 'nothing-found';
    p.textContent = `No code in the workspace matched: this ${what} is from the memory alone.`;
    section.append(p);
  }
  if (grounding.sources.length > 0) {
    const details = doc.createElement('details');
    details.className = 'sources';
    details.open = true;
    const summary = doc.createElement('summary');
    summary.textContent = `Sources (${grounding.sources.length})`;
    const list = doc.createElement('ul');
    for (const s of grounding.sources) list.append(sourceItem(doc, s));
    details.append(summary, list);
    section.append(details);
  }
  return section;
}

function sourceItem(doc: Document, s: Source): HTMLLIElement {
  const li = doc.createElement('li');
  const a = doc.createElement('a');
  a.className = 'source';
  a.href = '#';
  a.dataset.path = s.path;
  a.dataset.line = String(s.startLine);
  a.textContent = s.endLine > s.startLine ? `${s.path}:${s.startLine}-${s.endLine}` : `${s.path}:${s.startLine}`;
  a.title = `Open ${s.path} at line ${s.startLine} (${WHY[s.reason]})`;
  li.append(a);
  if (s.reason === 'context') li.append(' ', note(doc, 'your context'));
  if (s.requestedEndLine !== undefined) li.append(' ', note(doc, `cut to fit the re-read budget (asked for lines ${s.startLine}-${s.requestedEndLine})`));
  if (s.definition) {
    const name = doc.createElement('span');
    name.className = 'source-name';
    name.textContent = s.definition;
    li.append(' ', name);
  }
  return li;
}

function note(doc: Document, text: string): HTMLSpanElement {
  const span = doc.createElement('span');
  span.className = 'source-note';
  span.textContent = `(${text})`;
  return span;
}

/**
 * Calls `open` for a click on a verified citation or a source under `root` (one delegated listener). Only links
 * this webview made carry the data attributes: the sanitiser strips them from anything the model writes.
 */
export function openLinksOnClick(root: HTMLElement, open: (path: string, line: number) => void): void {
  root.addEventListener('click', (e) => {
    const a = (e.target as Element).closest('a.citation, a.source') as HTMLAnchorElement | null;
    if (!a) return;
    e.preventDefault();
    const line = Number(a.dataset.line);
    if (a.dataset.path && Number.isInteger(line) && line >= 1) open(a.dataset.path, line);
  });
}
