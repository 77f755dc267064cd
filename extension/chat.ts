/**
 * The conversation of one workspace and the sidebar view that shows it.
 *
 * `ChatController` owns the conversation (kept in the workspace's memento, so it survives a reload), runs
 * questions through the memory (one at a time; Stop and CancellationTokens both abort the engine request) and
 * tells the view what changed. `ChatViewProvider` is the WebviewView: it checks every message the webview
 * posts (webview/protocol.ts), and queues what it sends until the webview says `ready`.
 */
import * as vscode from 'vscode';
import { isCancellation } from '../model/engine/cancellation';
import type { AnswerResult, Grounding } from '../model/engine/protocol';
import {
  MAX_CITATIONS,
  MAX_NAME,
  MAX_NOTE,
  MAX_PATH,
  MAX_SOURCES,
  msg,
  parseToExtension,
  type ChatEntry,
  type GroundingView,
  type ToWebview,
  type ToWebviewMessage,
  type WebviewCommand,
} from '../webview/protocol';
import { openCitation } from './citation-open';
import { Commands, ContextKeys, StateKeys, Views } from './ids';
import { Disposable } from './lifecycle';
import { firstLines, type WorkspaceMemory } from './memory';
import { webviewHtml, webviewOptions } from './webview-html';

/** Most entries kept in the stored conversation. */
const MAX_ENTRIES = 200;

export interface AskOutcome {
  entryId: string;
  answer: string;
  status: 'done' | 'cancelled' | 'error';
  result: AnswerResult | null;
  error: string | null;
}

export class ChatController extends Disposable {
  private entries: ChatEntry[];
  /** Answers streaming or waiting in the queue, oldest first. */
  private readonly active = new Map<string, AbortController>();
  private nextId = Date.now();
  private readonly posted = this.register(new vscode.EventEmitter<ToWebviewMessage>());
  /** Every message for the chat view, in order. */
  readonly onPost = this.posted.event;

  constructor(
    private readonly memory: WorkspaceMemory | null,
    private readonly workspaceState: vscode.Memento,
  ) {
    super();
    this.entries = (workspaceState.get<ChatEntry[]>(StateKeys.conversation) ?? []).map((e) =>
      e.status === 'streaming' ? { ...e, status: 'cancelled' as const } : e,
    );
    if (memory) {
      this.register(
        memory.onDidChange(() => {
          this.post('memory/status', { memory: memory.view });
          this.post('memory/progress', { progress: memory.progress });
        }),
      );
    }
  }

  get conversation(): readonly ChatEntry[] {
    return this.entries;
  }

  get busyId(): string | null {
    return [...this.active.keys()].pop() ?? null;
  }

  initMessage(): ToWebviewMessage {
    return msg<ToWebview, 'chat/init'>('chat/init', {
      entries: this.entries,
      memory: this.memory?.view ?? { phase: 'no-workspace', files: 0, tokens: 0, model: '', device: '', lastUpdate: '', detail: '' },
      progress: this.memory?.progress ?? null,
      busyId: this.busyId,
    });
  }

  /** Asks a question; the answer streams into the chat. Resolves when the answer has ended (done, stopped, failed). */
  async ask(question: string, token?: vscode.CancellationToken): Promise<AskOutcome> {
    const user: ChatEntry = { id: this.newId(), role: 'user', text: question };
    const answer: ChatEntry = { id: this.newId(), role: 'assistant', text: '', status: 'streaming' };
    this.append(user);
    this.append(answer);
    if (!this.memory) return this.finish(answer, 'error', 'Open a folder first: Famulus answers about the files of a workspace.', null);

    // A question asked while another is answered waits its turn in the memory's queue.
    const abort = new AbortController();
    this.active.set(answer.id, abort);
    const sub = token?.onCancellationRequested(() => abort.abort());
    // Tokens come faster than a webview can render them: send what arrived at most every DELTA_MS.
    const deltas = new DeltaBatcher((text) => this.post('chat/delta', { id: answer.id, text }));
    this.setBusy(this.busyId);
    try {
      const stream = this.memory.ask(question, abort.signal);
      let step;
      while (!(step = await stream.next()).done) {
        answer.text += step.value.text;
        deltas.push(step.value.text);
      }
      const result = step.value;
      return this.finish(answer, result.cancelled ? 'cancelled' : 'done', answer.text, result);
    } catch (err) {
      const cancelled = isCancellation(err);
      return this.finish(answer, cancelled ? 'cancelled' : 'error', cancelled ? answer.text : `**${firstLines((err as Error).message)}**`, null);
    } finally {
      deltas.dispose();
      sub?.dispose();
      this.active.delete(answer.id);
      this.setBusy(this.busyId);
    }
  }

  /** Stops the answer being streamed and the questions waiting; false when there were none. */
  stop(): boolean {
    if (this.active.size === 0) return false;
    for (const abort of this.active.values()) abort.abort();
    return true;
  }

  async clear(): Promise<void> {
    this.stop();
    this.entries = [];
    await this.save();
    this.posted.fire(this.initMessage());
  }

  private finish(entry: ChatEntry, status: 'done' | 'cancelled' | 'error', text: string, result: AnswerResult | null): AskOutcome {
    entry.status = status;
    entry.text = text;
    entry.stats = result ? stats(result) : '';
    const grounding = result ? groundingView(result.grounding) : null;
    if (grounding) entry.grounding = grounding;
    this.post('chat/end', { id: entry.id, status, text, stats: entry.stats, grounding });
    void this.save();
    return { entryId: entry.id, answer: text, status, result, error: status === 'error' ? text : null };
  }

  private append(entry: ChatEntry): void {
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    this.post('chat/append', { entry });
    void this.save();
  }

  private setBusy(id: string | null): void {
    void vscode.commands.executeCommand('setContext', ContextKeys.busy, id !== null);
    this.post('chat/busy', { busyId: id });
  }

  private save(): Thenable<void> {
    return this.workspaceState.update(StateKeys.conversation, this.entries);
  }

  private post<K extends keyof ToWebview>(type: K, payload: ToWebview[K]): void {
    this.posted.fire(msg<ToWebview, K>(type, payload) as ToWebviewMessage);
  }

  private newId(): string {
    return `e${(this.nextId++).toString(36)}`;
  }
}

/** How often streamed text is sent to a webview. */
export const DELTA_MS = 50;

/**
 * Collects streamed text and hands it on at most every DELTA_MS: thousands of tokens per second would
 * otherwise flood the webview's message channel, and a Stop click would queue behind them.
 */
export class DeltaBatcher {
  private pending = '';
  private timer: ReturnType<typeof setTimeout> | null = null;
  constructor(private readonly flush: (text: string) => void) {}

  push(text: string): void {
    this.pending += text;
    this.timer ??= setTimeout(() => this.drain(), DELTA_MS);
  }

  private drain(): void {
    this.timer = null;
    const text = this.pending;
    this.pending = '';
    if (text) this.flush(text);
  }

  /** Drops what is pending (the final message carries the whole text). */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = '';
  }
}

export function stats(r: AnswerResult): string {
  // An answer the engine quoted from the code (a location, a doc comment) generated no tokens.
  if (r.tokens === 0 && !r.cancelled) return `quoted from the code · ${r.timings.totalSeconds.toFixed(2)} s`;
  const parts = [`${r.tokens} tokens`, `first token ${r.timings.firstTokenSeconds.toFixed(2)} s`];
  if (r.tokensPerSecond > 0) parts.push(`${r.tokensPerSecond.toFixed(1)} tok/s`);
  return parts.join(' · ');
}

/**
 * What the webviews show of an answer's grounding. Fields are copied one by one and bounded, because a webview
 * drops a message that fails its check, and with it the end of the answer.
 */
export function groundingView(g: Grounding): GroundingView {
  return {
    sources: g.sources
      .filter((s) => s.path.length <= MAX_PATH)
      .slice(0, MAX_SOURCES)
      .map(({ path, startLine, endLine, reason, definition }) => ({
        path,
        startLine,
        endLine,
        reason,
        ...(definition ? { definition: definition.slice(0, MAX_NAME) } : {}),
      })),
    // A citation's text holds its path as written, so it is at least as long.
    citations: g.citations
      .filter((c) => c.text.length <= MAX_PATH)
      .slice(0, MAX_CITATIONS)
      .map(({ text, path, line, verified, note }) => ({ text, path, line, verified, note: note.slice(0, MAX_NOTE) })),
    nothingFound: g.nothingFound,
  };
}

/** The sidebar chat. */
export class ChatViewProvider extends Disposable implements vscode.WebviewViewProvider {
  static readonly viewType = Views.chat;
  private view: vscode.WebviewView | null = null;
  private ready = false;
  private outbox: ToWebviewMessage[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly chat: ChatController,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(chat.onPost((m) => this.send(m)));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    this.outbox = [];
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.extensionUri, 'chat');
    const subs = [
      view.webview.onDidReceiveMessage((raw) => this.receive(raw)),
      view.onDidDispose(() => {
        if (this.view === view) {
          this.view = null;
          this.ready = false;
        }
        for (const s of subs) s.dispose();
      }),
    ];
  }

  /** Reveals the view and focuses its question box. */
  async reveal(): Promise<void> {
    await vscode.commands.executeCommand(`${Views.chat}.focus`);
    this.send(msg<ToWebview, 'chat/focusInput'>('chat/focusInput', {}));
  }

  private send(m: ToWebviewMessage): void {
    if (!this.view) return; // the view sends `ready` when it opens, and gets everything in chat/init then
    if (!this.ready) {
      if (m.type !== 'chat/delta') this.outbox.push(m);
      return;
    }
    void this.view.webview.postMessage(m);
  }

  private receive(raw: unknown): void {
    let m;
    try {
      m = parseToExtension(raw);
    } catch (err) {
      this.log.warn(`chat view: refused a message: ${(err as Error).message}`);
      return;
    }
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        this.outbox = [];
        void this.view?.webview.postMessage(this.chat.initMessage());
        return;
      }
      case 'chat/ask':
        void this.chat.ask(m.question);
        return;
      case 'chat/stop':
        this.chat.stop();
        return;
      case 'chat/clear':
        void this.chat.clear();
        return;
      case 'citation/open':
        void openCitation(m.path, m.line, this.log);
        return;
      case 'command/run':
        void vscode.commands.executeCommand(COMMAND_OF[m.command]);
        return;
      default:
        this.log.warn(`chat view: ${m.type} is not a chat message`);
    }
  }
}

/** The commands the webview's buttons may run (webview/protocol.ts WEBVIEW_COMMANDS). */
export const COMMAND_OF: Record<WebviewCommand, string> = {
  readWorkspace: Commands.readWorkspace,
  refreshMemory: Commands.refreshMemory,
  forgetMemory: Commands.forgetMemory,
  showStatus: Commands.showStatus,
  selectDevice: Commands.selectDevice,
  selectModel: Commands.selectModel,
};
