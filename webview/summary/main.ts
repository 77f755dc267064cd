/**
 * The summary panel beside the editor: the summary of one file streams in as markdown; once it ends, its
 * verified citations are links and its sources are listed under it. Copy and Open as Markdown ask the
 * extension (which holds the text), Stop or Escape ends a summary still streaming.
 */
import '../common.css';
import './summary.css';
import { openLinksOnClick, renderGrounding } from '../grounding';
import { createMarkdownRenderer } from '../markdown';
import type { GroundingView, ToWebviewMessage } from '../protocol';
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
const sources = $('sources');
const footer = $('stats');
const stop = $<HTMLButtonElement>('stop');
const copy = $<HTMLButtonElement>('copy');
const open = $<HTMLButtonElement>('open-markdown');

let text = '';
let grounding: GroundingView | null = null;
let streaming = false;
let framePending = false;

const render = () => {
  framePending = false;
  // Citations are checked when the summary ends: until then a `path:line` is plain text.
  body.replaceChildren(md.render(text || (streaming ? '' : '*(empty summary)*'), streaming ? undefined : (grounding?.citations ?? [])));
  const shown = !streaming && grounding ? renderGrounding(document, grounding, 'summary') : null;
  sources.replaceChildren(...(shown ? [shown] : []));
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
for (const root of [body, sources]) openLinksOnClick(root, (path, line) => channel.post('citation/open', { path, line }));

channel.onMessage((m: ToWebviewMessage) => {
  switch (m.type) {
    case 'summary/start':
      text = '';
      grounding = null;
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
      grounding = m.grounding;
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
