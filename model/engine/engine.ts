/**
 * The engine: the protocol's handlers (./protocol.ts) on top of the FAM runtime, the model loader, the
 * workspace walker and the prompt layout. It holds at most one model and one workspace state.
 *
 * - Requests run one at a time, in arrival order; `engine/status` answers at once, even while busy.
 * - Ingest streams file by file and checkpoints at file boundaries: after each completed file, that state is
 *   the workspace state, so a cancel (or a failure) keeps everything up to the last completed file.
 * - Ask and summarize work on copies: the workspace state never changes by a question.
 * - Cancellation is checked between blocks while reading and between tokens while answering.
 * - Times are wall clock around the work itself, so the tokens per second are what a user waits for.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultModelDir, loadModelDir, type LoadedModel } from '../loader';
import { FamSession, type FamState } from '../runtime/fam-session';
import type { DeviceChoice, GenerateResult } from '../runtime/types';
import { StateFileError, readStateFile, writeStateFile, type StateFileErrorReason } from '../state';
import { readTextFile, walkWorkspace, type WalkedFile, type WalkResult } from '../workspace/walker';
import type { EngineHandlers, RequestContext } from './dispatch';
import { answerStopTokens, fileChunkTokens, questionTokens, questions } from './prompt';
import {
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_REPETITION_PENALTY,
  EngineError,
  PROTOCOL_VERSION,
  v,
  type AnswerResult,
  type AskRequest,
  type Check,
  type EngineStatus,
  type ErrorCode,
  type GenerationSettings,
  type IngestChunk,
  type IngestRequest,
  type IngestResult,
  type LoadModelRequest,
  type LoadModelResult,
  type LoadStateResult,
  type ModelSummary,
  type SaveStateResult,
  type StateSummary,
  type SummarizeRequest,
  type SummarizeResult,
  type TextDelta,
} from './protocol';

/** Progress chunks are sent at most this often (and after the last file). */
const PROGRESS_INTERVAL_MS = 100;
/** The key of the workspace manifest in a state's meta. */
const MANIFEST_KEY = 'famulus.workspace';

/** One ingested file, as recorded in the state's manifest. */
export interface IngestedFile {
  path: string;
  sha256: string;
  bytes: number;
  tokens: number;
}

/** What the state has read: stored in the state's meta, so a saved state says what it holds. */
interface Manifest {
  root: string;
  lastUpdate: string;
  files: IngestedFile[];
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
});

interface Workspace extends Manifest {
  state: FamState;
}

export interface EngineOptions {
  /** The model `engine/loadModel` loads when it names none; default: the loader's defaultModelDir(). */
  defaultModelDir?: () => string;
  /** One line per event worth a log (the engine process writes them to stderr). */
  log?: (line: string) => void;
}

/** A loaded model and the runtime session built from it. */
interface Loaded {
  model: LoadedModel;
  session: FamSession;
}

export class Engine {
  private loaded: Loaded | null = null;
  private workspace: Workspace | null = null;
  private busy: { messageType: string; messageId: string } | null = null;
  /** Resolves when the request ahead in the queue is done. */
  private queueTail: Promise<void> = Promise.resolve();
  private readonly log: (line: string) => void;

  constructor(private readonly options: EngineOptions = {}) {
    this.log = options.log ?? (() => undefined);
  }

  /** The protocol's handlers, for serveEngine(). */
  readonly handlers: EngineHandlers = {
    'engine/status': async () => this.status(),
    'engine/loadModel': (data, ctx) => this.queued('engine/loadModel', ctx, () => this.loadModel(data)),
    'workspace/ingest': (data, ctx) => this.queuedStream('workspace/ingest', ctx, () => this.ingest(data, ctx.signal)),
    'engine/ask': (data, ctx) => this.queuedStream('engine/ask', ctx, () => this.ask(data, ctx.signal)),
    'engine/summarize': (data, ctx) => this.queuedStream('engine/summarize', ctx, () => this.summarize(data, ctx.signal)),
    'state/save': (data, ctx) => this.queued('state/save', ctx, () => this.saveState(data.path)),
    'state/load': (data, ctx) => this.queued('state/load', ctx, () => this.loadState(data.path)),
  };

  /** Frees the workspace state and the model's sessions, after the request at work (if any) has finished. */
  async dispose(): Promise<void> {
    const leave = await this.enter('dispose', { messageId: 'dispose', signal: new AbortController().signal });
    try {
      await this.unloadModel();
    } finally {
      leave();
    }
  }

  // ---- queue -------------------------------------------------------------------------------------------

  /** Waits for the requests ahead; a request cancelled while waiting leaves the queue with code 'cancelled'. */
  private async enter(messageType: string, ctx: RequestContext): Promise<() => void> {
    const ahead = this.queueTail;
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => (leave = resolve));
    this.queueTail = ahead.then(() => mine);
    const aborted = new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([ahead, aborted]);
    if (ctx.signal.aborted) {
      leave();
      throw new EngineError('cancelled', `${messageType} was cancelled before it started`);
    }
    this.busy = { messageType, messageId: ctx.messageId };
    return () => {
      this.busy = null;
      leave();
    };
  }

  private async queued<T>(messageType: string, ctx: RequestContext, work: () => Promise<T>): Promise<T> {
    const leave = await this.enter(messageType, ctx);
    try {
      return await work();
    } finally {
      leave();
    }
  }

  private async *queuedStream<C, R>(messageType: string, ctx: RequestContext, work: () => AsyncGenerator<C, R>): AsyncGenerator<C, R> {
    const leave = await this.enter(messageType, ctx);
    try {
      return yield* work();
    } finally {
      leave();
    }
  }

  // ---- status and model --------------------------------------------------------------------------------

  status(): EngineStatus {
    return {
      protocolVersion: PROTOCOL_VERSION,
      pid: process.pid,
      model: this.loaded ? modelSummary(this.loaded.model) : null,
      device: this.loaded?.session.device ?? null,
      state: this.workspace ? this.stateSummary(this.workspace) : null,
      busy: this.busy,
    };
  }

  private async loadModel(req: LoadModelRequest): Promise<LoadModelResult> {
    const started = performance.now();
    const dir = req.modelDir ?? (this.options.defaultModelDir ?? (() => defaultModelDir(this.log)))();
    const device: DeviceChoice = req.device ?? 'auto';
    let model: LoadedModel;
    try {
      model = await loadModelDir(dir);
    } catch (err) {
      throw new EngineError('model-error', (err as Error).message);
    }
    for (const note of model.notes) this.log(`model: ${note}`);
    let session: FamSession;
    try {
      session = await FamSession.create(model, req.threads === undefined ? { device } : { device, threads: req.threads });
    } catch (err) {
      throw new EngineError('model-error', (err as Error).message);
    }
    const droppedState = this.workspace !== null;
    await this.unloadModel();
    this.loaded = { model, session };
    const d = session.device;
    this.log(`model ${model.modelId.slice(0, 12)} from ${model.dir} on ${d.provider} (${d.adapter}, ${d.dtype})` +
      (d.fallbackReason ? `; WebGPU skipped: ${d.fallbackReason}` : ''));
    return { model: modelSummary(model), device: d, seconds: secondsSince(started), droppedState };
  }

  private async unloadModel(): Promise<void> {
    this.setWorkspace(null);
    const loaded = this.loaded;
    this.loaded = null;
    await loaded?.session.dispose();
  }

  private requireModel(): Loaded {
    if (!this.loaded) throw new EngineError('no-model', 'no model is loaded: send engine/loadModel first');
    return this.loaded;
  }

  private requireWorkspace(): Workspace {
    if (!this.workspace) throw new EngineError('no-state', 'no workspace has been read: ingest a folder or load a saved state first');
    return this.workspace;
  }

  /** Replaces the workspace, releasing the old state's buffers unless the new workspace keeps them. */
  private setWorkspace(next: Workspace | null): void {
    const old = this.workspace;
    this.workspace = next;
    if (old && old.state !== next?.state) this.loaded?.session.release(old.state);
  }

  private stateSummary(ws: Workspace): StateSummary {
    const { session } = this.requireModel();
    const { layers, famLength, hidden, blockSize, memSegments } = session.dims;
    const elementBytes = session.device.dtype === 'float16' ? 2 : 4;
    return {
      root: ws.root,
      // Distinct files: an updated file has been read more than once (see planUpdate).
      files: new Set(ws.files.map((f) => f.path)).size,
      tokens: session.tokenCount(ws.state),
      blocks: ws.state.blocks,
      pendingTokens: ws.state.pending.length,
      // fam.md: per layer F*D + 2*m*B*D_kv numbers, whatever was read.
      stateBytes: layers * (famLength * hidden + 2 * memSegments * blockSize * session.kvDim) * elementBytes,
      lastUpdate: ws.lastUpdate,
    };
  }

  // ---- ingest ----------------------------------------------------------------------------------------

  private async *ingest(req: IngestRequest, signal: AbortSignal): AsyncGenerator<IngestChunk, IngestResult> {
    const { model, session } = this.requireModel();
    const { tokenizer } = model;
    const started = performance.now();
    const root = path.resolve(req.root);
    let walk: WalkResult;
    try {
      walk = await walkWorkspace(root, { ...req.walker, signal });
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw new EngineError('not-found', (err as Error).message);
      const ws = this.workspace;
      const nothing = { filesIngested: 0, filesReused: 0, tokensIngested: 0, skipped: 0, tokensPerSecond: 0 };
      return { root, ...nothing, seconds: secondsSince(started), cancelled: true, state: ws ? this.stateSummary(ws) : null };
    }
    const plan = req.fresh ? readAll(walk) : planUpdate(this.workspace, root, walk);
    const reused = walk.files.length - plan.toRead.length;
    const bytesTotal = walk.totalBytes;
    yield { kind: 'walked', filesTotal: walk.files.length, bytesTotal, filesReused: reused, skipped: walk.skipped };

    // From here the workspace is this folder: the held state, or an empty one, then one checkpoint per file.
    if (plan.fromScratch) this.setWorkspace({ root, lastUpdate: new Date().toISOString(), files: [], state: await session.initialState() });
    // One list grows with the state: each checkpoint's workspace holds exactly the files its state has read.
    const files = this.workspace!.files;
    const filesBefore = files.length;
    let bytesDone = walk.totalBytes - plan.toRead.reduce((n, f) => n + f.size, 0);
    let tokensDone = 0;
    let cancelled = false;
    const readStarted = performance.now();
    let lastProgress = 0;
    const progress = (currentFile: string, filesDone: number, extraTokens: number): IngestChunk => ({
      kind: 'progress',
      filesDone,
      filesTotal: walk.files.length,
      bytesDone,
      bytesTotal,
      currentFile,
      tokensDone: tokensDone + extraTokens,
      tokensPerSecond: (tokensDone + extraTokens) / Math.max(secondsSince(readStarted), 1e-9),
    });
    try {
      for (let k = 0; k < plan.toRead.length; k++) {
        const file = plan.toRead[k]!;
        const i = reused + k;
        const tokens = fileChunkTokens(tokenizer, file.path, file.text);
        const state = yield* streamWhile<IngestChunk, FamState>((emit) =>
          session.ingest(this.workspace!.state, tokens, {
            signal,
            onProgress: (p) => {
              const now = performance.now();
              if (now - lastProgress < PROGRESS_INTERVAL_MS) return;
              lastProgress = now;
              emit(progress(file.path, i, p.tokensDone));
            },
          }),
        );
        // Checkpoint: this file is complete, so its state becomes the workspace state.
        files.push({ path: file.path, sha256: file.sha256, bytes: file.size, tokens: tokens.length });
        tokensDone += tokens.length;
        bytesDone += file.size;
        this.setWorkspace({ root, lastUpdate: new Date().toISOString(), files, state });
        const now = performance.now();
        if (now - lastProgress >= PROGRESS_INTERVAL_MS || k === plan.toRead.length - 1) {
          lastProgress = now;
          yield progress(file.path, i + 1, 0);
        }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
      cancelled = true;
    }
    const readSeconds = secondsSince(readStarted);
    return {
      root,
      filesIngested: files.length - filesBefore,
      filesReused: reused,
      tokensIngested: tokensDone,
      skipped: walk.skipped.length,
      seconds: secondsSince(started),
      tokensPerSecond: tokensDone > 0 ? tokensDone / readSeconds : 0,
      cancelled,
      state: this.stateSummary(this.workspace!),
    };
  }

  // ---- ask and summarize -----------------------------------------------------------------------------------

  private async *ask(req: AskRequest, signal: AbortSignal): AsyncGenerator<TextDelta, AnswerResult> {
    const loaded = this.requireModel();
    const ws = this.requireWorkspace();
    const prompt = questionTokens(loaded.model.tokenizer, req.question);
    return yield* this.answer(loaded, ws.state, prompt, 0, req.options ?? {}, signal, performance.now());
  }

  private async *summarize(req: SummarizeRequest, signal: AbortSignal): AsyncGenerator<TextDelta, SummarizeResult> {
    const started = performance.now();
    const loaded = this.requireModel();
    const { session } = loaded;
    const ws = this.requireWorkspace();
    const abs = path.resolve(ws.root, req.path);
    const rel = path.relative(ws.root, abs);
    if (!isInside(rel)) {
      throw new EngineError('not-found', `${req.path} is not a file inside the ingested folder ${ws.root}`);
    }
    // A link (of the file or of a folder on its way) that leads out of the folder reads a file outside it.
    const real = await fs.realpath(abs).catch(() => null);
    const realRoot = await fs.realpath(ws.root).catch(() => ws.root);
    if (real !== null && !isInside(path.relative(realRoot, real))) {
      throw new EngineError('not-found', `${req.path} links to ${real}, outside the ingested folder ${ws.root}`);
    }
    const relPath = rel.split(path.sep).join('/');
    const read = await readTextFile(abs);
    if ('reason' in read) throw new EngineError('not-found', `cannot summarise ${relPath}: ${read.reason} (${read.detail})`);
    const { tokenizer } = loaded.model;
    // prompt-format.md: the file is streamed again right before the question, into a copy of the state.
    const fileTokens = fileChunkTokens(tokenizer, relPath, read.text);
    let copy: FamState;
    try {
      copy = await session.ingest(ws.state, fileTokens, { signal });
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err;
      return { path: relPath, ...cancelledAnswer(started) };
    }
    try {
      const prompt = questionTokens(tokenizer, questions.summarize(relPath));
      const result = yield* this.answer(loaded, copy, prompt, fileTokens.length, req.options ?? {}, signal, started);
      return { path: relPath, ...result };
    } finally {
      session.release(copy);
    }
  }

  /** Generates from a copy of `state` after `prompt`, streaming text as the tokens come. */
  private async *answer(
    { model, session }: Loaded,
    state: FamState,
    prompt: number[],
    extraPromptTokens: number,
    settings: GenerationSettings,
    signal: AbortSignal,
    started: number,
  ): AsyncGenerator<TextDelta, AnswerResult> {
    const { tokenizer } = model;
    const decoder = tokenizer.createStreamDecoder();
    let answer = '';
    let firstTokenAt: number | null = null;
    let result: GenerateResult;
    try {
      result = yield* streamWhile<TextDelta, GenerateResult>((emit) =>
        session.generate(state, prompt, {
          maxNewTokens: settings.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
          temperature: settings.temperature ?? 0,
          topP: settings.topP ?? 1,
          repetitionPenalty: settings.repetitionPenalty ?? DEFAULT_REPETITION_PENALTY,
          seed: settings.seed ?? 0,
          stopTokens: answerStopTokens(tokenizer),
          signal,
          onToken: (id) => {
            firstTokenAt ??= performance.now();
            const text = decoder.push(id);
            answer += text;
            if (text) emit({ text });
          },
        }),
      );
    } catch (err) {
      // Cancelled while the prompt was read, before any token.
      if ((err as Error).name !== 'AbortError') throw err;
      result = { tokens: [], stopReason: 'cancelled' };
    }
    const tail = decoder.flush();
    if (tail) {
      answer += tail;
      yield { text: tail };
    }
    const totalSeconds = secondsSince(started);
    const firstTokenSeconds = firstTokenAt === null ? totalSeconds : (firstTokenAt - started) / 1000;
    const n = result.tokens.length;
    return {
      answer,
      tokens: n,
      promptTokens: prompt.length + extraPromptTokens,
      stopReason: result.stopReason,
      cancelled: result.stopReason === 'cancelled',
      timings: { firstTokenSeconds, totalSeconds },
      tokensPerSecond: n > 1 && totalSeconds > firstTokenSeconds ? (n - 1) / (totalSeconds - firstTokenSeconds) : 0,
    };
  }

  // ---- saved states ------------------------------------------------------------------------------------

  private async saveState(file: string): Promise<SaveStateResult> {
    const started = performance.now();
    const { session } = this.requireModel();
    const ws = this.requireWorkspace();
    const abs = path.resolve(file);
    const manifest: Manifest = { root: ws.root, lastUpdate: ws.lastUpdate, files: ws.files };
    const snap = await session.snapshot(ws.state, { [MANIFEST_KEY]: manifest });
    try {
      await fs.mkdir(path.dirname(abs), { recursive: true });
      await writeStateFile(abs, snap);
      const { size } = await fs.stat(abs);
      return { path: abs, bytes: size, state: this.stateSummary(ws), seconds: secondsSince(started) };
    } catch (err) {
      throw new EngineError('io-error', `cannot save the state to ${abs}: ${(err as Error).message}`);
    }
  }

  private async loadState(file: string): Promise<LoadStateResult> {
    const started = performance.now();
    const { model, session } = this.requireModel();
    const abs = path.resolve(file);
    let manifest: Manifest;
    let state: FamState;
    try {
      const snap = await readStateFile(abs, model.modelId);
      try {
        manifest = manifestCheck(snap.meta[MANIFEST_KEY], 'manifest');
      } catch (err) {
        throw new EngineError('state-mismatch', `${abs} is not a Famulus workspace state (${(err as Error).message})`);
      }
      state = await session.restore(snap);
    } catch (err) {
      if (err instanceof EngineError) throw err;
      if (err instanceof StateFileError) {
        throw new EngineError(STATE_FILE_ERROR_CODES[err.reason], err.message);
      }
      throw new EngineError('state-mismatch', `cannot use the state in ${abs}: ${(err as Error).message}`);
    }
    this.setWorkspace({ ...manifest, state });
    return { path: abs, state: this.stateSummary(this.workspace!), seconds: secondsSince(started) };
  }
}

const STATE_FILE_ERROR_CODES: Record<StateFileErrorReason, ErrorCode> = {
  'not-found': 'not-found',
  version: 'state-mismatch',
  'model-mismatch': 'state-mismatch',
  'bad-magic': 'state-corrupt',
  truncated: 'state-corrupt',
  corrupt: 'state-corrupt',
};

/** What an ingest reads: everything from an empty state, or only some files on top of the held state. */
interface UpdatePlan {
  fromScratch: boolean;
  toRead: WalkedFile[];
}

/** Stale text may make up at most this share of what a state has read before an update re-reads everything. */
const MAX_STALE_SHARE = 1 / 3;

function readAll(walk: WalkResult): UpdatePlan {
  return { fromScratch: true, toRead: walk.files };
}

/**
 * An update of the held state for a new walk of `root` (architecture.md, "Update"): the files that are new or
 * changed since they were read are streamed on top of the held state, in walk order, so one changed file
 * costs one file, not the workspace. The old text of a changed file, and a deleted file, stay in the working
 * memory, earlier in the stream (FAM favours what it read last); once such stale text would pass a third of
 * everything read, the update re-reads the workspace from scratch instead, which compacts the memory.
 */
function planUpdate(ws: Workspace | null, root: string, walk: WalkResult): UpdatePlan {
  if (!ws || ws.root !== root || ws.files.length === 0) return readAll(walk);
  const latest = new Map<string, number>(); // path -> index of its last reading in ws.files
  ws.files.forEach((f, i) => latest.set(f.path, i));
  const current = new Map(walk.files.map((f) => [f.path, f.sha256]));
  const toRead = walk.files.filter((f) => {
    const i = latest.get(f.path);
    return i === undefined || ws.files[i]!.sha256 !== f.sha256;
  });
  // After the update, a reading is live when it is its path's last one and the path is still in the walk.
  const changed = new Set(toRead.map((f) => f.path));
  let stale = 0;
  let live = toRead.reduce((n, f) => n + f.size, 0);
  ws.files.forEach((f, i) => {
    if (latest.get(f.path) === i && current.get(f.path) === f.sha256 && !changed.has(f.path)) live += f.bytes;
    else stale += f.bytes;
  });
  if (stale > MAX_STALE_SHARE * (stale + live)) return readAll(walk);
  return { fromScratch: false, toRead };
}

function isInside(rel: string): boolean {
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

function modelSummary(model: LoadedModel): ModelSummary {
  const c = model.config;
  return {
    dir: model.dir,
    modelId: model.modelId,
    layers: c.num_hidden_layers,
    hiddenSize: c.hidden_size,
    vocabSize: c.vocab_size,
    blockSize: c.block_size,
    famLength: c.fam_length,
    memorySegments: c.memory_segments,
  };
}

function cancelledAnswer(started: number): AnswerResult {
  const totalSeconds = secondsSince(started);
  return {
    answer: '',
    tokens: 0,
    promptTokens: 0,
    stopReason: 'cancelled',
    cancelled: true,
    timings: { firstTokenSeconds: totalSeconds, totalSeconds },
    tokensPerSecond: 0,
  };
}

function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}

/**
 * Runs `work`, yielding what it emits while it runs (callbacks cannot yield, so they queue), then returns
 * its result. An error of `work` is thrown after the items emitted before it.
 */
async function* streamWhile<T, R>(work: (emit: (item: T) => void) => Promise<R>): AsyncGenerator<T, R> {
  const items: T[] = [];
  let finished = false;
  let wake: (() => void) | null = null;
  const done = work((item) => {
    items.push(item);
    wake?.();
  }).finally(() => {
    finished = true;
    wake?.();
  });
  done.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  for (;;) {
    while (items.length > 0) yield items.shift()!;
    if (finished) return await done;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
  }
}
