/**
 * The engine: the protocol's handlers (./protocol.ts) on top of the FAM runtime, the model loader and the
 * workspace session (./session.ts, which owns when memory is loaded, read, saved and forgotten). It holds at
 * most one model and one open workspace.
 *
 * - Requests run one at a time, in arrival order (the only queue: clients send, the engine orders);
 *   `engine/status`, `workspace/status`, `workspace/files` and the `index/` look-ups answer at once, even while busy.
 * - Ask and summarize work on copies: the workspace memory never changes by a question.
 * - Cancellation is checked between blocks while reading and between tokens while answering.
 * - Times are wall clock around the work itself, so the tokens per second are what a user waits for.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultModelDir, familyLabel, loadModelDir, memoryModeText, type LoadedModel } from '../loader';
import { FamSession, type FamState } from '../runtime/fam-session';
import type { DeviceChoice, GenerateResult } from '../runtime/types';
import { readTextFile } from '../workspace/walker';
import { checkedBundle, importedInfo, writeBundleFile } from './bundles';
import { isCancellation } from './cancellation';
import type { EngineHandlers, RequestContext } from './dispatch';
import { docText, headerText, locationText } from './answers';
import { checkCitations } from './citations';
import { answerStopTokens, conversationStartTokens, fileChunkTokensYielding, historyTokens, questionTokens, questions } from './prompt';
import {
  DEFAULT_HISTORY_TOKENS,
  DEFAULT_MAX_NEW_TOKENS,
  DEFAULT_REPETITION_PENALTY,
  DEFAULT_REREAD_TOKENS,
  EngineError,
  PROTOCOL_VERSION,
  type AnswerResult,
  type AskRequest,
  type ContextRef,
  type EngineStatus,
  type ForgetResult,
  type ImportRequest,
  type ImportResult,
  type GenerationSettings,
  type Grounding,
  type LoadModelRequest,
  type LoadModelResult,
  type ModelSummary,
  type OpenRequest,
  type ReadChunk,
  type RereadSettings,
  type Source,
  type SummarizeRequest,
  type SummarizeResult,
  type TextDelta,
  type UpdateRequest,
  type WorkspaceResult,
  type WorkspaceStatus,
} from './protocol';
import { analyseQuestion, conversationOf, retrieve, retrieveFile, subjectOf, WHICH_CANDIDATES, type ContextSpan, type RereadChunk, type Retrieval } from './retrieval';
import { WorkspaceSession } from './session';
import { suggestQuestions } from './suggest';
import { secondsSince, streamWhile } from './streams';
import { matchDefinitions, whichQuestionOf, whichText } from './which';

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
    // Reads what the memory holds, so it answers at once too, even while a read runs.
    'workspace/files': async () => this.requireWorkspace().files(),
    'workspace/bundle': (data, ctx) => this.queued('workspace/bundle', ctx, () => writeBundleFile(this.requireWorkspace(), this.requireModel(), data)),
    'workspace/import': (data, ctx) => this.queuedStream('workspace/import', ctx, () => this.importBundle(data, ctx.signal)),
    'engine/ask': (data, ctx) => this.queuedStream('engine/ask', ctx, () => this.ask(data, ctx.signal)),
    'engine/summarize': (data, ctx) => this.queuedStream('engine/summarize', ctx, () => this.summarize(data, ctx.signal)),
    // Look-ups in the index answer at once, like the status: they read, and never wait behind a long read.
    'index/definitions': async (data) => ({ definitions: this.requireWorkspace().requireMemory().index.definitions(data.name) }),
    'index/outline': async (data) => {
      const ws = this.requireWorkspace();
      return { definitions: ws.requireMemory().index.outline(await ws.relativeFile(data.path)) };
    },
    'index/search': async (data) => ({
      hits: this.requireWorkspace()
        .requireMemory()
        .index.search(data.query, data.limit ?? 10)
        .map(({ chunk, score }) => {
          const hit: Source & { score: number } = { path: chunk.path, startLine: chunk.startLine, endLine: chunk.endLine, reason: 'search', score };
          if (chunk.definition) hit.definition = chunk.definition;
          return hit;
        }),
    }),
    'index/suggest': async (data) => {
      const ws = this.requireWorkspace();
      return { suggestions: suggestQuestions(ws.requireMemory().index, ws.root, data.limit ?? 3) };
    },
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
    const ws = await this.sessionFor(req);
    return yield* ws.open(req.mode ?? 'read', signal);
  }

  /** The session of the folder a request names, kept when it is the open one (see open). */
  private async sessionFor(req: Pick<OpenRequest, 'root' | 'memoryDir' | 'walker' | 'allowBroadRoot'>): Promise<WorkspaceSession> {
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
    this.workspace!.allowBroadRoot = req.allowBroadRoot === true;
    return this.workspace!;
  }

  /**
   * Opens a workspace from a memory bundle: gets it and checks it first (a failure changes nothing, not even
   * the open session), then the session adopts it, reads what differs here, and saves.
   */
  private async *importBundle(req: ImportRequest, signal: AbortSignal): AsyncGenerator<ReadChunk, ImportResult> {
    const loaded = this.requireModel();
    // A folder that is not there fails before a download, not after it.
    const root = path.resolve(req.root);
    const stat = await fs.stat(root).catch(() => null);
    if (!stat?.isDirectory()) throw new EngineError('not-found', `${root} is not a folder`);
    const checked = await checkedBundle(loaded, req.source, signal);
    const ws = await this.sessionFor(req);
    const result = yield* ws.adopt(checked.verified, checked.source, signal);
    return { ...result, bundle: importedInfo(checked, ws) };
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

  /**
   * Answers a question from a copy of the memory after re-reading the code it is about (docs/grounded-answers.md):
   * the code the user pointed at (`context`), then what retrieval finds for the question and the conversation's
   * last turns. The earlier turns that fit their budget are streamed before the re-read code (docs/prompt-format.md).
   * A "where is X defined" question is answered from the index, so its location is right by construction;
   * the model then says what X does, unless X's doc comment says it. A "which function does …" question is
   * answered by the index's ranking. An answer quoted from the index whole re-reads nothing. Every `path:line`
   * of the answer is checked against the index.
   */
  private async *ask(req: AskRequest, signal: AbortSignal): AsyncGenerator<TextDelta, AnswerResult> {
    const started = performance.now();
    const loaded = this.requireModel();
    const ws = this.requireWorkspace();
    const { state, index } = ws.requireMemory();
    const { tokenizer } = loaded.model;
    const context = await contextSpans(ws, req.context ?? []);
    const analysis = analyseQuestion(req.question, index);
    const { turns, followUp } = conversationOf(req.question, analysis, req.history ?? [], index);
    const rereading = req.reread?.enabled !== false;
    // A question that points back ("What does this do?") is about the code the user pointed at, or else about
    // the name the last turns were about.
    const name = subjectOf(req.question, analysis, { followUp, context }, index);
    const definitionOf = analysis.kind === 'where' ? [...new Set([...(name ? [name] : []), ...analysis.identifiers, ...analysis.unknown])] : [];
    // Quoted answers cite the definitions they quote; the model's cite what was re-read for it.
    const grounding = (text: string, retrieval: Retrieval, quoted?: Source[], history = { turns: 0, tokens: [] as number[] }): Grounding => ({
      sources: quoted ?? retrieval.chunks.map(toSource),
      citations: checkCitations(text, { index, definitionOf }),
      rereadTokens: quoted ? 0 : retrieval.tokens,
      historyTurns: history.turns,
      historyTokens: history.tokens.length,
      nothingFound: retrieval.nothingFound,
    });

    // What the workspace itself says comes first: the index's locations, the code's own doc comments. The
    // model answers only what they leave open, and only then is code re-read for it.
    let lead = '';
    let question = req.question;
    let quoted: Source[] | undefined;
    let quotedOnly = false;
    if (rereading && name && (analysis.kind === 'where' || analysis.kind === 'what')) {
      const defs = index.definitions(name);
      quoted = defs.slice(0, 5).map((d) => ({ path: d.path, startLine: d.startLine, endLine: d.endLine, reason: 'definition', definition: d.qualifiedName }));
      const doc = docText(name, defs, analysis.kind === 'where');
      lead = analysis.kind === 'where' ? locationText(name, defs) + (doc ? `\n\n${doc}` : '') : (doc ?? locationText(name, defs));
      question = questions.whatDoes(name);
      quotedOnly = doc !== null;
    } else if (rereading && analysis.kind === 'which') {
      // The model cannot pick a definition by its description; the index's ranking is the answer.
      const which = whichQuestionOf(req.question)!;
      const matches = matchDefinitions(which, index, WHICH_CANDIDATES);
      quoted = matches.map(({ definition: d }) => ({ path: d.path, startLine: d.startLine, endLine: d.endLine, reason: 'definition', definition: d.qualifiedName }));
      lead = whichText(which, matches);
      quotedOnly = true;
    }
    if (quotedOnly) {
      yield { text: lead };
      const indexSeconds = secondsSince(started);
      return { ...emptyAnswer(started, indexSeconds, indexSeconds), grounding: grounding(lead, NOTHING_REREAD, quoted) };
    }
    const retrieval = rereading
      ? await retrieve({ question: req.question, analysis, context, followUp }, index, this.rereadBudget(req.reread), ws.rereadIO(tokenizer))
      : NOTHING_REREAD;
    const retrievalSeconds = secondsSince(started);
    if (rereading && analysis.kind === 'where' && !name && analysis.unknown.length > 0) {
      // A name nobody defines: say so rather than let the model invent a place.
      lead = `No definition of ${analysis.unknown.map((n) => `\`${n}\``).join(', ')} is in the workspace index` +
        (retrieval.chunks.length > 0 ? '; the closest matches are in the sources.' : '.');
      yield { text: lead };
      return { ...emptyAnswer(started, secondsSince(started), retrievalSeconds), grounding: grounding(lead, retrieval) };
    }
    if (lead) lead += '\n\n';
    if (lead) yield { text: lead };
    const leadSeconds = lead ? secondsSince(started) : null;
    // prompt-format.md: the earlier turns, then the re-read code (least relevant first), then the question.
    const history = historyTokens(tokenizer, turns, this.historyBudget(req.historyTokens));
    const before = [...history.tokens, ...retrieval.chunks.flatMap((c) => c.tokens)];
    const timing = { started, leadSeconds, retrievalSeconds };
    const { result, text } = yield* this.answerFrom(loaded, state, before, questionTokens(tokenizer, question), req.options ?? {}, signal, timing, req.reread);
    return { ...result, grounding: grounding(lead + text, retrieval, undefined, history) };
  }

  /**
   * Summarises a file from a copy of the memory after re-reading it: whole when it fits the re-read budget,
   * else its head and outline (definitions with their doc comments) from the index.
   */
  private async *summarize(req: SummarizeRequest, signal: AbortSignal): AsyncGenerator<TextDelta, SummarizeResult> {
    const started = performance.now();
    const loaded = this.requireModel();
    const ws = this.requireWorkspace();
    const { state, index } = ws.requireMemory();
    const relPath = await ws.relativeFile(req.path);
    const read = await readTextFile(path.join(ws.root, relPath));
    if ('reason' in read) throw new EngineError('not-found', `cannot summarise ${relPath}: ${read.reason} (${read.detail})`);
    const { tokenizer } = loaded.model;
    const budget = this.rereadBudget(req.reread);
    // prompt-format.md: a file that fits is streamed again whole, right before the question.
    const fileTokens = await fileChunkTokensYielding(tokenizer, relPath, read.text);
    const whole: RereadChunk = { path: relPath, startLine: 1, endLine: read.text.split(/\r?\n/).length, reason: 'file', text: read.text, tokens: fileTokens };
    const retrieval =
      fileTokens.length <= budget
        ? { chunks: [whole], tokens: fileTokens.length, nothingFound: false }
        : await retrieveFile(relPath, index, budget, ws.rereadIO(tokenizer));
    const retrievalSeconds = secondsSince(started);
    const grounding = (text: string, quoted: boolean): Grounding => ({
      sources: retrieval.chunks.map(toSource),
      citations: checkCitations(text, { index }),
      rereadTokens: quoted ? 0 : retrieval.tokens,
      historyTurns: 0,
      historyTokens: 0,
      nothingFound: retrieval.nothingFound,
    });
    // The file's own header comment is its author's summary: quoted when there is one, else the model writes one.
    const header = headerText(relPath, read.text);
    if (header) {
      const text = `From the header of ${relPath}: ${header}`;
      yield { text };
      return { path: relPath, ...emptyAnswer(started, secondsSince(started), retrievalSeconds), grounding: grounding(text, true) };
    }
    const reread = retrieval.chunks.flatMap((c) => c.tokens);
    const prompt = questionTokens(tokenizer, questions.summarize(relPath));
    const { result, text } = yield* this.answerFrom(loaded, state, reread, prompt, req.options ?? {}, signal, { started, leadSeconds: null, retrievalSeconds }, req.reread);
    return { path: relPath, ...result, grounding: grounding(text, false) };
  }

  /** The re-read budget of a request: its own, else the default for the device the model runs on. */
  private rereadBudget(reread: RereadSettings | undefined): number {
    if (reread?.tokens !== undefined) return reread.tokens;
    return this.onGpu() ? DEFAULT_REREAD_TOKENS.webgpu : DEFAULT_REREAD_TOKENS.cpu;
  }

  /** The budget of earlier turns: the request's, else the default for the device. */
  private historyBudget(tokens: number | undefined): number {
    return tokens ?? (this.onGpu() ? DEFAULT_HISTORY_TOKENS.webgpu : DEFAULT_HISTORY_TOKENS.cpu);
  }

  private onGpu(): boolean {
    return this.requireModel().session.device.provider === 'webgpu';
  }

  /**
   * Streams `before` (earlier turns, re-read code) into a copy of `state` (a fresh state with `memory: 'blank'`),
   * then generates after `prompt`, streaming text as the tokens come. Returns the answer's measurements and its
   * text (kept here for checking, never sent twice).
   * `timing.leadSeconds`: when text was already sent before the model's, the first text came then.
   */
  private async *answerFrom(
    { model, session }: Loaded,
    state: FamState,
    before: number[],
    prompt: number[],
    settings: GenerationSettings,
    signal: AbortSignal,
    timing: { started: number; leadSeconds: number | null; retrievalSeconds: number },
    reread?: RereadSettings,
  ): AsyncGenerator<TextDelta, { result: Omit<AnswerResult, 'grounding'>; text: string }> {
    const { started, leadSeconds, retrievalSeconds } = timing;
    const rereadStarted = performance.now();
    // A chat template's opening comes before the turns and the re-read code (prompt-format.md).
    before = [...conversationStartTokens(model.tokenizer), ...before];
    let copy: FamState | null = null;
    try {
      const base = reread?.memory === 'blank' ? await session.initialState() : state;
      try {
        copy = before.length > 0 || base !== state ? await session.ingest(base, before, { signal }) : null;
      } finally {
        if (base !== state) session.release(base);
      }
    } catch (err) {
      if (!isCancellation(err)) throw err;
      return { result: { ...emptyAnswer(started, leadSeconds, retrievalSeconds), stopReason: 'cancelled', cancelled: true }, text: '' };
    }
    const rereadSeconds = secondsSince(rereadStarted);
    const { tokenizer } = model;
    const decoder = tokenizer.createStreamDecoder();
    let text = '';
    let firstTokenAt: number | null = null;
    let result: GenerateResult;
    try {
      result = yield* streamWhile<TextDelta, GenerateResult>((emit) =>
        session.generate(copy ?? state, prompt, {
          maxNewTokens: settings.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS,
          temperature: settings.temperature ?? 0,
          topP: settings.topP ?? 1,
          repetitionPenalty: settings.repetitionPenalty ?? DEFAULT_REPETITION_PENALTY,
          seed: settings.seed ?? 0,
          stopTokens: answerStopTokens(tokenizer),
          signal,
          onToken: (id) => {
            firstTokenAt ??= performance.now();
            const piece = decoder.push(id);
            text += piece;
            if (piece) emit({ text: piece });
          },
        }),
      );
    } catch (err) {
      // Cancelled while the prompt was read, before any token.
      if (!isCancellation(err)) throw err;
      result = { tokens: [], stopReason: 'cancelled' };
    } finally {
      if (copy) session.release(copy);
    }
    const tail = decoder.flush();
    if (tail) {
      text += tail;
      yield { text: tail };
    }
    const totalSeconds = secondsSince(started);
    const firstTokenSeconds = leadSeconds ?? (firstTokenAt === null ? totalSeconds : (firstTokenAt - started) / 1000);
    const n = result.tokens.length;
    return {
      result: {
        tokens: n,
        promptTokens: before.length + prompt.length,
        stopReason: result.stopReason,
        cancelled: result.stopReason === 'cancelled',
        timings: { firstTokenSeconds, totalSeconds, retrievalSeconds, rereadSeconds },
        tokensPerSecond: n > 1 && totalSeconds > firstTokenSeconds ? (n - 1) / (totalSeconds - firstTokenSeconds) : 0,
      },
      text,
    };
  }
}

function toSource(chunk: RereadChunk): Source {
  const source: Source = { path: chunk.path, startLine: chunk.startLine, endLine: chunk.endLine, reason: chunk.reason };
  if (chunk.definition) source.definition = chunk.definition;
  if (chunk.requestedEndLine !== undefined) source.requestedEndLine = chunk.requestedEndLine;
  return source;
}

/**
 * An ask's context as root-relative spans with the lines of their files: each file is read once, and a file the
 * request sends the text of (an editor's unsaved changes, for any of its entries) is not read at all, only checked
 * to be a file. A path outside the workspace (or a link out of it) is refused as an invalid request; a file that
 * cannot be read as text is not-found, with the reason.
 */
async function contextSpans(ws: WorkspaceSession, refs: readonly ContextRef[]): Promise<ContextSpan[]> {
  const rels: string[] = [];
  const texts = new Map<string, string>();
  for (const [i, ref] of refs.entries()) {
    const rel = await ws.relativeFile(ref.path).catch((err: unknown) => {
      if (err instanceof EngineError && err.code === 'not-found') throw new EngineError('invalid-request', `engine/ask: params.context[${i}].path: ${err.message}`);
      throw err;
    });
    rels.push(rel);
    if (ref.text !== undefined && !texts.has(rel)) texts.set(rel, ref.text);
  }
  const lines = new Map<string, string[]>();
  for (const rel of new Set(rels)) {
    const abs = path.join(ws.root, rel);
    let text = texts.get(rel);
    if (text !== undefined) {
      if (!(await fs.stat(abs).catch(() => null))?.isFile()) throw new EngineError('not-found', `cannot re-read ${rel} for the question: no such file`);
    } else {
      const read = await readTextFile(abs);
      if ('reason' in read) throw new EngineError('not-found', `cannot re-read ${rel} for the question: ${read.reason} (${read.detail})`);
      text = read.text;
    }
    lines.set(rel, text.split(/\r?\n/));
  }
  return refs.map((ref, i) => {
    const span: ContextSpan = { path: rels[i]!, lines: lines.get(rels[i]!)!, edited: texts.has(rels[i]!) };
    if (ref.startLine !== undefined) span.startLine = ref.startLine;
    if (ref.endLine !== undefined) span.endLine = ref.endLine;
    return span;
  });
}

function modelSummary(model: LoadedModel): ModelSummary {
  const c = model.config;
  return {
    dir: model.dir,
    modelId: model.modelId,
    family: familyLabel(c),
    layers: c.num_hidden_layers,
    hiddenSize: c.hidden_size,
    vocabSize: c.vocab_size,
    blockSize: c.block_size,
    famLength: c.fam_length,
    memorySegments: c.memory_segments,
    memoryMode: memoryModeText(c),
  };
}

/** An answer with no generated tokens (nothing to generate, or cancelled before the first). */
/** What an answer re-read when it re-read nothing: the memory alone, or an answer quoted from the index. */
const NOTHING_REREAD: Retrieval = { chunks: [], tokens: 0, nothingFound: false };

function emptyAnswer(started: number, leadSeconds: number | null, retrievalSeconds: number): Omit<AnswerResult, 'grounding'> {
  const totalSeconds = secondsSince(started);
  return {
    tokens: 0,
    promptTokens: 0,
    stopReason: 'stop-token',
    cancelled: false,
    timings: { firstTokenSeconds: leadSeconds ?? totalSeconds, totalSeconds, retrievalSeconds, rereadSeconds: 0 },
    tokensPerSecond: 0,
  };
}
