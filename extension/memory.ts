/**
 * The memory of one workspace folder as the extension shows it. The engine owns the policy (model/engine/
 * session.ts: when the saved memory is loaded, what is read, when it is saved, how it is forgotten); this class
 * only says which folder, where its memory is saved (the extension's per-workspace storage,
 * `context.storageUri`), and when: on opening, on a command, after file changes settle (2 s).
 *
 * Requests go straight to the engine, which runs them one at a time in the order they were sent: that is
 * the only queue. Each takes a CancellationToken/AbortSignal that becomes a cancel of that request.
 */
import * as vscode from 'vscode';
import { isCancellation } from '../model/engine/cancellation';
import type { EngineProcess } from '../model/engine/client';
import {
  EngineError,
  MEMORY_FILES,
  type AnswerResult,
  type AskRequest,
  type Definition,
  type FilesResult,
  type GenerationSettings,
  type ReadChunk,
  type ReadMode,
  type StateSummary,
  type SummarizeResult,
  type TextDelta,
  type WorkspaceResult,
} from '../model/engine/protocol';
import type { MemoryView, ProgressView } from '../webview/protocol';
import type { EngineHost } from './engine-host';
import { Commands, ContextKeys, StateKeys } from './ids';
import { Debouncer, Disposable, toAbortSignal } from './lifecycle';
import { READ_DONE_ACTIONS, nothingChanged, presentMemory, readDoneMessage, readStoppedDetail, upToDateDetail } from './memory-view';
import { explainProblem } from './problems';
import * as settings from './settings';
import { bundleSourceFor, originBadge, originText, wantsBundle } from './team-memory';
import { showProblem } from './webview-commands';

export type Phase = MemoryView['phase'];

export class WorkspaceMemory extends Disposable {
  private phase: Phase = 'empty';
  private files = 0;
  private tokens = 0;
  private lastUpdate = '';
  private detail = '';
  /** What the engine said it holds, last time it said (its origin: a team bundle, or read here). */
  private summary: StateSummary | null = null;
  private progressView: ProgressView | null = null;
  /** The engine generation this folder was opened in, and that opening (a restarted engine holds nothing). */
  private opened: { generation: number; done: Promise<EngineProcess> } | null = null;
  private readonly updates = this.register(new Debouncer(2000));
  private watcher: vscode.FileSystemWatcher | null = null;
  /** The read running now, so a refresh or forget can stop it. */
  private readAbort: AbortController | null = null;
  /** The last save failure told to the user (a new cause is told again). */
  private lastSaveProblem: string | null = null;
  /** What finished reads told the user, in order (for the extension-host tests). */
  private readonly notices: string[] = [];

  private readonly changed = this.register(new vscode.EventEmitter<void>());
  readonly onDidChange = this.changed.event;

  constructor(
    readonly folder: vscode.WorkspaceFolder,
    private readonly storage: vscode.Uri | undefined,
    private readonly host: EngineHost,
    private readonly workspaceState: vscode.Memento,
    private readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.register(host.onDidChange(() => this.onEngineChange()));
  }

  /** The saved FAM state (for tests and the status view); undefined without workspace storage. */
  get stateFile(): vscode.Uri | undefined {
    return this.storage && vscode.Uri.joinPath(this.storage, MEMORY_FILES.state);
  }

  get view(): MemoryView {
    return presentMemory({ phase: this.phase, files: this.files, tokens: this.tokens, lastUpdate: this.lastUpdate, detail: this.detail }, this.host.current);
  }

  get progress(): ProgressView | null {
    return this.progressView;
  }

  get hasMemory(): boolean {
    return this.files > 0;
  }

  /** "CI abc1234 +3" when the memory came from a team bundle, else ''. */
  get originBadge(): string {
    return originBadge(this.summary);
  }

  /** The notifications finished reads showed, oldest first. */
  get readNotices(): readonly string[] {
    return this.notices;
  }

  /** Called once the window is trusted: restore the saved memory at once, or offer (or start) the first read. */
  async open(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.set({ phase: 'untrusted' });
      return;
    }
    this.watch();
    this.set({ phase: 'starting' });
    try {
      await this.ensureOpen();
    } catch (err) {
      this.set({ phase: 'error', detail: firstLines((err as Error).message) });
      throw err;
    }
    const team = await this.useTeamMemory();
    if (team === 'failed' && !this.hasMemory && settings.readOnOpen(this.folder.uri) !== 'never') {
      void this.read({ fresh: false }).catch((err: Error) => this.reportError('Reading the workspace failed', err));
    } else if (!this.hasMemory) await this.offerFirstRead();
  }

  /**
   * Brings the team's bundle (`famulus.teamMemory.source`) in when the folder has no memory, or one from another
   * bundle (another commit), or always with `force`: the engine fetches and checks it, adopts it, reads what
   * differs here and saves. 'failed' when it could not be used: the reason is shown once (a new reason again).
   */
  async useTeamMemory(opts: { force?: boolean } = {}): Promise<'used' | 'not-needed' | 'failed'> {
    const template = settings.teamMemorySource(this.folder.uri);
    if (template === '' || !vscode.workspace.isTrusted) return 'not-needed';
    let source: string | null;
    try {
      source = await bundleSourceFor(this.folder.uri, template);
    } catch (err) {
      await this.teamMemoryFailed((err as Error).message);
      return 'failed';
    }
    if (source === null || (!opts.force && !wantsBundle(this.summary, source))) return 'not-needed';
    const client = await this.ensureOpen();
    const previous = this.summary;
    this.set({ phase: 'updating', detail: '' });
    try {
      const request = { root: this.folder.uri.fsPath, walker: settings.walkerOptions(this.folder.uri), source };
      const stream = client.stream('workspace/import', this.storage ? { ...request, memoryDir: this.storage.fsPath } : request);
      for await (const _ of stream) void _;
      const result = await stream.result;
      this.reportSaveProblem(result);
      const said = originText(result.state) || 'The team bundle was too far from this folder, so it was read here from scratch.';
      this.log.info(`team memory ${result.bundle.source} (${result.bundle.bytes} bytes, checked in ${result.bundle.verifySeconds.toFixed(2)} s): ${said}`);
      this.showState(result.state, said);
      await this.workspaceState.update(StateKeys.teamMemoryProblem, undefined);
      return 'used';
    } catch (err) {
      this.showState(previous, '');
      if (isCancellation(err)) throw err;
      await this.teamMemoryFailed((err as Error).message);
      return 'failed';
    }
  }

  private async teamMemoryFailed(reason: string): Promise<void> {
    this.log.warn(`team memory not used: ${reason}`);
    if (this.workspaceState.get<string>(StateKeys.teamMemoryProblem) === reason) return;
    await this.workspaceState.update(StateKeys.teamMemoryProblem, reason);
    this.notices.push(`Famulus: the team memory was not used: ${reason}`);
    void vscode.window.showWarningMessage(`Famulus: the team memory was not used (${firstLines(reason)}); the workspace is read here instead.`);
  }

  private async offerFirstRead(): Promise<void> {
    const mode = settings.readOnOpen(this.folder.uri);
    if (mode === 'never') return;
    if (mode === 'always') {
      void this.read({ fresh: false }).catch((err: Error) => this.reportError('Reading the workspace failed', err));
      return;
    }
    if (this.workspaceState.get<boolean>(StateKeys.offeredRead)) return;
    await this.workspaceState.update(StateKeys.offeredRead, true);
    const pick = await vscode.window.showInformationMessage(
      `Famulus: read “${this.folder.name}” into memory so that you can ask about it? Everything stays on this machine.`,
      'Read Now',
      'Not Now',
    );
    if (pick === 'Read Now') void this.read({ fresh: false }).catch((err: Error) => this.reportError('Reading the workspace failed', err));
  }

  /**
   * The engine, with this folder open in it: after a (re)start the folder is opened again, which restores
   * its saved memory. One opening per engine generation, shared by every request that needs it.
   */
  private async ensureOpen(): Promise<EngineProcess> {
    let started;
    try {
      started = await this.host.client();
    } catch (err) {
      this.set({ phase: 'error', detail: `The engine could not start: ${firstLines((err as Error).message)}` });
      throw err;
    }
    const { client, info } = started;
    if (this.opened?.generation !== info.generation) {
      const done = this.openIn(client, 'restore').then(() => client);
      this.opened = { generation: info.generation, done };
      done.catch(() => {
        if (this.opened?.done === done) this.opened = null;
      });
    }
    return this.opened!.done;
  }

  private async openIn(client: EngineProcess, mode: ReadMode, signal?: AbortSignal, onChunk?: (chunk: ReadChunk) => void): Promise<WorkspaceResult> {
    const request = { root: this.folder.uri.fsPath, walker: settings.walkerOptions(this.folder.uri), mode };
    const stream = client.stream('workspace/open', this.storage ? { ...request, memoryDir: this.storage.fsPath } : request, { signal });
    for await (const chunk of stream) onChunk?.(chunk);
    const result = await stream.result;
    if (result.restored) this.log.info(`memory restored: ${result.state?.files ?? 0} files, ${result.state?.tokens ?? 0} tokens (${result.restored.seconds.toFixed(2)} s)`);
    if (result.restoreProblem) this.log.warn(result.restoreProblem);
    if (result.indexProblem) this.log.warn(result.indexProblem);
    this.reportSaveProblem(result);
    // A saved memory that could not be used (another model's, damaged) is read again, unless reading is off.
    const unusable = mode === 'restore' && result.restoreProblem !== null;
    // A memory that came from a team bundle keeps saying so after every later read (the status bar does too).
    this.showState(result.state, unusable ? `The saved memory could not be used (${result.restoreProblem}); reading the workspace again.` : originText(result.state));
    if (unusable && settings.readOnOpen(this.folder.uri) !== 'never') {
      void this.read({ fresh: false }).catch((err: Error) => this.reportError('Reading the workspace failed', err));
    }
    return result;
  }

  /** A memory that was read but could not be saved is used all the same; the user hears why, once per cause. */
  private reportSaveProblem(result: WorkspaceResult): void {
    if (!result.saveProblem) return;
    this.log.warn(`the memory was read but not saved: ${result.saveProblem}`);
    if (this.lastSaveProblem === result.saveProblem) return;
    this.lastSaveProblem = result.saveProblem;
    void vscode.window.showWarningMessage(`Famulus: the memory of “${this.folder.name}” is used but could not be saved, so it will be read again next time: ${firstLines(result.saveProblem)}`);
  }

  // ---- reading ------------------------------------------------------------------------------------------------

  /**
   * Reads the workspace into memory with a progress notification (files, tokens, tok/s, time left) and a
   * Cancel button; the engine saves the memory when done (also when cancelled: it keeps every completed file).
   */
  async read(opts: { fresh: boolean; quiet?: boolean }, token?: vscode.CancellationToken): Promise<WorkspaceResult> {
    this.requireTrusted();
    // A read replaces a read in progress (e.g. Refresh during an update).
    this.readAbort?.abort();
    const location = opts.quiet ? vscode.ProgressLocation.Window : vscode.ProgressLocation.Notification;
    return vscode.window.withProgress(
      { location, title: opts.quiet ? 'Famulus: updating memory' : `Famulus: reading ${this.folder.name}`, cancellable: !opts.quiet },
      (progress, progressToken) => this.readWithProgress(opts, progress, [progressToken, token]),
    );
  }

  private async readWithProgress(
    opts: { fresh: boolean; quiet?: boolean },
    progress: vscode.Progress<{ message?: string; increment?: number }>,
    tokens: (vscode.CancellationToken | undefined)[],
  ): Promise<WorkspaceResult> {
    const abort = new AbortController();
    this.readAbort = abort;
    const bridges = tokens.map((t) => toAbortSignal(t));
    for (const b of bridges) {
      if (b.signal.aborted) abort.abort();
      b.signal.addEventListener('abort', () => abort.abort(), { once: true });
    }
    const previous = this.phase;
    try {
      this.set({ phase: 'starting', detail: '' });
      const { client } = await this.host.client();
      this.set({ phase: opts.quiet ? 'updating' : 'reading', detail: '' });
      let reported = 0;
      // Time left from the read rate since the first progress report (files kept from memory cost nothing).
      let base: { bytes: number; at: number } | null = null;
      const onChunk = (chunk: ReadChunk) => {
        if (chunk.kind === 'restored') return;
        if (chunk.kind === 'walked') {
          this.log.info(`walked ${this.folder.uri.fsPath}: ${chunk.filesTotal} files, ${chunk.filesReused} kept from memory, ${chunk.skipped.length} skipped`);
          for (const s of chunk.skipped.slice(0, 50)) this.log.debug(`skipped ${s.path}: ${s.reason} (${s.detail})`);
          return;
        }
        base ??= { bytes: chunk.bytesDone, at: Date.now() - 1000 * (chunk.tokensDone / Math.max(chunk.tokensPerSecond, 1e-9)) };
        const percent = chunk.bytesTotal > 0 ? (100 * chunk.bytesDone) / chunk.bytesTotal : 100;
        const elapsed = (Date.now() - base.at) / 1000;
        const rate = elapsed > 0 ? (chunk.bytesDone - base.bytes) / elapsed : 0;
        const secondsLeft = rate > 0 ? (chunk.bytesTotal - chunk.bytesDone) / rate : -1;
        this.progressView = {
          filesDone: chunk.filesDone,
          filesTotal: chunk.filesTotal,
          tokensDone: chunk.tokensDone,
          tokensPerSecond: chunk.tokensPerSecond,
          secondsLeft,
          currentFile: chunk.currentFile,
          percent: Math.min(100, Math.max(0, percent)),
        };
        progress.report({
          increment: Math.max(0, percent - reported),
          message: `${chunk.filesDone}/${chunk.filesTotal} files · ${chunk.tokensDone} tokens · ${Math.round(chunk.tokensPerSecond)} tok/s` +
            (secondsLeft >= 0 ? ` · ${Math.ceil(secondsLeft)} s left` : ''),
        });
        reported = Math.max(reported, percent);
        this.changed.fire();
      };
      const generation = this.host.current?.generation ?? -1;
      const result = await this.openIn(client, opts.fresh ? 'fresh' : 'read', abort.signal, onChunk);
      this.opened = { generation, done: Promise.resolve(client) };
      const read = result.read;
      if (read) {
        this.log.info(
          `read ${read.filesIngested} files (${read.filesReused} kept), ${read.tokensIngested} tokens in ${read.seconds.toFixed(2)} s` +
            ` (${read.tokensPerSecond.toFixed(0)} tok/s)${result.cancelled ? ', cancelled' : ''}`,
        );
      }
      if (result.saved) this.log.info(`memory saved in ${result.memoryDir} (${result.saved.bytes} bytes, ${result.saved.seconds.toFixed(2)} s)`);
      if (result.cancelled) this.set({ detail: readStoppedDetail(result.state?.files ?? 0) });
      else if (!opts.quiet) this.tellReadDone(result);
      return result;
    } catch (err) {
      if (isCancellation(err)) {
        this.set({ phase: previous === 'reading' || previous === 'updating' ? 'empty' : previous });
      } else {
        this.set({ phase: 'error', detail: (err as Error).message });
      }
      throw err;
    } finally {
      for (const b of bridges) b.dispose();
      if (this.readAbort === abort) this.readAbort = null;
      this.progressView = null;
      this.changed.fire();
    }
  }

  /**
   * What a read the user started says when it is done: the first one of this workspace with this model tells
   * what is now in memory (with "Ask a question"); a refresh that found nothing to read says so, in a
   * notification and in the chat header.
   */
  private tellReadDone(result: WorkspaceResult): void {
    const state = result.state;
    if (!state) return;
    if (nothingChanged(result)) {
      const line = upToDateDetail(state.lastUpdate);
      this.set({ detail: line });
      this.notices.push(`Famulus: ${line}`);
      void vscode.window.showInformationMessage(`Famulus: ${line}`);
      return;
    }
    const modelId = this.host.current?.model.modelId ?? '';
    if (this.workspaceState.get<string>(StateKeys.announcedRead) === modelId) return;
    void this.workspaceState.update(StateKeys.announcedRead, modelId);
    const message = readDoneMessage(this.folder.name, state.files, state.tokens);
    this.notices.push(message);
    void vscode.window
      .showInformationMessage(message, READ_DONE_ACTIONS.ask, READ_DONE_ACTIONS.files)
      .then((pick) => {
        if (pick === READ_DONE_ACTIONS.ask) void vscode.commands.executeCommand(Commands.ask);
        else if (pick === READ_DONE_ACTIONS.files) void vscode.commands.executeCommand(Commands.showFiles);
      });
  }

  /** Forgets the memory: the engine drops what it holds and deletes the saved files. */
  async forget(): Promise<void> {
    this.readAbort?.abort();
    const client = await this.ensureOpen();
    const { deleted } = await client.request('workspace/forget', {});
    this.log.info(`memory forgotten${deleted.length > 0 ? `; deleted ${deleted.join(', ')}` : ''}`);
    this.showState(null, '');
    await this.workspaceState.update(StateKeys.offeredRead, true);
    // The next read is a first read again, and says so when it is done.
    await this.workspaceState.update(StateKeys.announcedRead, undefined);
  }

  /** Each file in memory with its tokens, and what the last walk skipped and why. */
  async filesInMemory(): Promise<FilesResult> {
    this.requireTrusted();
    const client = await this.ensureOpen();
    this.requireMemory();
    return client.request('workspace/files', {});
  }

  /**
   * A question about this workspace that its index answers ("Where is `createApplication` defined?"), for the
   * palette's placeholder; null while nothing is in memory or the engine cannot say.
   */
  async exampleQuestion(): Promise<string | null> {
    if (!vscode.workspace.isTrusted || !this.hasMemory) return null;
    try {
      const client = await this.ensureOpen();
      const { suggestions } = await client.request('index/suggest', { limit: 1 });
      return suggestions[0]?.question ?? null;
    } catch (err) {
      this.log.warn(`no example question: ${(err as Error).message}`);
      return null;
    }
  }

  /** Where a name is defined, from the workspace index the memory was read with. */
  async definitions(name: string): Promise<Definition[]> {
    this.requireTrusted();
    const client = await this.ensureOpen();
    this.requireMemory();
    return (await client.request('index/definitions', { name })).definitions;
  }

  // ---- questions ---------------------------------------------------------------------------------------------

  /** Answers from the memory, streaming the text. The saved memory is never changed by a question. */
  /** `conversation`: the earlier turns of the question's topic and the code it is asked about (AskRequest). */
  async *ask(
    question: string,
    signal: AbortSignal,
    options: GenerationSettings = settings.generation(),
    conversation: Pick<AskRequest, 'history' | 'context'> = {},
  ): AsyncGenerator<TextDelta, AnswerResult> {
    this.requireTrusted();
    const client = await this.ensureOpen();
    this.requireMemory();
    const stream = client.stream('engine/ask', { question, options, reread: settings.reread(), ...settings.history(), ...conversation }, { signal });
    yield* stream;
    return await stream.result;
  }

  /** Summarises one file of the workspace from the memory, streaming the text. */
  async *summarize(file: vscode.Uri, signal: AbortSignal): AsyncGenerator<TextDelta, SummarizeResult> {
    this.requireTrusted();
    const client = await this.ensureOpen();
    this.requireMemory();
    const stream = client.stream('engine/summarize', { path: file.fsPath, options: settings.generation(), reread: settings.reread() }, { signal });
    yield* stream;
    return await stream.result;
  }

  // ---- updates -------------------------------------------------------------------------------------------------

  private watch(): void {
    if (this.watcher) return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(this.folder, '**/*'));
    this.watcher = this.register(watcher);
    const changed = (uri: vscode.Uri) => {
      if (!this.hasMemory || !settings.updateOnChange(this.folder.uri)) return;
      const rel = vscode.workspace.asRelativePath(uri, false);
      if (/(^|\/)(\.git|node_modules|\.famulus)(\/|$)/.test(rel)) return;
      this.updates.trigger(() => {
        if (this.phase === 'reading' || this.phase === 'updating') return;
        void this.read({ fresh: false, quiet: true }).catch((err: Error) => {
          if (!isCancellation(err)) this.log.warn(`memory update failed: ${err.message}`);
        });
      });
    };
    this.register(watcher.onDidChange(changed));
    this.register(watcher.onDidCreate(changed));
    this.register(watcher.onDidDelete(changed));
  }

  private onEngineChange(): void {
    const crash = this.host.crashMessage;
    if (crash && !this.host.current) {
      this.opened = null;
      this.set({ phase: 'error', detail: crash });
      // Restart at once and bring the saved memory back, so the next question does not wait for it.
      void this.ensureOpen().catch((err: Error) => this.log.warn(`restart after crash failed: ${err.message}`));
      return;
    }
    this.changed.fire();
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

  /** Shows what the engine holds: ready with its numbers, or empty. */
  private showState(state: StateSummary | null, detail: string): void {
    this.summary = state;
    this.set({
      phase: state && state.files > 0 ? 'ready' : 'empty',
      files: state?.files ?? 0,
      tokens: state?.tokens ?? 0,
      lastUpdate: state?.lastUpdate ?? '',
      detail,
    });
  }

  private set(next: Partial<{ phase: Phase; files: number; tokens: number; lastUpdate: string; detail: string }>): void {
    if (next.phase !== undefined) this.phase = next.phase;
    if (next.files !== undefined) this.files = next.files;
    if (next.tokens !== undefined) this.tokens = next.tokens;
    if (next.lastUpdate !== undefined) this.lastUpdate = next.lastUpdate;
    if (next.detail !== undefined) this.detail = next.detail;
    void vscode.commands.executeCommand('setContext', ContextKeys.hasMemory, this.files > 0);
    this.changed.fire();
  }

  private requireTrusted(): void {
    if (!vscode.workspace.isTrusted) {
      throw new EngineError('no-state', 'This workspace is in Restricted Mode: trust it to let Famulus read it.');
    }
  }

  private requireMemory(): void {
    if (this.files === 0) {
      throw new EngineError('no-state', 'Nothing is in memory yet: run “Famulus: Read Workspace into Memory” first.');
    }
  }

  private reportError(what: string, err: Error): void {
    if (isCancellation(err)) return;
    this.log.error(`${what}: ${err.message}`);
    showProblem(explainProblem(err.message), this.log);
  }
}

/** The first lines of a message (an engine crash carries its whole log tail). */
export function firstLines(text: string, lines = 3): string {
  const all = text.split('\n');
  return all.length <= lines ? text : `${all.slice(0, lines).join('\n')} … (see the Famulus log)`;
}
