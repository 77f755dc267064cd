/**
 * The session policy of one workspace, in one place for every client (the CLI, the extension, any JSON-RPC
 * client): where its memory is saved, when the saved memory is loaded, which files are read, when the memory is
 * saved, and how it is forgotten.
 *
 *   open    → restore the saved memory (if it is usable) → read what is new or changed → save
 *   update  → read what is new or changed → save
 *   forget  → drop the held memory and delete the saved files
 *
 * A save that fails (a full disk, a read-only folder) fails no request: the memory read is held and answers
 * use it; the result says why it was not saved. The filesystem root, the home folder and folders above it are
 * not read unless the client allows it for that open (paths.ts, broadRootReason).
 *
 * The memory is the FAM state plus a manifest of what it has read (path, hash, bytes, tokens per file, in
 * stream order, and what the last walk skipped), and the workspace index (model/index/: definitions and search
 * chunks) of the same files, built in the same walk and saved beside the state under the same rules. Reading
 * checkpoints at file boundaries: after each completed file, that state is the workspace's, so a cancel (or a
 * failure) keeps everything up to the last completed file, and that is saved. Its progress counts bytes, and
 * moves within a file as its blocks are read.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { BUNDLE_INDEX_ROOT, encodeBundle, type VerifiedBundle } from '../bundle';
import { WorkspaceIndex, readIndexFile, writeIndexFile, type IndexMeta } from '../index';
import type { FamTokenizer, LoadedModel } from '../loader';
import type { FamSession, FamState } from '../runtime/fam-session';
import { StateFileError, encodeState, readStateFile, tokenCount, writeStateFile } from '../state';
import { broadRootReason, isInside } from '../workspace/paths';
import { SKIP_REASONS, readTextFile, walkWorkspace, type SkippedEntry, type WalkedFile, type WalkResult } from '../workspace/walker';
import { isCancellation } from './cancellation';
import { fileChunkTokensYielding, rereadChunkTokens } from './prompt';
import type { RetrievalIO } from './retrieval';
import {
  EngineError,
  MAX_SKIPPED_KEPT,
  MEMORY_FILES,
  v,
  type Check,
  type FilesResult,
  type MemoryOrigin,
  type ReadChunk,
  type ReadMode,
  type ReadSummary,
  type StateSummary,
  type WalkerOptions,
  type WorkspaceResult,
  type WorkspaceStatus,
} from './protocol';
import { secondsSince, streamWhile } from './streams';

/** Progress chunks are sent at most this often (and after the last file). */
const PROGRESS_INTERVAL_MS = 100;
/** The key of the workspace manifest in a state's meta. */
const MANIFEST_KEY = 'famulus.workspace';
/** Stale text may make up at most this share of what a state has read before an update re-reads everything. */
const MAX_STALE_SHARE = 1 / 3;

/** One file read into the memory, as recorded in the manifest. */
export interface ReadFile {
  path: string;
  sha256: string;
  bytes: number;
  tokens: number;
}

/** What a walk left out: its first MAX_SKIPPED_KEPT skips in path order, and how many there were. */
interface WalkRecord {
  at: string;
  skipped: SkippedEntry[];
  skippedTotal: number;
}

/**
 * The bundle a memory started from (MemoryOrigin without what is derived): its first `readings` files are the
 * bundle's, the later ones were read here.
 */
type OriginRecord = Omit<MemoryOrigin, 'localChanges'> & { readings: number };

/** What the memory has read: stored in the state's meta, so a saved state says what it holds. */
interface Manifest {
  root: string;
  lastUpdate: string;
  files: ReadFile[];
  /** The last walk's skips; absent in a state saved before engines kept them. */
  walk?: WalkRecord;
  /** Set when the memory started as a bundle (workspace/import) and has not been read from scratch since. */
  origin?: OriginRecord;
}

const manifestCheck: Check<Manifest> = v.object({
  root: v.string({ nonEmpty: true }),
  lastUpdate: v.string({ nonEmpty: true }),
  files: v.array(
    v.object({
      path: v.string({ nonEmpty: true }),
      sha256: v.string({ nonEmpty: true }),
      bytes: v.number({ integer: true, min: 0 }),
      tokens: v.number({ integer: true, min: 0 }),
    }),
  ),
  walk: v.optional(
    v.object({
      at: v.string({ nonEmpty: true }),
      skipped: v.array(
        v.object({ path: v.string({ nonEmpty: true }), reason: v.literal(...SKIP_REASONS), detail: v.string() }),
        { max: MAX_SKIPPED_KEPT },
      ),
      skippedTotal: v.number({ integer: true, min: 0 }),
    }),
  ),
  origin: v.optional(
    v.object({
      kind: v.literal('bundle'),
      commit: v.nullable(v.string({ nonEmpty: true })),
      source: v.string({ nonEmpty: true }),
      sha256: v.string({ nonEmpty: true }),
      importedAt: v.string({ nonEmpty: true }),
      readings: v.number({ integer: true, min: 0 }),
    }),
  ),
});

/** The memory held for the workspace: the FAM state, what it has read, and the index of those files. */
interface Memory extends Omit<Manifest, 'walk' | 'origin'> {
  state: FamState;
  index: WorkspaceIndex;
  origin: OriginRecord | null;
}

/** What the session needs of the engine: the loaded model and its runtime. */
export interface SessionModel {
  model: LoadedModel;
  session: FamSession;
}

export class WorkspaceSession {
  private memory: Memory | null = null;
  /** What the last walk skipped (of this process, or saved with the memory restored); null before any. */
  private lastWalk: WalkRecord | null = null;
  /** Read the root even when it is too broad (set by each workspace/open; an update keeps it). */
  allowBroadRoot = false;

  constructor(
    private readonly loaded: SessionModel,
    readonly root: string,
    readonly memoryDir: string | null,
    private walker: WalkerOptions,
  ) {}

  /** The saved FAM state's path, or null when the memory is not saved. */
  get stateFile(): string | null {
    return this.memoryDir && path.join(this.memoryDir, MEMORY_FILES.state);
  }

  /** Walker settings for the next read (a settings change in the client). */
  setWalker(walker: WalkerOptions): void {
    this.walker = walker;
  }

  /** The held FAM state and index, or an error saying that nothing has been read. */
  requireMemory(): { root: string; state: FamState; index: WorkspaceIndex } {
    if (!this.memory) throw new EngineError('no-state', `nothing of ${this.root} is in memory yet: read it first (workspace/open)`);
    return { root: this.root, state: this.memory.state, index: this.memory.index };
  }

  /**
   * A path a client names (absolute, or relative to the root) as a root-relative one, if it is a file inside
   * the workspace; a link that leads out of the folder is refused too.
   */
  async relativeFile(p: string): Promise<string> {
    const abs = path.resolve(this.root, p);
    if (!isInside(this.root, abs)) throw new EngineError('not-found', `${p} is not a file inside the open workspace ${this.root}`);
    const real = await fs.realpath(abs).catch(() => null);
    const realRoot = await fs.realpath(this.root).catch(() => this.root);
    if (real !== null && !isInside(realRoot, real)) {
      throw new EngineError('not-found', `${p} links to ${real}, outside the open workspace ${this.root}`);
    }
    return path.relative(this.root, abs).split(path.sep).join('/');
  }

  /** How retrieval reads workspace files (as they are on disk now) and counts re-read tokens. */
  rereadIO(tokenizer: FamTokenizer): RetrievalIO {
    return {
      readLines: async (p) => {
        const rel = await this.relativeFile(p).catch(() => null);
        if (rel === null) return null;
        const read = await readTextFile(path.join(this.root, rel), this.walker.maxFileBytes);
        return 'text' in read ? read.text.split(/\r?\n/) : null;
      },
      tokenize: (p, start, end, text) => rereadChunkTokens(tokenizer, p, start, end, text),
    };
  }

  /** The index file's path, or null when the memory is not saved. */
  get indexFile(): string | null {
    return this.memoryDir && path.join(this.memoryDir, MEMORY_FILES.index);
  }

  /** Frees the held state's buffers. */
  dispose(): void {
    this.setMemory(null);
  }

  /** workspace/open: the saved memory when it is usable, then (unless 'restore') a read of what changed. */
  async *open(mode: ReadMode, signal: AbortSignal): AsyncGenerator<ReadChunk, WorkspaceResult> {
    const result = this.emptyResult();
    if (mode !== 'fresh') {
      const started = performance.now();
      const restored = await this.restore();
      if (restored.problem) result.restoreProblem = restored.problem;
      if (restored.indexProblem) result.indexProblem = restored.indexProblem;
      if (restored.ok) {
        result.restored = { seconds: secondsSince(started) };
        yield { kind: 'restored', state: this.summary()!, seconds: result.restored.seconds };
      }
    }
    if (mode === 'restore') return { ...result, state: this.summary() };
    return yield* this.readAndSave(mode, signal, result);
  }

  /** workspace/update: reads what is new or changed since the memory was read (everything for 'fresh'), then saves. */
  async *update(mode: 'read' | 'fresh', walker: WalkerOptions | undefined, signal: AbortSignal): AsyncGenerator<ReadChunk, WorkspaceResult> {
    if (walker) this.setWalker(walker);
    return yield* this.readAndSave(mode, signal, this.emptyResult());
  }

  /**
   * workspace/import: a verified bundle (model/bundle/verify.ts) becomes the memory, replacing what is held;
   * then what differs on disk is read on top of it, exactly as an update of a memory read here would, and the
   * memory is saved (sealed with this user's key). The bundle's index names no folder: its search is built from
   * the files here that are as the bundle read them.
   */
  async *adopt(bundle: VerifiedBundle, source: string, signal: AbortSignal): AsyncGenerator<ReadChunk, WorkspaceResult> {
    await this.checkBroadRoot();
    const started = performance.now();
    const state = await this.loaded.session.restore(bundle.snapshot);
    const index = await WorkspaceIndex.fromBody(bundle.index, this.root);
    const files = bundle.manifest.files.map(({ path: p, sha256, bytes, tokens }) => ({ path: p, sha256, bytes, tokens }));
    const now = new Date().toISOString();
    const origin: OriginRecord = { kind: 'bundle', commit: bundle.manifest.commit, source, sha256: bundle.sha256, importedAt: now, readings: files.length };
    this.setMemory({ root: this.root, lastUpdate: now, files, state, index, origin });
    this.lastWalk = null;
    const result = this.emptyResult();
    result.restored = { seconds: secondsSince(started) };
    yield { kind: 'restored', state: this.summary()!, seconds: result.restored.seconds };
    return yield* this.readAndSave('read', signal, result, true);
  }

  /**
   * The held memory as the bytes of a bundle (model/bundle/format.ts): the state and index sealed 'unkeyed',
   * the index for no folder, and nothing of this machine (no path, no time) in it.
   */
  async bundle(commit: string | null, tokenizerSha256: string): Promise<{ bytes: Uint8Array; files: number; tokens: number }> {
    const ws = this.memory;
    if (!ws) throw new EngineError('no-state', `nothing of ${this.root} is in memory yet: read it first (workspace/open)`);
    const { model, session } = this.loaded;
    const state = encodeState(await session.snapshot(ws.state, {}), 'unkeyed');
    const key = walkerKey(this.walker);
    const index = ws.index.serialize({ modelId: model.modelId, walkerKey: key, root: BUNDLE_INDEX_ROOT }, 'unkeyed');
    let tokens = 0;
    const files = ws.files.map((f) => {
      const start = tokens;
      tokens += f.tokens;
      return { ...f, start };
    });
    const manifest = { modelId: model.modelId, tokenizerSha256, walker: { sha256: key, settings: this.walker }, commit, tokens, files };
    return { bytes: encodeBundle({ manifest, state, index }), files: files.length, tokens };
  }

  /** The walker settings' key (the index's walkerKey, a bundle's walker hash). */
  get walkerKey(): string {
    return walkerKey(this.walker);
  }

  /** workspace/forget: drops the held memory and deletes the saved files. */
  async forget(): Promise<string[]> {
    this.setMemory(null);
    this.lastWalk = null;
    const deleted: string[] = [];
    if (!this.memoryDir) return deleted;
    for (const name of Object.values(MEMORY_FILES)) {
      const file = path.join(this.memoryDir, name);
      try {
        await fs.unlink(file);
        deleted.push(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new EngineError('io-error', `cannot delete ${file}: ${(err as Error).message}`);
        }
      }
    }
    return deleted;
  }

  async status(): Promise<WorkspaceStatus> {
    let savedBytes: number | null = null;
    if (this.memoryDir) {
      for (const name of Object.values(MEMORY_FILES)) {
        const size = await fs.stat(path.join(this.memoryDir, name)).then((s) => s.size, () => null);
        if (size !== null) savedBytes = (savedBytes ?? 0) + size;
      }
    }
    return { root: this.root, memoryDir: this.memoryDir, state: this.summary(), savedBytes };
  }

  /** workspace/files: each file in the memory with its tokens, and what the last walk skipped. */
  files(): FilesResult {
    const ws = this.memory;
    if (!ws) throw new EngineError('no-state', `nothing of ${this.root} is in memory yet: read it first (workspace/open)`);
    // An updated file was read more than once: its latest reading is the one in the memory's index.
    const latest = new Map(ws.files.map((f) => [f.path, f]));
    return {
      root: this.root,
      files: [...latest.values()].map(({ path: p, bytes, tokens }) => ({ path: p, bytes, tokens })),
      skipped: this.lastWalk?.skipped ?? [],
      skippedTotal: this.lastWalk?.skippedTotal ?? 0,
      walkedAt: this.lastWalk?.at ?? null,
      lastUpdate: ws.lastUpdate,
    };
  }

  /** What the memory holds, for every reply that reports it; null when nothing is held. */
  summary(): StateSummary | null {
    const ws = this.memory;
    if (!ws) return null;
    const { session } = this.loaded;
    const { layers, famLength, hidden, blockSize, memSegments } = session.dims;
    const elementBytes = session.device.dtype === 'float16' ? 2 : 4;
    return {
      root: this.root,
      // Distinct files: an updated file has been read more than once (see planRead).
      files: new Set(ws.files.map((f) => f.path)).size,
      tokens: session.tokenCount(ws.state),
      blocks: ws.state.blocks,
      pendingTokens: ws.state.pending.length,
      // docs/fam.md: per layer F*D + 2*m*B*D_kv numbers, whatever was read.
      stateBytes: layers * (famLength * hidden + 2 * memSegments * blockSize * session.kvDim) * elementBytes,
      lastUpdate: ws.lastUpdate,
      origin: ws.origin && originOf(ws),
    };
  }

  // ---- restore and save ---------------------------------------------------------------------------------

  /**
   * Loads the saved memory unless one is already held (then `ok` is false: nothing was restored). A saved memory that cannot be used (another model,
   * another folder, damaged) is not an error: it is reported as the problem, and the read starts over.
   */
  private async restore(): Promise<{ ok: boolean; problem?: string; indexProblem?: string }> {
    // Held already (the same folder opened again): nothing is loaded, so nothing is reported as restored.
    if (this.memory) return { ok: false };
    const file = this.stateFile;
    if (!file) return { ok: false };
    const { model, session } = this.loaded;
    let manifest: Manifest;
    let state: FamState;
    try {
      const snap = await readStateFile(file, model.modelId, model.config.vocab_size);
      manifest = manifestCheck(snap.meta[MANIFEST_KEY], 'manifest');
      const listed = manifest.files.reduce((n, f) => n + f.tokens, 0);
      if (listed !== tokenCount(snap)) throw new Error(`its manifest lists ${listed} tokens read, its state holds ${tokenCount(snap)}`);
      if (path.resolve(manifest.root) !== this.root) {
        return { ok: false, problem: `${file} holds the memory of ${manifest.root}, not of ${this.root}` };
      }
      state = await session.restore(snap);
    } catch (err) {
      if (err instanceof StateFileError && err.reason === 'not-found') return { ok: false };
      return { ok: false, problem: `the saved memory in ${file} cannot be used: ${(err as Error).message}` };
    }
    const { index, problem } = await this.restoreIndex(manifest.files);
    const { walk, origin, ...read } = manifest;
    this.setMemory({ ...read, root: this.root, state, index, origin: origin ?? null });
    this.lastWalk = walk ?? null;
    return problem ? { ok: true, indexProblem: problem } : { ok: true };
  }

  /**
   * The saved index, when it indexes exactly the files the state has read (same paths, same hashes); else it
   * is rebuilt from the files on disk that are still as they were read, and the reason is reported. Never
   * trusted on its checksum alone: an index from another read would cite lines the memory never saw.
   */
  private async restoreIndex(files: ReadFile[]): Promise<{ index: WorkspaceIndex; problem?: string }> {
    const latest = latestReadings(files);
    let problem: string;
    try {
      const index = await readIndexFile(this.indexFile!, this.indexMeta());
      const indexed = new Map(index.files().map((f) => [f.path, f.sha256]));
      const same = indexed.size === latest.size && [...latest].every(([p, sha]) => indexed.get(p) === sha);
      if (same) return { index };
      problem = 'it indexes other files than the memory has read';
    } catch (err) {
      problem = (err as Error).message;
    }
    const index = await WorkspaceIndex.create();
    for (const [p, sha] of latest) {
      const read = await readTextFile(path.join(this.root, p), this.walker.maxFileBytes);
      if ('text' in read && read.sha256 === sha) await index.addFile(p, read.text, sha);
    }
    return { index, problem: `the saved index in ${this.indexFile} was rebuilt (${problem})` };
  }

  /** Refuses to read the filesystem root, the home folder or a folder above it, unless the client allowed it. */
  private async checkBroadRoot(): Promise<void> {
    const broad = this.allowBroadRoot ? null : await broadRootReason(this.root);
    if (broad) {
      throw new EngineError('invalid-request', `${this.root} is ${broad}: reading it would read every file in it. Open a project folder instead.`);
    }
  }

  private indexMeta(): IndexMeta {
    return { modelId: this.loaded.model.modelId, walkerKey: walkerKey(this.walker), root: this.root };
  }

  /** Saves the held memory (atomically: a reader sees the old file or the new one, never a part). */
  private async save(): Promise<{ bytes: number; seconds: number } | null> {
    const file = this.stateFile;
    const ws = this.memory;
    if (!file || !ws) return null;
    const started = performance.now();
    const manifest: Manifest = {
      root: ws.root,
      lastUpdate: ws.lastUpdate,
      files: ws.files,
      ...(this.lastWalk ? { walk: this.lastWalk } : {}),
      ...(ws.origin ? { origin: ws.origin } : {}),
    };
    const snap = await this.loaded.session.snapshot(ws.state, { [MANIFEST_KEY]: manifest });
    try {
      await makeFolder(path.dirname(file));
      // The index first: a crash between the two leaves a state whose index does not match it, which
      // restoreIndex() detects and rebuilds; the other order would look consistent and be stale.
      const indexBytes = await writeIndexFile(this.indexFile!, ws.index, this.indexMeta());
      await writeStateFile(file, snap);
      const { size } = await fs.stat(file);
      return { bytes: size + indexBytes, seconds: secondsSince(started) };
    } catch (err) {
      throw new EngineError('io-error', `cannot save the memory to ${file}: ${(err as Error).message}`);
    }
  }

  // ---- reading -------------------------------------------------------------------------------------------

  /**
   * Walks, reads what the plan says, and saves when the memory changed (also after a cancel), or always with
   * `mustSave` (a memory adopted from a bundle is new to the disk even when nothing differs).
   */
  private async *readAndSave(mode: 'read' | 'fresh', signal: AbortSignal, result: WorkspaceResult, mustSave = false): AsyncGenerator<ReadChunk, WorkspaceResult> {
    await this.checkBroadRoot();
    const held = this.memory;
    const read = yield* this.read(mode === 'fresh', signal);
    if (read === null) return { ...result, cancelled: true, state: this.summary() };
    // Every file read, and a fresh start, replaces the memory object: only then is there something to save.
    if (mustSave || this.memory !== held) {
      try {
        result.saved = await this.save();
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        result.saveProblem = err.message;
      }
    }
    return { ...result, read: read.summary, cancelled: read.cancelled, state: this.summary() };
  }

  /**
   * Reads the workspace into the memory: walks it, plans what to read, streams those files block by block.
   * Returns null when cancelled during the walk (nothing changed).
   */
  private async *read(fresh: boolean, signal: AbortSignal): AsyncGenerator<ReadChunk, { summary: ReadSummary; cancelled: boolean } | null> {
    const { model, session } = this.loaded;
    const started = performance.now();
    let walk: WalkResult;
    try {
      walk = await walkWorkspace(this.root, { ...this.walker, signal });
    } catch (err) {
      if (isCancellation(err)) return null;
      throw new EngineError('not-found', (err as Error).message);
    }
    const plan = fresh ? readAll(walk) : planRead(this.memory, walk);
    const reused = walk.files.length - plan.toRead.length;
    this.lastWalk = { at: new Date().toISOString(), skipped: walk.skipped.slice(0, MAX_SKIPPED_KEPT), skippedTotal: walk.skipped.length };
    yield { kind: 'walked', filesTotal: walk.files.length, bytesTotal: walk.totalBytes, filesReused: reused, skipped: walk.skipped };

    // From here the memory is this walk's: the held one, or an empty one, then one checkpoint per file.
    if (plan.fromScratch) {
      const fresh = { root: this.root, lastUpdate: new Date().toISOString(), files: [], state: await session.initialState(), origin: null };
      this.setMemory({ ...fresh, index: await WorkspaceIndex.create() });
    }
    const memory = this.memory!;
    const { files, index, origin } = memory;
    // Files gone from the walk leave the index at once (their text stays in the FAM until a full re-read).
    const walked = new Set(walk.files.map((f) => f.path));
    for (const f of index.files()) if (!walked.has(f.path)) index.removeFile(f.path);
    const filesBefore = files.length;
    let bytesDone = walk.totalBytes - plan.toRead.reduce((n, f) => n + f.size, 0);
    let tokensDone = 0;
    let indexSeconds = 0;
    let cancelled = false;
    const readStarted = performance.now();
    let lastProgress = performance.now();
    /** `within`: the share of `currentFile` read so far, which moves the bytes within a file. */
    const progress = (currentFile: WalkedFile, filesDone: number, extraTokens: number, within: number): ReadChunk => ({
      kind: 'progress',
      filesDone,
      filesTotal: walk.files.length,
      bytesDone: bytesDone + Math.floor(currentFile.size * within),
      bytesTotal: walk.totalBytes,
      currentFile: currentFile.path,
      tokensDone: tokensDone + extraTokens,
      tokensPerSecond: (tokensDone + extraTokens) / Math.max(secondsSince(readStarted), 1e-9),
    });
    if (plan.toRead.length > 0) yield progress(plan.toRead[0]!, reused, 0, 0);
    try {
      for (let k = 0; k < plan.toRead.length; k++) {
        const file = plan.toRead[k]!;
        const i = reused + k;
        const tokens = await fileChunkTokensYielding(model.tokenizer, file.path, file.text);
        const state = yield* streamWhile<ReadChunk, FamState>((emit) =>
          session.ingest(this.memory!.state, tokens, {
            signal,
            onProgress: (p) => {
              const now = performance.now();
              if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
              lastProgress = now;
              emit(progress(file, i, p.tokensDone, p.tokensDone / Math.max(tokens.length, 1)));
            },
          }),
        );
        // Checkpoint: this file is complete, so its state becomes the memory's, and it enters the index.
        files.push({ path: file.path, sha256: file.sha256, bytes: file.size, tokens: tokens.length });
        const indexStarted = performance.now();
        await index.addFile(file.path, file.text, file.sha256);
        indexSeconds += secondsSince(indexStarted);
        tokensDone += tokens.length;
        bytesDone += file.size;
        this.setMemory({ root: this.root, lastUpdate: new Date().toISOString(), files, state, index, origin });
        const now = performance.now();
        if (now - lastProgress >= PROGRESS_INTERVAL_MS || k === plan.toRead.length - 1) {
          lastProgress = now;
          yield progress(file, i + 1, 0, 0);
        }
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
      cancelled = true;
    }
    const readSeconds = secondsSince(readStarted);
    const summary: ReadSummary = {
      filesIngested: files.length - filesBefore,
      filesReused: reused,
      tokensIngested: tokensDone,
      skipped: walk.skipped,
      seconds: secondsSince(started),
      indexSeconds,
      tokensPerSecond: tokensDone > 0 ? tokensDone / readSeconds : 0,
    };
    return { summary, cancelled };
  }

  private emptyResult(): WorkspaceResult {
    return {
      root: this.root,
      memoryDir: this.memoryDir,
      restored: null,
      restoreProblem: null,
      indexProblem: null,
      read: null,
      saved: null,
      saveProblem: null,
      cancelled: false,
      state: null,
    };
  }

  /** Replaces the memory, releasing the old state's buffers unless the new memory keeps them. */
  private setMemory(next: Memory | null): void {
    const old = this.memory;
    this.memory = next;
    if (old && old.state !== next?.state) this.loaded.session.release(old.state);
  }
}

/** What a read does: everything from an empty state, or only some files on top of the held state. */
interface ReadPlan {
  fromScratch: boolean;
  toRead: WalkedFile[];
}

/** Each path's last reading: path → sha256 of the text the memory holds for it now. */
function latestReadings(files: ReadFile[]): Map<string, string> {
  return new Map(files.map((f) => [f.path, f.sha256]));
}

/**
 * Where a memory that started as a bundle stands: the paths read here since (new and changed files), and the
 * bundle's latest readings the index no longer holds (deleted here, or left out by this walk's settings).
 */
function originOf(ws: Memory): MemoryOrigin {
  const { readings, ...origin } = ws.origin!;
  const changed = new Set(ws.files.slice(readings).map((f) => f.path));
  const indexed = new Set(ws.index.files().map((f) => f.path));
  for (const f of ws.files.slice(0, readings)) if (!indexed.has(f.path)) changed.add(f.path);
  return { ...origin, localChanges: changed.size };
}

/** The walker settings as a key: an index made under other settings indexes other files. */
function walkerKey(walker: WalkerOptions): string {
  return createHash('sha256').update(JSON.stringify(walker, Object.keys(walker).sort())).digest('hex');
}

function readAll(walk: WalkResult): ReadPlan {
  return { fromScratch: true, toRead: walk.files };
}

/**
 * An update of the held memory for a new walk (docs/architecture.md, "Update"): the files that are new or changed
 * since they were read are streamed on top of the held state, in walk order, so one changed file costs one
 * file, not the workspace. The old text of a changed file, and a deleted file, stay in the working memory,
 * earlier in the stream (FAM favours what it read last); once such stale text would pass a third of
 * everything read, the update re-reads the workspace from scratch instead, which compacts the memory.
 */
function planRead(memory: Memory | null, walk: WalkResult): ReadPlan {
  if (!memory || memory.files.length === 0) return readAll(walk);
  const latest = new Map<string, number>(); // path -> index of its last reading in memory.files
  memory.files.forEach((f, i) => latest.set(f.path, i));
  const current = new Map(walk.files.map((f) => [f.path, f.sha256]));
  const toRead = walk.files.filter((f) => {
    const i = latest.get(f.path);
    return i === undefined || memory.files[i]!.sha256 !== f.sha256;
  });
  // After the update, a reading is live when it is its path's last one and the path is still in the walk.
  const changed = new Set(toRead.map((f) => f.path));
  let stale = 0;
  let live = toRead.reduce((n, f) => n + f.size, 0);
  memory.files.forEach((f, i) => {
    if (latest.get(f.path) === i && current.get(f.path) === f.sha256 && !changed.has(f.path)) live += f.bytes;
    else stale += f.bytes;
  });
  if (stale > MAX_STALE_SHARE * (stale + live)) return readAll(walk);
  return { fromScratch: false, toRead };
}

/**
 * Creates a folder and the folders above it. Not `fs.mkdir(…, { recursive: true })`: on a read-only file system
 * Node reports its failure as ENOENT (it stats the folder it could not create), where the cause is EROFS.
 */
async function makeFolder(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || path.dirname(dir) === dir) throw err;
  }
  await makeFolder(path.dirname(dir));
  await fs.mkdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}
