/**
 * The summary panel beside the editor: the summary of one file streams in as markdown; Copy and Open as
 * Markdown ask the extension (which holds the text), Stop or Escape ends a summary still streaming.
 */
import '../common.css';
import './summary.css';
import { createMarkdownRenderer } from '../markdown';
import type { ToWebviewMessage } from '../protocol';
import { connect } from '../vscode-api';

const channel = connect<{ file: string }>();
const md = createMarkdownRenderer(window);

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`famulus summary: #${id} is missing`);
  return el as T;
};
const title = $('file');
const body = $('summary');
const footer = $('stats');
const stop = $<HTMLButtonElement>('stop');
const copy = $<HTMLButtonElement>('copy');
const open = $<HTMLButtonElement>('open-markdown');

let text = '';
let streaming = false;
let framePending = false;

const render = () => {
  framePending = false;
  body.replaceChildren(md.render(text || (streaming ? '' : '*(empty summary)*')));
};
const schedule = () => {
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(render);
  }
};
const setStreaming = (on: boolean) => {
  streaming = on;
  stop.hidden = !on;
  copy.disabled = on;
  open.disabled = on;
  body.setAttribute('aria-busy', on ? 'true' : 'false');
};

stop.addEventListener('click', () => channel.post('summary/stop', {}));
copy.addEventListener('click', () => channel.post('summary/copy', {}));
open.addEventListener('click', () => channel.post('summary/openMarkdown', {}));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && streaming) channel.post('summary/stop', {});
});
body.addEventListener('click', (e) => {
  const a = (e.target as HTMLElement).closest('a.citation') as HTMLAnchorElement | null;
  if (!a) return;
  e.preventDefault();
  const line = Number(a.dataset.line);
  if (a.dataset.path && Number.isInteger(line) && line >= 1) channel.post('citation/open', { path: a.dataset.path, line });
});

channel.onMessage((m: ToWebviewMessage) => {
  switch (m.type) {
    case 'summary/start':
      text = '';
      title.textContent = m.file;
      footer.textContent = 'summarising…';
      channel.setState({ file: m.file });
      setStreaming(true);
      render();
      return;
    case 'summary/delta':
      text += m.text;
      schedule();
      return;
    case 'summary/end':
      text = m.text;
      footer.textContent = [m.status === 'cancelled' ? 'stopped' : m.status === 'error' ? 'failed' : '', m.stats].filter(Boolean).join(' · ');
      setStreaming(false);
      render();
      return;
    default:
      return;
  }
});

const state = channel.getState();
if (state) title.textContent = state.file;
setStreaming(false);
channel.post('ready', {});
