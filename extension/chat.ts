/**
 * The conversation of one workspace and the sidebar view that shows it.
 *
 * `ChatController` owns the conversation (kept in the workspace's memento, so it survives a reload, topic
 * dividers included), runs questions through the memory (one at a time; Stop and CancellationTokens both abort
 * the engine request) with the earlier turns of their topic and the code they are asked about (./chat-context.ts),
 * regenerates and continues answers in place, clears (with an undo) and tells the view what changed.
 * `ChatViewProvider` is the WebviewView: it checks every message the webview posts (webview/protocol.ts), and
 * queues what it sends until the webview says `ready`.
 */
import { randomInt } from 'node:crypto';
import * as vscode from 'vscode';
import { isCancellation } from '../model/engine/cancellation';
import { EngineError, type AnswerResult, type ContextRef, type Grounding, type Turn } from '../model/engine/protocol';
import { answerMarkdown, codeBlocks } from '../webview/answer-text';
import {
  MAX_CITATIONS,
  MAX_NAME,
  MAX_NOTE,
  MAX_PATH,
  MAX_SOURCES,
  continuedLimit,
  msg,
  parseToExtension,
  type ChatEntry,
  type GroundingView,
  type ProblemAction,
  type Sampling,
  type ToWebview,
  type ToWebviewMessage,
} from '../webview/protocol';
import { copyText, insertAtCursor } from './answer-actions';
import type { ChatContext } from './chat-context';
import { openCitation } from './citation-open';
import { ContinuedAnswer } from './continued-answer';
import { ContextKeys, StateKeys, Views } from './ids';
import { Disposable } from './lifecycle';
import type { WorkspaceMemory } from './memory';
import { presentMemory } from './memory-view';
import { explainProblem } from './problems';
import * as settings from './settings';
import { runWebviewCommand } from './webview-commands';
import { webviewHtml, webviewOptions } from './webview-html';

/** Most entries kept in the stored conversation. */
const MAX_ENTRIES = 200;

/** Earlier turns sent with a question at most; the engine keeps the most recent that fit its budget. */
const MAX_TURNS_SENT = 16;

/** What the engine is asked for an answer: the question, the earlier turns of its topic, the code it is about. */
interface Asked {
  question: string;
  history: Turn[];
  context: ContextRef[];
}

/**
 * The temperature Regenerate samples at when `famulus.temperature` is 0: greedy decoding would write the same
 * answer again, word for word.
 */
export const REGENERATE_TEMPERATURE = 0.7;

export interface AskOutcome {
  entryId: string;
  answer: string;
  status: 'done' | 'cancelled' | 'error';
  result: AnswerResult | null;
  error: string | null;
}

export class ChatController extends Disposable {
  private entries: ChatEntry[];
  /** What the last Clear removed, until a new question is asked. */
  private cleared: ChatEntry[] | null = null;
  /** Answers streaming or waiting in the queue, oldest first. */
  private readonly active = new Map<string, AbortController>();
  private nextId = Date.now();
  private readonly posted = this.register(new vscode.EventEmitter<ToWebviewMessage>());
  /** Every message for the chat view, in order. */
  readonly onPost = this.posted.event;

  constructor(
    private readonly memory: WorkspaceMemory | null,
    private readonly context: ChatContext,
    private readonly workspaceState: vscode.Memento,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.entries = (workspaceState.get<ChatEntry[]>(StateKeys.conversation) ?? []).map((e) =>
      e.status === 'streaming' ? { ...e, status: 'cancelled' as const } : e,
    );
    this.register(context.onDidChange(() => this.posted.fire(this.contextMessage())));
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
      memory: this.memory?.view ?? NO_WORKSPACE,
      progress: this.memory?.progress ?? null,
      busyId: this.busyId,
      canUndoClear: this.cleared !== null,
    });
  }

  /** The composer's context chips. */
  contextMessage(): ToWebviewMessage {
    return msg<ToWebview, 'chat/context'>('chat/context', { chips: this.context.chips });
  }

  /**
   * Asks a question about the attached context and the files it references, as a follow-up of the turns before
   * it in its topic; the answer streams into the chat. Resolves when the answer has ended (done, stopped, failed).
   */
  async ask(question: string, token?: vscode.CancellationToken): Promise<AskOutcome> {
    this.forgetCleared();
    const { context, unresolved, asked } = await this.context.take(question);
    const user: ChatEntry = { id: this.newId(), role: 'user', text: question };
    if (context.length > 0) user.context = context;
    if (unresolved.length > 0) user.unresolved = unresolved;
    if (asked !== question) user.asked = asked;
    const answer: ChatEntry = { id: this.newId(), role: 'assistant', text: '', status: 'streaming' };
    this.append(user);
    this.append(answer);
    return this.run(answer, this.askedBy(user), settings.sampling(), null, token);
  }

  /**
   * Starts a new topic: a divider, after which questions are asked without the turns before it. False when the
   * conversation is empty or already starts a new topic.
   */
  newTopic(): boolean {
    const last = this.entries[this.entries.length - 1];
    if (!last || last.role === 'divider') return false;
    this.append({ id: this.newId(), role: 'divider', text: '' });
    return true;
  }

  /**
   * Asks an answer's question again with a new seed (sampled, so that the answer can differ; a failed answer
   * is tried again as asked); the new answer replaces it. Null when `id` is no finished answer to a question.
   */
  regenerate(id: string): Promise<AskOutcome> | null {
    const found = this.finishedAnswer(id);
    if (!found) return null;
    const base = settings.sampling();
    const sampling =
      found.answer.status === 'error'
        ? base
        : { ...base, temperature: base.temperature > 0 ? base.temperature : REGENERATE_TEMPERATURE, seed: randomInt(0, 2 ** 32) };
    return this.run(found.answer, this.askedBy(found.question), sampling, { entry: { ...found.answer }, continuing: false });
  }

  /**
   * Continues an answer cut off at its token limit: the engine cannot resume a generation, so the question is
   * asked again with the same sampling and twice the room, and the answer, which starts the same, goes on
   * where the cut-off one stopped. Null when `id` is no cut-off answer or it had the most room already.
   */
  continueAnswer(id: string): Promise<AskOutcome> | null {
    const found = this.finishedAnswer(id);
    const { cutOff, sampling } = found?.answer ?? {};
    const room = cutOff ? continuedLimit(cutOff) : null;
    if (!found || !sampling || room === null) return null;
    return this.run(found.answer, this.askedBy(found.question), { ...sampling, maxNewTokens: room }, { entry: { ...found.answer }, continuing: true });
  }

  /** Stops the answer being streamed and the questions waiting; false when there were none. */
  stop(): boolean {
    if (this.active.size === 0) return false;
    for (const abort of this.active.values()) abort.abort();
    return true;
  }

  /** Clears the conversation; `undoClear` brings it back until the next question. */
  async clear(): Promise<void> {
    this.stop();
    if (this.entries.length > 0) this.cleared = this.entries;
    this.entries = [];
    await this.save();
    void vscode.commands.executeCommand('setContext', ContextKeys.canUndoClear, this.cleared !== null);
    this.posted.fire(this.initMessage());
  }

  /** Brings back what the last Clear removed; false when there is nothing to bring back. */
  async undoClear(): Promise<boolean> {
    if (!this.cleared) return false;
    this.entries = this.cleared;
    this.forgetCleared();
    await this.save();
    this.posted.fire(this.initMessage());
    return true;
  }

  /**
   * The text a Copy or Insert button acts on: a finished answer as markdown (`block` null), or its code block
   * number `block`, found as the chat shows it (webview/answer-text.ts). Null when there is no such thing.
   */
  answerText(id: string, block: number | null): string | null {
    const entry = this.entries.find((e) => e.id === id && e.role === 'assistant');
    if (!entry || entry.status === 'streaming') return null;
    return block === null ? answerMarkdown(entry.text) : (codeBlocks(entry.text)[block] ?? null);
  }

  /**
   * What the engine is asked for the question `user`: its words (references written as paths), the code it
   * was asked about, and the turns before it in its topic, oldest first. A turn is a question with the answer
   * it got; an answer that was stopped or failed, or is still streaming, is no turn.
   */
  private askedBy(user: ChatEntry): Asked {
    const history: Turn[] = [];
    for (let i = this.entries.indexOf(user) - 1; i >= 1 && history.length < MAX_TURNS_SENT; i--) {
      const answer = this.entries[i]!;
      if (answer.role === 'divider') break;
      const question = this.entries[i - 1]!;
      if (answer.role !== 'assistant' || question.role !== 'user') continue;
      if (answer.status === 'done' && answer.text.trim()) history.unshift({ question: question.asked ?? question.text, answer: answer.text });
      i--;
    }
    return { question: user.asked ?? user.text, history, context: this.context.refs(user.context ?? []) };
  }

  /**
   * Streams the answer to `asked` into `entry`. `replacing`: the finished answer a Regenerate or Continue
   * replaces; Continue shows it while the new one repeats it, and a stop before anything new puts it back.
   */
  private async run(
    entry: ChatEntry,
    asked: Asked,
    sampling: Sampling,
    replacing: { entry: ChatEntry; continuing: boolean } | null,
    token?: vscode.CancellationToken,
  ): Promise<AskOutcome> {
    if (!this.memory) return this.finish(entry, 'error', { text: 'Open a folder first: Famulus answers about the files of a workspace.' });
    const previous = replacing?.entry ?? null;
    const continuing = replacing?.continuing ?? false;
    if (previous) this.restart(entry, continuing ? previous.text : '');

    // A question asked while another is answered waits its turn in the memory's queue.
    const abort = new AbortController();
    this.active.set(entry.id, abort);
    const sub = token?.onCancellationRequested(() => abort.abort());
    // Tokens come faster than a webview can render them: send what arrived at most every DELTA_MS.
    const deltas = new DeltaBatcher((text) => this.post('chat/delta', { id: entry.id, text }));
    const view = new ContinuedAnswer(entry.text);
    this.setBusy(this.busyId);
    try {
      const stream = this.memory.ask(asked.question, abort.signal, sampling, { history: asked.history, context: asked.context });
      let step;
      while (!(step = await stream.next()).done) {
        const change = view.push(step.value.text);
        if (change.kind === 'append') {
          entry.text += change.text;
          deltas.push(change.text);
        } else if (change.kind === 'replace') {
          deltas.dispose(); // what is pending is in the update
          entry.text = change.text;
          this.post('chat/update', { entry: { ...entry } });
        }
      }
      const result = step.value;
      if (result.cancelled && previous && !view.progressed) return this.putBack(entry, previous, result);
      const note = continuing && view.diverged ? 'a new answer: the memory changed since the cut-off one' : '';
      return this.finish(entry, result.cancelled ? 'cancelled' : 'done', { text: view.answer, result, sampling, note });
    } catch (err) {
      if (isCancellation(err)) {
        if (previous && !view.progressed) return this.putBack(entry, previous, null);
        return this.finish(entry, 'cancelled', { text: view.answer, sampling });
      }
      const message = (err as Error).message;
      this.log.error(`answering “${asked.question.slice(0, 200)}” failed: ${message}`);
      const problem = explainProblem(message, err instanceof EngineError ? err.code : undefined);
      return this.finish(entry, 'error', { text: problem.message, action: problem.action ?? undefined });
    } finally {
      deltas.dispose();
      sub?.dispose();
      this.active.delete(entry.id);
      this.setBusy(this.busyId);
    }
  }

  /** Shows `entry` streaming again, from `shown`. */
  private restart(entry: ChatEntry, shown: string): void {
    for (const key of ['stats', 'grounding', 'cutOff', 'action', 'sampling'] as const) delete entry[key];
    entry.status = 'streaming';
    entry.text = shown;
    this.post('chat/update', { entry: { ...entry } });
  }

  /** A Regenerate or Continue stopped before it showed anything new: the answer it replaced comes back. */
  private putBack(entry: ChatEntry, previous: ChatEntry, result: AnswerResult | null): AskOutcome {
    Object.assign(entry, previous);
    this.post('chat/update', { entry: { ...entry } });
    void this.save();
    return { entryId: entry.id, answer: entry.text, status: 'cancelled', result, error: null };
  }

  private finish(
    entry: ChatEntry,
    status: 'done' | 'cancelled' | 'error',
    how: { text: string; result?: AnswerResult; sampling?: Sampling; action?: ProblemAction; note?: string },
  ): AskOutcome {
    const { text, result, sampling, action, note } = how;
    entry.status = status;
    entry.text = text;
    entry.stats = [note, result ? stats(result, sampling) : ''].filter(Boolean).join(' · ');
    const grounding = result ? groundingView(result.grounding) : null;
    if (grounding) entry.grounding = grounding;
    if (sampling) entry.sampling = sampling;
    if (action) entry.action = action;
    // An answer that stopped at its limit, not by itself: the view offers to continue it.
    const cutOff = result?.stopReason === 'max-tokens' && sampling ? sampling.maxNewTokens : null;
    if (cutOff) entry.cutOff = cutOff;
    this.post('chat/end', { id: entry.id, status, text, stats: entry.stats, grounding, cutOff, action: action ?? null });
    void this.save();
    return { entryId: entry.id, answer: text, status, result: result ?? null, error: status === 'error' ? text : null };
  }

  /** A finished answer and the question it answers (the entry before it). */
  private finishedAnswer(id: string): { answer: ChatEntry; question: ChatEntry } | null {
    const i = this.entries.findIndex((e) => e.id === id);
    const answer = this.entries[i];
    const asked = this.entries[i - 1];
    if (!answer || answer.role !== 'assistant' || answer.status === 'streaming' || this.active.has(id)) return null;
    return asked?.role === 'user' ? { answer, question: asked } : null;
  }

  private append(entry: ChatEntry): void {
    this.entries.push(entry);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    this.post('chat/append', { entry });
    void this.save();
  }

  private forgetCleared(): void {
    if (this.cleared === null) return;
    this.cleared = null;
    void vscode.commands.executeCommand('setContext', ContextKeys.canUndoClear, false);
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

/** What the header shows without a workspace folder. */
export const NO_WORKSPACE = presentMemory({ phase: 'no-workspace', files: 0, tokens: 0, lastUpdate: '', detail: '' }, null);

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

/** The line under an answer: how it was made, and at what temperature when it was sampled. */
export function stats(r: AnswerResult, sampling?: Sampling): string {
  // An answer the engine quoted from the code (a location, a doc comment) generated no tokens.
  if (r.tokens === 0 && !r.cancelled) return `quoted from the code · ${r.timings.totalSeconds.toFixed(2)} s`;
  const parts = [`${r.tokens} tokens`, `first token ${r.timings.firstTokenSeconds.toFixed(2)} s`];
  if (r.tokensPerSecond > 0) parts.push(`${r.tokensPerSecond.toFixed(1)} tok/s`);
  if (sampling && sampling.temperature > 0) parts.push(`sampled at temperature ${sampling.temperature}`);
  const turns = r.grounding.historyTurns;
  if (turns > 0) parts.push(`follows ${turns} earlier turn${turns === 1 ? '' : 's'}`);
  // The engine ends an answer that fell into a loop (model/runtime/sampling.ts isRepeatingLoop).
  if (r.stopReason === 'repetition') parts.push('stopped: it began repeating itself');
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
      .map(({ path, startLine, endLine, reason, definition, requestedEndLine }) => ({
        path,
        startLine,
        endLine,
        reason,
        ...(definition ? { definition: definition.slice(0, MAX_NAME) } : {}),
        ...(requestedEndLine !== undefined ? { requestedEndLine } : {}),
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
    private readonly context: ChatContext,
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
      view.webview.onDidReceiveMessage((raw) => void this.receive(raw)),
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

  /** Acts on a message the webview posted, once it passed its check; resolves with what the action returned. */
  receive(raw: unknown): Promise<unknown> {
    let m;
    try {
      m = parseToExtension(raw);
    } catch (err) {
      this.log.warn(`chat view: refused a message: ${(err as Error).message}`);
      return Promise.resolve(undefined);
    }
    switch (m.type) {
      case 'ready': {
        this.ready = true;
        this.outbox = [];
        void this.view?.webview.postMessage(this.chat.initMessage());
        void this.view?.webview.postMessage(this.chat.contextMessage());
        return Promise.resolve(undefined);
      }
      case 'chat/ask':
        return this.chat.ask(m.question);
      case 'chat/stop':
        return Promise.resolve(this.chat.stop());
      case 'chat/clear':
        return this.chat.clear();
      case 'chat/undoClear':
        return this.chat.undoClear();
      case 'chat/newTopic':
        return Promise.resolve(this.chat.newTopic());
      case 'context/attach':
        this.context.setAttached(m.id, m.attached);
        return Promise.resolve(undefined);
      case 'context/resolve':
        return this.context.resolve(m.references).then((references) => {
          this.send(msg<ToWebview, 'chat/references'>('chat/references', { references }));
          return references;
        });
      case 'answer/copy':
      case 'answer/insert': {
        const text = this.chat.answerText(m.id, m.block);
        if (text === null) {
          this.log.warn(`chat view: ${m.type}: no ${m.block === null ? 'answer' : `code block ${m.block}`} in entry ${m.id}`);
          return Promise.resolve(false);
        }
        return m.type === 'answer/insert' ? insertAtCursor(text) : copyText(text, m.block === null ? 'answer' : 'code');
      }
      case 'answer/regenerate':
        return this.chat.regenerate(m.id) ?? Promise.resolve(null);
      case 'answer/continue':
        return this.chat.continueAnswer(m.id) ?? Promise.resolve(null);
      case 'citation/open':
        return openCitation(m.path, m.line, this.log);
      case 'command/run':
        return runWebviewCommand(m.command, this.log);
      default:
        this.log.warn(`chat view: ${m.type} is not a chat message`);
        return Promise.resolve(undefined);
    }
  }
}
