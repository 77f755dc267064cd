/**
 * The code a question is about, as chips: above the question box, what the next question will be asked with
 * (the selection "Ask about Selection" attached, with × to remove it; the active editor's file, a toggle that is
 * off until clicked; each `#file` / `@file` reference of the draft, resolved to its path or marked as not found,
 * and why); under a question in the conversation, what it was asked with.
 *
 * Chips are built with DOM calls and text only. Takes the document it works in, so it runs in a webview and,
 * with jsdom, in node unit tests.
 */
import { CONTEXT_CHIPS, type ChatEntry, type ContextChip, type ContextChipId, type ContextView, type ReferenceView } from '../protocol';

/** `path`, `path:12` or `path:12-30`. */
export function contextLabel(c: ContextView): string {
  if (c.startLine === undefined) return c.path;
  const end = c.endLine ?? c.startLine;
  return end === c.startLine ? `${c.path}:${c.startLine}` : `${c.path}:${c.startLine}-${end}`;
}

const KIND: Record<ContextView['kind'], string> = { selection: 'selection', reference: 'reference', editor: 'current file' };

function chip(doc: Document, className: string, label: string, title: string): HTMLSpanElement {
  const span = doc.createElement('span');
  span.className = `chip ${className}`;
  span.title = title;
  const text = doc.createElement('span');
  text.className = 'chip-label';
  text.textContent = label;
  span.append(text);
  return span;
}

function chipButton(doc: Document, id: ContextChipId, attach: boolean, label: string, title: string): HTMLButtonElement {
  const b = doc.createElement('button');
  b.type = 'button';
  b.dataset.chip = id;
  b.dataset.attach = String(attach);
  b.textContent = label;
  b.title = title;
  b.setAttribute('aria-label', title);
  return b;
}

/**
 * The composer's chips: the context chips as the extension offers them, then the draft's references
 * (`resolved` holds what the extension said of each; one it has not answered yet shows as being looked up).
 */
export function composerChips(doc: Document, chips: readonly ContextChip[], references: readonly string[], resolved: ReadonlyMap<string, ReferenceView>): HTMLElement[] {
  const shown: HTMLElement[] = [];
  for (const c of chips) {
    const label = contextLabel(c.context);
    const note = c.note ? ` (${c.note})` : '';
    if (c.id === 'selection') {
      const el = chip(doc, 'attached', label, `The selected lines are re-read before the next question${note}`);
      el.append(chipButton(doc, 'selection', false, '×', `Remove ${label} from the next question`));
      shown.push(el);
    } else {
      const toggle = chipButton(
        doc,
        'editor',
        !c.attached,
        c.attached ? `${label} · current file ×` : `+ ${label} · current file`,
        c.attached ? `Stop re-reading the current file ${label} before each question` : `Re-read the current file ${label} before each question${note}`,
      );
      toggle.className = `chip ${c.attached ? 'attached' : 'offered'}`;
      toggle.setAttribute('aria-pressed', String(c.attached));
      shown.push(toggle);
    }
  }
  for (const written of references) {
    const r = resolved.get(written);
    if (!r) shown.push(chip(doc, 'reference pending', `${written} …`, 'Looking for this file in the workspace'));
    else if (r.path !== null) shown.push(chip(doc, 'reference attached', `${written} → ${r.path}`, `${r.path} is re-read before the question`));
    else shown.push(chip(doc, 'reference unresolved', `⚠ ${written}: ${r.note}`, `Not sent: ${written} names no single file of the workspace (${r.note})`));
  }
  return shown;
}

/** Under a question: the code it was asked about, and the references that named no file; null when none. */
export function askedContext(doc: Document, entry: ChatEntry): HTMLElement | null {
  if (entry.role !== 'user' || (!entry.context?.length && !entry.unresolved?.length)) return null;
  const row = doc.createElement('div');
  row.className = 'chips asked-context';
  row.setAttribute('aria-label', 'Asked about');
  for (const c of entry.context ?? []) row.append(chip(doc, 'attached', `${contextLabel(c)} · ${KIND[c.kind]}`, `Re-read before this question (${KIND[c.kind]})`));
  for (const written of entry.unresolved ?? []) row.append(chip(doc, 'reference unresolved', `⚠ ${written}: not found`, `${written} named no single file of the workspace: it was not re-read`));
  return row;
}

/** Calls `act` for a click on a chip's button under `root` (one delegated listener). */
export function onChipAction(root: HTMLElement, act: (id: ContextChipId, attached: boolean) => void): void {
  root.addEventListener('click', (e) => {
    const b = (e.target as Element).closest('button[data-chip]') as HTMLButtonElement | null;
    const id = CONTEXT_CHIPS.find((c) => c === b?.dataset.chip);
    if (!b || !id) return;
    e.preventDefault();
    act(id, b.dataset.attach === 'true');
  });
}
