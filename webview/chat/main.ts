/**
 * The sidebar chat: a header with the memory status, the model and device, a problem with its action, and
 * reading progress; the conversation (markdown answers streaming in; once an answer ends, its verified
 * citations as links, its sources, its controls: ./answer-view.ts; a line where a new topic starts), and a
 * composer with the context of the next question as chips (./context-chips.ts) and a New topic button.
 * Enter sends, Shift+Enter adds a line, Escape stops.
 * The conversation belongs to the extension (it sends `chat/init` after `ready`); the webview keeps only its
 * draft and scroll position in `setState`.
 */
import '../common.css';
import './chat.css';
import { openLinksOnClick, renderGrounding } from '../grounding';
import { createMarkdownRenderer } from '../markdown';
import { ACTION_LABELS, READ_BUTTON, type ChatEntry, type ContextChip, type MemoryView, type ProgressView, type ReferenceView, type ToWebviewMessage } from '../protocol';
import { findReferences } from '../references';
import { connect, formatCount, formatSeconds } from '../vscode-api';
import { addCodeActions, answerActions, cutOffNotice, onAnswerControl } from './answer-view';
import { askedContext, composerChips, onChipAction } from './context-chips';

interface ViewState {
  draft: string;
  scrollTop: number;
}

const channel = connect<ViewState>();
const md = createMarkdownRenderer(window);

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`famulus chat: #${id} is missing`);
  return el as T;
};
const statusLine = $('memory-status');
const statusDetail = $('memory-detail');
const problemLine = $('memory-problem');
const problemText = $('memory-problem-text');
const problemAction = $<HTMLButtonElement>('memory-action');
const undoBar = $('undo-clear');
const hintModel = $('hint-model');
const progressBox = $('progress');
const progressBar = $<HTMLProgressElement>('progress-bar');
const progressText = $('progress-text');
const log = $('log');
const emptyHint = $('empty-hint');
const input = $<HTMLTextAreaElement>('question');
const sendButton = $<HTMLButtonElement>('send');
const stopButton = $<HTMLButtonElement>('stop');
const readButton = $<HTMLButtonElement>('read');
const newTopicButton = $<HTMLButtonElement>('new-topic');
const chipsBox = $('context-chips');

interface Shown {
  entry: ChatEntry;
  article: HTMLElement;
  body: HTMLElement;
  /** The cut-off notice, the sources, the stats line and the answer's controls. */
  after: HTMLElement;
}
const entries = new Map<string, Shown>();
let busyId: string | null = null;
let memory: MemoryView | null = null;
let renderPending = new Set<string>();
/** The context chips the extension offers, the draft's references and what the extension resolved them to. */
let chips: ContextChip[] = [];
let references: string[] = [];
const resolved = new Map<string, ReferenceView>();
let referenceTimer: ReturnType<typeof setTimeout> | null = null;

// ---- view state ---------------------------------------------------------------------------------------------

const saved = channel.getState();
if (saved) input.value = saved.draft;
const saveState = () => channel.setState({ draft: input.value, scrollTop: log.scrollTop });
input.addEventListener('input', () => {
  saveState();
  autosize();
  if (referenceTimer) clearTimeout(referenceTimer);
  referenceTimer = setTimeout(lookUpReferences, REFERENCE_DELAY_MS);
});
log.addEventListener('scroll', saveState, { passive: true });

function autosize(): void {
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 200)}px`;
}

// ---- composer ---------------------------------------------------------------------------------------------

/** How long typing pauses before the draft's `#file` / `@file` references are looked up. */
const REFERENCE_DELAY_MS = 250;

function send(): void {
  const question = input.value.trim();
  if (!question) return;
  channel.post('chat/ask', { question });
  input.value = '';
  autosize();
  saveState();
  lookUpReferences();
}

/** Asks the extension to resolve the draft's references it has not resolved yet, and shows them. */
function lookUpReferences(): void {
  referenceTimer = null;
  references = findReferences(input.value);
  const unknown = references.filter((r) => !resolved.has(r));
  if (unknown.length > 0) channel.post('context/resolve', { references: unknown });
  showChips();
}

function showChips(): void {
  chipsBox.replaceChildren(...composerChips(document, chips, references, resolved));
  chipsBox.hidden = chipsBox.childElementCount === 0;
}

onChipAction(chipsBox, (id, attached) => {
  channel.post('context/attach', { id, attached });
  input.focus();
});
newTopicButton.addEventListener('click', () => {
  channel.post('chat/newTopic', {});
  input.focus();
});

/** New topic has nothing to do on an empty conversation, or right after a new topic. */
function updateNewTopic(): void {
  const items = log.querySelectorAll('.entry, .topic-divider');
  const last = items[items.length - 1];
  newTopicButton.disabled = !last || last.classList.contains('topic-divider');
}

input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && busyId !== null) {
    e.preventDefault();
    channel.post('chat/stop', {});
  }
});
sendButton.addEventListener('click', send);
stopButton.addEventListener('click', () => channel.post('chat/stop', {}));
readButton.addEventListener('click', () =>
  channel.post('command/run', { command: memory && memory.files > 0 ? 'refreshMemory' : 'readWorkspace' }),
);
$('status-button').addEventListener('click', () => channel.post('command/run', { command: 'showStatus' }));
problemAction.addEventListener('click', () => {
  if (memory?.action) channel.post('command/run', { command: memory.action });
});
$('undo-clear-button').addEventListener('click', () => channel.post('chat/undoClear', {}));

onAnswerControl(log, (c) => {
  switch (c.kind) {
    case 'copy':
      return channel.post('answer/copy', { id: c.id, block: c.block });
    case 'insert':
      return channel.post('answer/insert', { id: c.id, block: c.block });
    case 'regenerate':
      return channel.post('answer/regenerate', { id: c.id });
    case 'continue':
      return channel.post('answer/continue', { id: c.id });
    case 'run':
      return channel.post('command/run', { command: c.command });
  }
});

// Citations and sources: one delegated handler for every rendered answer.
openLinksOnClick(log, (path, line) => channel.post('citation/open', { path, line }));

// ---- rendering ---------------------------------------------------------------------------------------------

function addEntry(entry: ChatEntry): void {
  emptyHint.hidden = true;
  if (entry.role === 'divider') {
    const divider = document.createElement('div');
    divider.className = 'topic-divider';
    divider.setAttribute('role', 'separator');
    divider.setAttribute('aria-label', 'New topic: the questions below do not see the conversation above');
    divider.dataset.id = entry.id;
    divider.textContent = 'New topic';
    log.append(divider);
    updateNewTopic();
    return;
  }
  const article = document.createElement('article');
  article.className = `entry ${entry.role}`;
  article.dataset.id = entry.id;
  article.setAttribute('aria-label', entry.role === 'user' ? 'Your question' : entry.file ? `Summary of ${entry.file}` : 'Famulus answer');
  const who = document.createElement('div');
  who.className = 'who';
  who.textContent = entry.role === 'user' ? 'You' : entry.file ? `Famulus · summary of ${entry.file}` : 'Famulus';
  const body = document.createElement('div');
  body.className = 'body';
  const after = document.createElement('div');
  article.append(who, body, after);
  log.append(article);
  entries.set(entry.id, { entry: { ...entry }, body, after, article });
  renderEntry(entry.id);
  updateNewTopic();
}

/** The entry before `id` is a question: its answer can be asked again. */
function answersQuestion(item: Shown): boolean {
  const before = item.article.previousElementSibling as HTMLElement | null;
  return before?.classList.contains('user') === true && entries.has(before.dataset.id ?? '');
}

function renderEntry(id: string): void {
  const item = entries.get(id);
  if (!item) return;
  const { entry, body, after, article } = item;
  article.dataset.status = entry.status ?? 'done';
  article.setAttribute('aria-busy', entry.status === 'streaming' ? 'true' : 'false');
  if (entry.role === 'user') {
    body.replaceChildren(md.renderPlain(entry.text));
    after.replaceChildren(...[askedContext(document, entry)].filter((e): e is HTMLElement => e !== null));
    return;
  }
  const ended = entry.status !== 'streaming';
  // Citations are checked when the answer ends: until then a `path:line` is plain text, then only verified ones link.
  body.replaceChildren(md.render(entry.text || (ended ? '*(no answer)*' : ''), ended ? (entry.grounding?.citations ?? []) : undefined));
  if (ended && entry.status !== 'error') addCodeActions(document, body);
  const asked = answersQuestion(item);
  const footer = document.createElement('div');
  footer.className = 'footer';
  const status = entry.status === 'cancelled' ? 'stopped' : entry.status === 'error' ? 'failed' : entry.status === 'streaming' ? 'answering…' : '';
  footer.textContent = [status, entry.stats ?? ''].filter(Boolean).join(' · ');
  after.replaceChildren(
    ...[
      cutOffNotice(document, entry, asked),
      ended && entry.grounding ? renderGrounding(document, entry.grounding, 'answer') : null,
      footer.textContent ? footer : null,
      answerActions(document, entry, asked),
    ].filter((e): e is HTMLElement => e !== null),
  );
}

/** Streaming re-renders at most once per frame. */
function scheduleRender(id: string): void {
  if (renderPending.size === 0) {
    requestAnimationFrame(() => {
      const ids = renderPending;
      renderPending = new Set();
      const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      for (const i of ids) renderEntry(i);
      if (stick) log.scrollTop = log.scrollHeight;
    });
  }
  renderPending.add(id);
}

function showMemory(m: MemoryView): void {
  memory = m;
  const phase: Record<MemoryView['phase'], string> = {
    'no-workspace': 'No folder open',
    untrusted: 'Restricted Mode: trust this workspace to read it',
    empty: 'Nothing in memory yet',
    starting: 'Starting the engine…',
    reading: 'Reading the workspace…',
    updating: 'Updating memory…',
    ready: 'Memory ready',
    error: 'Engine error',
  };
  const parts = [phase[m.phase]];
  if (m.files > 0) parts.push(`${m.files} files · ${formatCount(m.tokens)} tokens`);
  statusLine.textContent = parts.join(' — ');
  statusDetail.textContent = [m.model && `${m.model} · ${m.device}`, m.lastUpdate && `updated ${new Date(m.lastUpdate).toLocaleString()}`]
    .filter(Boolean)
    .join(' · ');
  statusDetail.title = m.about;
  problemLine.hidden = m.detail === '';
  problemText.textContent = m.detail;
  problemAction.hidden = m.action === null;
  problemAction.textContent = m.action ? ACTION_LABELS[m.action] : '';
  hintModel.textContent = m.model === 'built-in model' ? 'its built-in model, a small language model' : m.model ? `the model “${m.model}”` : 'a small language model';
  document.body.dataset.phase = m.phase;
  readButton.textContent = m.files > 0 ? READ_BUTTON.refresh : READ_BUTTON.read;
  readButton.setAttribute('aria-label', m.files > 0 ? 'Refresh the workspace memory' : 'Read the workspace into memory');
  readButton.disabled = m.phase === 'untrusted' || m.phase === 'no-workspace' || m.phase === 'reading' || m.phase === 'updating';
}

function showProgress(p: ProgressView | null): void {
  progressBox.hidden = p === null;
  if (!p) return;
  progressBar.value = p.percent;
  const left = p.secondsLeft >= 0 ? ` · ${formatSeconds(p.secondsLeft)} left` : '';
  progressText.textContent =
    `${p.filesDone}/${p.filesTotal} files · ${formatCount(p.tokensDone)} tokens · ${Math.round(p.tokensPerSecond)} tok/s${left}` +
    (p.currentFile ? ` · ${p.currentFile}` : '');
}

function setBusy(id: string | null): void {
  busyId = id;
  stopButton.hidden = id === null;
  document.body.dataset.busy = id === null ? 'false' : 'true';
}

function handle(m: ToWebviewMessage): void {
  switch (m.type) {
    case 'chat/init':
      log.replaceChildren();
      entries.clear();
      for (const e of m.entries) addEntry(e);
      emptyHint.hidden = m.entries.length > 0;
      log.append(emptyHint);
      updateNewTopic();
      showMemory(m.memory);
      showProgress(m.progress);
      setBusy(m.busyId);
      undoBar.hidden = !m.canUndoClear;
      log.scrollTop = saved?.scrollTop ?? log.scrollHeight;
      return;
    case 'memory/status':
      return showMemory(m.memory);
    case 'memory/progress':
      return showProgress(m.progress);
    case 'chat/append':
      undoBar.hidden = true;
      addEntry(m.entry);
      log.scrollTop = log.scrollHeight;
      return;
    case 'chat/update': {
      const item = entries.get(m.entry.id);
      if (!item) return;
      item.entry = { ...m.entry };
      scheduleRender(m.entry.id);
      return;
    }
    case 'chat/delta': {
      const item = entries.get(m.id);
      if (!item) return;
      item.entry.text += m.text;
      scheduleRender(m.id);
      return;
    }
    case 'chat/end': {
      const item = entries.get(m.id);
      if (!item) return;
      item.entry.text = m.text;
      item.entry.status = m.status;
      item.entry.stats = m.stats;
      item.entry.grounding = m.grounding ?? undefined;
      item.entry.cutOff = m.cutOff ?? undefined;
      item.entry.action = m.action ?? undefined;
      scheduleRender(m.id);
      return;
    }
    case 'chat/busy':
      return setBusy(m.busyId);
    case 'chat/focusInput':
      input.focus();
      return;
    case 'chat/context':
      chips = m.chips;
      return showChips();
    case 'chat/references':
      for (const r of m.references) resolved.set(r.written, r);
      return showChips();
    default:
      // Summary messages are not for this view.
      return;
  }
}

channel.onMessage(handle);
autosize();
channel.post('ready', {});
// A draft kept from before shows its references once the extension listens.
lookUpReferences();
