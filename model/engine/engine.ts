/**
 * The engine: the protocol's handlers (./protocol.ts) on top of the FAM runtime, the model loader and the
 * workspace session (./session.ts, which owns when memory is loaded, read, saved and forgotten). It holds at
 * most one model and one open workspace.
 *
 * - Requests run one at a time, in arrival order (the only queue: clients send, the engine orders);
 *   `engine/status` and `workspace/status` answer at once, even while busy.
 * - Ask and summarize work on copies: the workspace memory never changes by a question.
 * - Cancellation is checked between blocks while reading and between tokens while answering.
 * - Times are wall clock around the work itself, so the tokens per second are what a user waits for.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultModelDir, loadModelDir, type LoadedModel } from '../loader';
import { FamSession, type FamState } from '../runtime/fam-session';
import type { DeviceChoice, GenerateResult } from '../runtime/types';
import { readTextFile } from '../workspace/walker';
import { isCancellation } from './cancellation';
import type { EngineHandlers, RequestContext } from './dispatch';
import { answerStopTokens, fileChunkTokens, questionTokens, questions } from './prompt';
import {
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_REPETITION_PENALTY,
  EngineError,
  PROTOCOL_VERSION,
  type AnswerResult,
  type AskRequest,
  type EngineStatus,
  type ForgetResult,
  type GenerationSettings,
  type LoadModelRequest,
  type LoadModelResult,
  type ModelSummary,
  type OpenRequest,
  type ReadChunk,
  type SummarizeRequest,
  type SummarizeResult,
  type TextDelta,
  type UpdateRequest,
  type WorkspaceResult,
  type WorkspaceStatus,
} from './protocol';
import { WorkspaceSession } from './session';
import { secondsSince, streamWhile } from './streams';

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
  private workspace: WorkspaceSession | null = null;
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
    'workspace/open': (data, ctx) => this.queuedStream('workspace/open', ctx, () => this.open(data, ctx.signal)),
    'workspace/update': (data, ctx) => this.queuedStream('workspace/update', ctx, () => this.update(data, ctx.signal)),
    'workspace/forget': (_data, ctx) => this.queued('workspace/forget', ctx, () => this.forget()),
    'workspace/status': async () => this.workspaceStatus(),
    'engine/ask': (data, ctx) => this.queuedStream('engine/ask', ctx, () => this.ask(data, ctx.signal)),
    'engine/summarize': (data, ctx) => this.queuedStream('engine/summarize', ctx, () => this.summarize(data, ctx.signal)),
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
      state: this.workspace?.summary() ?? null,
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
    const droppedState = this.workspace?.summary() != null;
    await this.unloadModel();
    this.loaded = { model, session };
    const d = session.device;
    this.log(`model ${model.modelId.slice(0, 12)} from ${model.dir} on ${d.provider} (${d.adapter}, ${d.dtype})` +
      (d.fallbackReason ? `; WebGPU skipped: ${d.fallbackReason}` : ''));
    return { model: modelSummary(model), device: d, seconds: secondsSince(started), droppedState };
  }

  /** Closes the workspace (its memory is another model's) and frees the model's sessions. */
  private async unloadModel(): Promise<void> {
    this.workspace?.dispose();
    this.workspace = null;
    const loaded = this.loaded;
    this.loaded = null;
    await loaded?.session.dispose();
  }

  private requireModel(): Loaded {
    if (!this.loaded) throw new EngineError('no-model', 'no model is loaded: send engine/loadModel first');
    return this.loaded;
  }

  private requireWorkspace(): WorkspaceSession {
    if (!this.workspace) throw new EngineError('no-state', 'no workspace is open: send workspace/open first');
    return this.workspace;
  }

  // ---- the workspace session ---------------------------------------------------------------------------

  /**
   * Opens a workspace: the same folder and memory folder as the open one keeps its session (and the memory it
   * holds); anything else closes it first.
   */
  private async *open(req: OpenRequest, signal: AbortSignal): AsyncGenerator<ReadChunk, WorkspaceResult> {
    const loaded = this.requireModel();
    const root = path.resolve(req.root);
    const memoryDir = req.memoryDir === undefined ? null : path.resolve(req.memoryDir);
    const stat = await fs.stat(root).catch(() => null);
    if (!stat?.isDirectory()) throw new EngineError('not-found', `${root} is not a folder`);
    const open = this.workspace;
    if (!open || open.root !== root || open.memoryDir !== memoryDir) {
      open?.dispose();
      this.workspace = new WorkspaceSession(loaded, root, memoryDir, req.walker ?? {});
    } else if (req.walker) {
      open.setWalker(req.walker);
    }
    return yield* this.workspace!.open(req.mode ?? 'read', signal);
  }

  private update(req: UpdateRequest, signal: AbortSignal): AsyncGenerator<ReadChunk, WorkspaceResult> {
    return this.requireWorkspace().update(req.mode ?? 'read', req.walker, signal);
  }

  private async forget(): Promise<ForgetResult> {
    return { deleted: await this.requireWorkspace().forget() };
  }

  private async workspaceStatus(): Promise<WorkspaceStatus> {
    return this.workspace ? this.workspace.status() : { root: null, memoryDir: null, state: null, savedBytes: null };
  }

  // ---- ask and summarize -----------------------------------------------------------------------------------

  private async *ask(req: AskRequest, signal: AbortSignal): AsyncGenerator<TextDelta, AnswerResult> {
    const loaded = this.requireModel();
    const ws = this.requireWorkspace().requireState();
    const prompt = questionTokens(loaded.model.tokenizer, req.question);
    return yield* this.answer(loaded, ws.state, prompt, 0, req.options ?? {}, signal, performance.now());
  }

  private async *summarize(req: SummarizeRequest, signal: AbortSignal): AsyncGenerator<TextDelta, SummarizeResult> {
    const started = performance.now();
    const loaded = this.requireModel();
    const { session } = loaded;
    const ws = this.requireWorkspace().requireState();
    const abs = path.resolve(ws.root, req.path);
    const rel = path.relative(ws.root, abs);
    if (!isInside(rel)) {
      throw new EngineError('not-found', `${req.path} is not a file inside the open workspace ${ws.root}`);
    }
    // A link (of the file or of a folder on its way) that leads out of the folder reads a file outside it.
    const real = await fs.realpath(abs).catch(() => null);
    const realRoot = await fs.realpath(ws.root).catch(() => ws.root);
    if (real !== null && !isInside(path.relative(realRoot, real))) {
      throw new EngineError('not-found', `${req.path} links to ${real}, outside the open workspace ${ws.root}`);
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
      if (!isCancellation(err)) throw err;
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
            if (text) emit({ text });
          },
        }),
      );
    } catch (err) {
      // Cancelled while the prompt was read, before any token.
      if (!isCancellation(err)) throw err;
      result = { tokens: [], stopReason: 'cancelled' };
    }
    const tail = decoder.flush();
    if (tail) yield { text: tail };
    const totalSeconds = secondsSince(started);
    const firstTokenSeconds = firstTokenAt === null ? totalSeconds : (firstTokenAt - started) / 1000;
    const n = result.tokens.length;
    return {
      tokens: n,
      promptTokens: prompt.length + extraPromptTokens,
      stopReason: result.stopReason,
      cancelled: result.stopReason === 'cancelled',
      timings: { firstTokenSeconds, totalSeconds },
      tokensPerSecond: n > 1 && totalSeconds > firstTokenSeconds ? (n - 1) / (totalSeconds - firstTokenSeconds) : 0,
    };
  }
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
    tokens: 0,
    promptTokens: 0,
    stopReason: 'cancelled',
    cancelled: true,
    timings: { firstTokenSeconds: totalSeconds, totalSeconds },
    tokensPerSecond: 0,
  };
}
