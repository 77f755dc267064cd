/**
 * The controls of a finished answer in the chat: Copy and Regenerate under it, a line saying it was cut off at
 * its token limit with Continue, the button of a problem's action, and Copy / Insert at cursor on each of its
 * code blocks. Buttons are built with DOM calls (never from the model's text, whose buttons the sanitiser
 * removes) and carry what they do in data attributes; one delegated listener posts the matching message.
 *
 * Takes the document it works in, so it runs in a webview and, with jsdom, in node unit tests.
 */
import { ACTION_LABELS, PROBLEM_ACTIONS, continuedLimit, type ChatEntry, type ProblemAction } from '../protocol';

/** What a control asks for: `block` for a code block's buttons, `command` for a problem's action. */
export type AnswerControl =
  | { kind: 'copy'; id: string; block: number | null }
  | { kind: 'insert'; id: string; block: number }
  | { kind: 'regenerate'; id: string }
  | { kind: 'continue'; id: string }
  | { kind: 'run'; id: string; command: ProblemAction };

function button(doc: Document, label: string, title: string, data: Record<string, string>): HTMLButtonElement {
  const b = doc.createElement('button');
  b.type = 'button';
  b.className = 'link-button';
  b.textContent = label;
  b.title = title;
  for (const [k, v] of Object.entries(data)) b.dataset[k] = v;
  return b;
}

/** Copy and Regenerate (Try again after a failure), and a failed answer's action; null while it streams. */
export function answerActions(doc: Document, entry: ChatEntry, answersQuestion: boolean): HTMLElement | null {
  if (entry.role !== 'assistant' || entry.status === 'streaming') return null;
  const bar = doc.createElement('div');
  bar.className = 'answer-actions';
  if (entry.action) {
    bar.append(button(doc, ACTION_LABELS[entry.action], ACTION_LABELS[entry.action], { control: 'run', command: entry.action }));
  }
  if (entry.status !== 'error' && entry.text) bar.append(button(doc, 'Copy', 'Copy the answer as markdown', { control: 'copy' }));
  if (answersQuestion) {
    const again = entry.status === 'error' ? 'Try again' : 'Regenerate';
    bar.append(button(doc, again, 'Ask the question again and replace this answer with a new one, sampled afresh', { control: 'regenerate' }));
  }
  return bar.childElementCount > 0 ? bar : null;
}

/** "Cut off at N tokens — continue?" under an answer that stopped at its limit, not by itself. */
export function cutOffNotice(doc: Document, entry: ChatEntry, answersQuestion: boolean): HTMLElement | null {
  if (entry.role !== 'assistant' || entry.status !== 'done' || !entry.cutOff) return null;
  const p = doc.createElement('p');
  p.className = 'cut-off';
  const room = continuedLimit(entry.cutOff);
  if (room === null || !answersQuestion) {
    p.textContent = `Cut off at ${entry.cutOff} tokens${room === null ? ', the most one answer may have' : ''}.`;
    return p;
  }
  p.append(`Cut off at ${entry.cutOff} tokens — continue? `);
  p.append(
    button(doc, 'Continue', `Answer again with room for ${room} tokens: the answer starts the same and goes on where this one stopped`, {
      control: 'continue',
    }),
  );
  return p;
}

/**
 * Copy and Insert at cursor on each code block of a rendered answer, numbered in the order shown, in a bar
 * above the code that also holds the block's caption.
 */
export function addCodeActions(doc: Document, body: HTMLElement): void {
  body.querySelectorAll('pre').forEach((pre, i) => {
    const bar = doc.createElement('div');
    bar.className = 'code-actions';
    const caption = pre.previousElementSibling?.classList.contains('code-caption') ? pre.previousElementSibling : doc.createElement('span');
    caption.classList.add('code-caption');
    caption.setAttribute('title', caption.textContent ?? '');
    bar.append(
      caption,
      button(doc, 'Copy', 'Copy this code', { control: 'copy', block: String(i) }),
      button(doc, 'Insert at cursor', 'Insert this code at the cursor of the active editor', { control: 'insert', block: String(i) }),
    );
    pre.before(bar);
  });
}

/** Calls `act` for a click on an answer's control under `root` (one delegated listener). */
export function onAnswerControl(root: HTMLElement, act: (control: AnswerControl) => void): void {
  root.addEventListener('click', (e) => {
    const b = (e.target as Element).closest('button[data-control]') as HTMLButtonElement | null;
    const id = (b?.closest('article.entry') as HTMLElement | null)?.dataset.id;
    if (!b || !id) return;
    e.preventDefault();
    const block = b.dataset.block === undefined ? null : Number(b.dataset.block);
    const command = PROBLEM_ACTIONS.find((a) => a === b.dataset.command);
    switch (b.dataset.control) {
      case 'copy':
        return act({ kind: 'copy', id, block });
      case 'insert':
        if (block !== null) act({ kind: 'insert', id, block });
        return;
      case 'regenerate':
        return act({ kind: 'regenerate', id });
      case 'continue':
        return act({ kind: 'continue', id });
      case 'run':
        if (command) act({ kind: 'run', id, command });
        return;
    }
  });
}
