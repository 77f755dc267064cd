/**
 * The memory of one workspace folder: the engine's FAM state for it, saved in the extension's per-workspace
 * storage (`context.storageUri`) by the engine's `state/save` (atomic, checksummed), restored at once when the
 * workspace is opened again, and kept current when files change.
 *
 * Every engine request for this workspace goes through one queue, so at most one runs at a time and the
 * others wait in order; each request takes a CancellationToken/AbortSignal that becomes `engine/cancel`.
 *
 * Keeping the memory current: after file changes settle (2 s), an ingest runs with `fresh: false`. The engine
 * then keeps the state it holds when its files are a prefix of the new walk (unchanged files, new files that
 * sort last) and reads only the rest; any other change is a full re-read, because the protocol has no way yet
 * to resume from a per-file checkpoint in the middle (see the README's "Extension" section).
 */
import * as vscode from 'vscode';
import { EngineError, type AnswerResult, type IngestResult, type SummarizeResult } from '../model/engine/protocol';
import type { MemoryView, ProgressView } from '../webview/protocol';
import { describeDevice, describeModel, type EngineHost } from './engine-host';
import { ContextKeys, StateKeys } from './ids';
import { Debouncer, Disposable, TaskQueue, toAbortSignal } from './lifecycle';
import * as settings from './settings';

const STATE_FILE = 'famulus-state.bin';

export type Phase = MemoryView['phase'];

export class WorkspaceMemory extends Disposable {
  private phase: Phase = 'empty';
  private files = 0;
  private tokens = 0;
  private lastUpdate = '';
  private detail = '';
  private progressView: ProgressView | null = null;
  /** The engine generation whose state is this workspace's (a restarted engine holds none). */
  private loadedGeneration = -1;
  private readonly queue = new TaskQueue();
  private readonly updates = this.register(new Debouncer(2000));
  private watcher: vscode.FileSystemWatcher | null = null;
  /** The ingest running now, so a refresh or forget can stop it. */
  private ingestAbort: AbortController | null = null;

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

  get stateFile(): vscode.Uri | undefined {
    return this.storage && vscode.Uri.joinPath(this.storage, STATE_FILE);
  }

  get view(): MemoryView {
    const info = this.host.current;
    return {
      phase: this.phase,
      files: this.files,
      tokens: this.tokens,
      model: info ? describeModel(info.model) : '',
      device: info ? describeDevice(info.device) : '',
      lastUpdate: this.lastUpdate,
      detail: this.detail || (info?.device.fallbackReason ? `WebGPU skipped: ${info.device.fallbackReason}` : ''),
    };
  }

  get progress(): ProgressView | null {
    return this.progressView;
  }

  get hasMemory(): boolean {
    return this.files > 0;
  }

  /** Called once the window is trusted: restore a saved state at once, or offer (or start) the first read. */
  async open(): Promise<void> {
    if (!vscode.workspace.isTrusted) {
      this.set({ phase: 'untrusted' });
      return;
    }
    this.watch();
    const file = this.stateFile;
    if (file && (await exists(file))) {
      try {
        await this.restore();
        return;
      } catch (err) {
        this.log.warn(`saved memory not restored: ${(err as Error).message}`);
        this.set({ phase: 'empty', detail: `The saved memory could not be used (${(err as Error).message}); read the workspace again.` });
      }
    } else {
      this.set({ phase: 'empty' });
    }
    await this.offerFirstRead();
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

  /** Loads the saved state into the engine (the engine is started if needed). */
  private async restore(): Promise<void> {
    await this.queue.run('restore', async () => {
      this.set({ phase: 'starting' });
      await this.ensureLoaded();
    });
  }

  /**
   * Makes sure the running engine holds this workspace's state: after a (re)start, loads the saved file.
   * Runs inside the queue.
   */
  private async ensureLoaded() {
    let started;
    try {
      started = await this.host.client();
    } catch (err) {
      this.set({ phase: 'error', detail: `The engine could not start: ${firstLines((err as Error).message)}` });
      throw err;
    }
    const { client, info } = started;
    if (this.loadedGeneration === info.generation) return client;
    const file = this.stateFile;
    if (file && (await exists(file))) {
      try {
        const loaded = await client.request('state/load', { path: file.fsPath });
        this.loadedGeneration = info.generation;
        this.set({
          phase: 'ready',
          files: loaded.state.files,
          tokens: loaded.state.tokens,
          lastUpdate: loaded.state.lastUpdate,
          detail: '',
        });
        this.log.info(`memory restored from ${file.fsPath}: ${loaded.state.files} files, ${loaded.state.tokens} tokens (${loaded.seconds.toFixed(2)} s)`);
      } catch (err) {
        if (err instanceof EngineError && (err.code === 'state-mismatch' || err.code === 'state-corrupt')) {
          this.loadedGeneration = info.generation;
          this.set({ phase: 'empty', files: 0, tokens: 0, lastUpdate: '', detail: `Saved memory not usable: ${err.message}. Read the workspace again.` });
          return client;
        }
        throw err;
      }
    } else {
      this.loadedGeneration = info.generation;
      if (this.phase !== 'reading') this.set({ phase: 'empty', files: 0, tokens: 0, lastUpdate: '' });
    }
    return client;
  }

  // ---- reading ------------------------------------------------------------------------------------------------

  /**
   * Reads the workspace into memory with a progress notification (files, tokens, tok/s, time left) and a
   * Cancel button; saves the state when done (also when cancelled: the engine keeps every completed file).
   */
  async read(opts: { fresh: boolean; quiet?: boolean }, token?: vscode.CancellationToken): Promise<IngestResult> {
    this.requireTrusted();
    // A read replaces a read in progress (e.g. Refresh during an update).
    this.ingestAbort?.abort();
    const location = opts.quiet ? vscode.ProgressLocation.Window : vscode.ProgressLocation.Notification;
    return vscode.window.withProgress(
      { location, title: opts.quiet ? 'Famulus: updating memory' : `Famulus: reading ${this.folder.name}`, cancellable: !opts.quiet },
      (progress, progressToken) => this.ingest(opts, progress, [progressToken, token]),
    );
  }

  private async ingest(
    opts: { fresh: boolean; quiet?: boolean },
    progress: vscode.Progress<{ message?: string; increment?: number }>,
    tokens: (vscode.CancellationToken | undefined)[],
  ): Promise<IngestResult> {
    const abort = new AbortController();
    this.ingestAbort = abort;
    const bridges = tokens.map((t) => toAbortSignal(t));
    for (const b of bridges) {
      if (b.signal.aborted) abort.abort();
      b.signal.addEventListener('abort', () => abort.abort(), { once: true });
    }
    const previous = { phase: this.phase };
    try {
      return await this.queue.run(
        'read',
        async () => {
          this.set({ phase: 'starting', detail: '' });
          const client = await this.ensureLoaded();
          this.set({ phase: opts.quiet ? 'updating' : 'reading', detail: '' });
          const stream = client.stream(
            'workspace/ingest',
            { root: this.folder.uri.fsPath, walker: settings.walkerOptions(this.folder.uri), fresh: opts.fresh },
            { signal: abort.signal },
          );
          let reported = 0;
          // Time left from the read rate since the first progress report (files kept from memory cost nothing).
          let base: { bytes: number; at: number } | null = null;
          for await (const chunk of stream) {
            if (chunk.kind === 'walked') {
              this.log.info(`walked ${this.folder.uri.fsPath}: ${chunk.filesTotal} files, ${chunk.filesReused} kept from memory, ${chunk.skipped.length} skipped`);
              for (const s of chunk.skipped.slice(0, 50)) this.log.debug(`skipped ${s.path}: ${s.reason} (${s.detail})`);
              continue;
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
          }
          const result = await stream.result;
          if (result.state) {
            const saved = await client.request('state/save', { path: this.stateFile!.fsPath });
            this.log.info(`memory saved to ${saved.path} (${saved.bytes} bytes, ${saved.seconds.toFixed(2)} s)`);
          }
          this.log.info(
            `read ${result.filesIngested} files (${result.filesReused} kept), ${result.tokensIngested} tokens in ${result.seconds.toFixed(2)} s` +
              ` (${result.tokensPerSecond.toFixed(0)} tok/s)${result.cancelled ? ', cancelled' : ''}`,
          );
          this.set({
            phase: result.state && result.state.files > 0 ? 'ready' : 'empty',
            files: result.state?.files ?? 0,
            tokens: result.state?.tokens ?? 0,
            lastUpdate: result.state?.lastUpdate ?? '',
            detail: result.cancelled ? `Reading was stopped after ${result.state?.files ?? 0} files; Refresh continues from there.` : '',
          });
          return result;
        },
        abort.signal,
      );
    } catch (err) {
      if ((err as Error).name === 'AbortError' || (err instanceof EngineError && err.code === 'cancelled')) {
        this.set({ phase: previous.phase === 'reading' || previous.phase === 'updating' ? 'empty' : previous.phase });
      } else {
        this.set({ phase: 'error', detail: (err as Error).message });
      }
      throw err;
    } finally {
      for (const b of bridges) b.dispose();
      if (this.ingestAbort === abort) this.ingestAbort = null;
      this.progressView = null;
      this.changed.fire();
    }
  }

  /** Forgets the memory: deletes the saved state and drops the engine's copy. */
  async forget(): Promise<void> {
    this.ingestAbort?.abort();
    await this.queue.run('forget', async () => {
      const file = this.stateFile;
      if (file && (await exists(file))) await vscode.workspace.fs.delete(file);
      // The protocol has no "drop the state" message: stopping the engine drops its copy (it restarts lazily).
      if (this.host.current) await this.host.stop();
      this.loadedGeneration = -1;
      this.set({ phase: 'empty', files: 0, tokens: 0, lastUpdate: '', detail: '' });
    });
    await this.workspaceState.update(StateKeys.offeredRead, true);
  }

  // ---- questions ---------------------------------------------------------------------------------------------

  /** Answers from the memory, streaming text through `onText`. The saved state is never changed by a question. */
  async ask(question: string, onText: (text: string) => void, signal: AbortSignal): Promise<AnswerResult> {
    this.requireTrusted();
    return this.queue.run(
      'ask',
      async () => {
        const client = await this.ensureLoaded();
        this.requireMemory();
        const stream = client.stream('engine/ask', { question, options: settings.generation() }, { signal });
        for await (const delta of stream) onText(delta.text);
        return stream.result;
      },
      signal,
    );
  }

  /** Summarises one file of the workspace from the memory. */
  async summarize(file: vscode.Uri, onText: (text: string) => void, signal: AbortSignal): Promise<SummarizeResult> {
    this.requireTrusted();
    return this.queue.run(
      'summarize',
      async () => {
        const client = await this.ensureLoaded();
        this.requireMemory();
        const stream = client.stream('engine/summarize', { path: file.fsPath, options: settings.generation() }, { signal });
        for await (const delta of stream) onText(delta.text);
        return stream.result;
      },
      signal,
    );
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
          if (err.name !== 'AbortError' && !(err instanceof EngineError && err.code === 'cancelled')) {
            this.log.warn(`memory update failed: ${err.message}`);
          }
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
      this.loadedGeneration = -1;
      this.set({ phase: 'error', detail: crash });
      // Restart at once and bring the saved memory back, so the next question does not wait for it.
      if (this.stateFile) {
        void this.restore().catch((err: Error) => this.log.warn(`restart after crash failed: ${err.message}`));
      }
      return;
    }
    this.changed.fire();
  }

  // ---- helpers -------------------------------------------------------------------------------------------------

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
    if (err.name === 'AbortError' || (err instanceof EngineError && err.code === 'cancelled')) return;
    this.log.error(`${what}: ${err.message}`);
    void vscode.window.showErrorMessage(`Famulus: ${what}: ${err.message}`);
  }
}

/** The first lines of a message (an engine crash carries its whole log tail). */
export function firstLines(text: string, lines = 3): string {
  const all = text.split('\n');
  return all.length <= lines ? text : `${all.slice(0, lines).join('\n')} … (see the Famulus log)`;
}

async function exists(uri: vscode.Uri): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(uri);
    return true;
  } catch {
    return false;
  }
}
