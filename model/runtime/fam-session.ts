/**
 * FamSession: runs a FAM model with onnxruntime-node. It owns the ONNX sessions built from the model's
 * weights (model/onnx/fam-graphs.ts), streams tokens into FAM states block by block, and generates.
 *
 * A FamState is an immutable value: every step makes new tensors, so "copying" a state to answer a question
 * is free and the saved workspace state is never changed by a question. On WebGPU the state's tensors stay on
 * the GPU between steps ('gpu-buffer' outputs fed back as inputs); release() frees them.
 */
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import { cpuWeightPlacement, eosTokenIds, famPositions, famResidualScale, headDim, type FamConfig } from '../loader';
import type { StateSnapshot } from '../state';
import {
  IO,
  PreparedWeights,
  buildBlockGraph,
  buildDecodeGraph,
  buildFamKvGraph,
  buildHeadGraph,
  buildInitGraph,
  type FamDims,
  type WeightPlacement,
} from '../onnx/fam-graphs';
import { float16BitsToFloat32 as fromHalf, float32ToFloat16Bits as toHalf } from '../loader/half';
import { ropeInvFreq, ropeTables } from './rope';
import { copyGraph, probeGraph } from '../onnx/utility-graphs';
import { isRepeatingLoop, penalizeRepeats, sampleToken, seededRandom } from './sampling';
import type { DeviceChoice, DeviceInfo, GenerateOptions, GenerateResult, IngestProgress } from './types';

/** Device tensors of one state, shared by the states that did not change them, freed at zero references. */
class StateBuffers {
  private refs = 1;
  constructor(
    readonly fam: ort.Tensor[], // L x [F, D]
    readonly memK: ort.Tensor[], // L x [mB, G*d]
    readonly memV: ort.Tensor[],
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs > 0) return;
    for (const t of [...this.fam, ...this.memK, ...this.memV]) if (t.location === 'gpu-buffer') t.dispose();
  }
}

/** The working memory after some tokens: FAM + memory ring per layer, blocks folded in, the partial block. */
export interface FamState {
  /** Blocks folded in; the next block starts at position blocks * B. */
  readonly blocks: number;
  /** Tokens of the current partial block (fewer than B), folded in when the block fills. */
  readonly pending: Int32Array;
  /** @internal */
  readonly buffers: StateBuffers;
}

/** Thrown when an AbortSignal stops ingestion or generation between steps. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('cancelled');
  }
}

export interface SessionOptions {
  device: DeviceChoice;
  /** CPU threads for onnxruntime (default: all cores). */
  threads?: number;
  /**
   * How graphs get their weights (default: 'inputs' on WebGPU, one uploaded copy shared by every session;
   * 'initializers' on CPU, where onnxruntime prepacks constant matrices at the price of a copy per session,
   * unless they do not fit in one ONNX file: see defaultPlacement).
   */
  weights?: WeightPlacement;
}

type Feeds = Record<string, ort.Tensor>;

/**
 * Where the weights go when the caller does not say: inputs on WebGPU (one upload for every session); on the
 * CPU initializers, which onnxruntime prepacks, while float32 weights fit in one graph, else inputs
 * (cpuWeightPlacement in model/loader/footprint.ts, which the model picker's memory estimate follows too).
 */
export function defaultPlacement(provider: DeviceChoice, cfg: FamConfig): WeightPlacement {
  return provider === 'webgpu' ? 'inputs' : cpuWeightPlacement(cfg);
}

/** What the runtime needs of a model: its config, its weights and its identity (a LoadedModel is one). */
export interface ModelWeights {
  dir: string;
  config: FamConfig;
  modelId: string;
  tensors: ReadonlyMap<string, { toFloat32(): Float32Array }>;
}

function dimsOf(model: ModelWeights): FamDims {
  const c = model.config;
  return {
    layers: c.num_hidden_layers,
    hidden: c.hidden_size,
    heads: c.num_attention_heads,
    kvHeads: c.num_key_value_heads,
    headDim: headDim(c),
    ffn: c.intermediate_size,
    vocab: c.vocab_size,
    famLength: c.fam_length,
    blockSize: c.block_size,
    memSegments: c.memory_segments,
    eps: c.rms_norm_eps,
    tied: c.tie_word_embeddings,
    qkvBias: c.qkv_bias,
    oBias: c.o_bias,
    qkNorm: c.qk_norm,
  };
}

export class FamSession {
  readonly dims: FamDims;
  private readonly weights: PreparedWeights;
  private initSession?: ort.InferenceSession;
  private headSession?: ort.InferenceSession;
  private famKvSession?: ort.InferenceSession;
  private readback?: { key: string; session: ort.InferenceSession };
  private readonly dtype: 'float32' | 'float16';
  /** RoPE frequencies of the config (rope.ts ropeInvFreq). */
  private readonly invFreq: number[];

  private constructor(
    readonly model: ModelWeights,
    readonly device: DeviceInfo,
    private readonly sessionOptions: ort.InferenceSession.SessionOptions,
    weights: PreparedWeights,
    /** Weight tensors fed to every run when the graphs take weights as inputs (WebGPU): uploaded once. */
    private readonly weightFeeds: Feeds,
    private readonly blockSession: ort.InferenceSession,
    private readonly decodeSession: ort.InferenceSession,
  ) {
    this.weights = weights;
    this.dims = weights.dims;
    this.dtype = weights.dtype;
    this.invFreq = ropeInvFreq(model.config);
  }

  /** Where the graphs get their weights (SessionOptions.weights, or the default chosen for the model's size). */
  get weightPlacement(): WeightPlacement {
    return this.weights.placement;
  }

  /** Builds the graphs and opens sessions on the chosen device: 'auto' tries WebGPU, then CPU. */
  static async create(model: ModelWeights, opts: SessionOptions): Promise<FamSession> {
    const dims = dimsOf(model);
    const source = { get: (name: string) => FamSession.tensor(model, name) };
    const attempts: DeviceChoice[] = opts.device === 'auto' ? ['webgpu', 'cpu'] : [opts.device];
    let fallbackReason: string | undefined;
    for (const provider of attempts) {
      const sessionOptions = FamSession.optionsFor(provider, opts);
      try {
        // A one-node probe first, so a missing GPU costs milliseconds, not a full graph build.
        if (provider === 'webgpu') await (await ort.InferenceSession.create(probeGraph(), sessionOptions)).release();
        // On the GPU every session reads one uploaded copy of the weights; on the CPU each session embeds its
        // own, which lets onnxruntime prepack the matrices, as long as they fit in a graph (defaultPlacement).
        const weights = new PreparedWeights(dims, source, provider === 'webgpu' ? 'float16' : 'float32',
          opts.weights ?? defaultPlacement(provider, model.config));
        const weightFeeds = weights.placement === 'initializers' ? {}
          : provider === 'webgpu' ? await FamSession.upload(weights, sessionOptions)
          // Host tensors are views of the prepared arrays: onnxruntime reads them where they are.
          : Object.fromEntries(weights.all().map((w) => [w.name, new ort.Tensor(weights.dtype, w.data, w.dims)]));
        const layers = Array.from({ length: dims.layers }, (_, l) => l);
        const stateOut = layers.flatMap((l) => [
          ...(dims.famLength > 0 ? [IO.newFam(l)] : []),
          ...(dims.memSegments > 0 ? [IO.newMemK(l), IO.newMemV(l)] : []),
        ]);
        stateOut.push(IO.lastHidden);
        const block = await FamSession.open(buildBlockGraph(weights), sessionOptions, stateOut);
        const decode = await FamSession.open(buildDecodeGraph(weights), sessionOptions, layers.flatMap((l) => [IO.newPastK(l), IO.newPastV(l)]));
        const adapter = provider === 'cpu'
          ? `${os.cpus()[0]?.model.trim() ?? 'cpu'} (${os.arch()}), ${sessionOptions.intraOpNumThreads} threads`
          : `WebGPU (Dawn) via onnxruntime-node ${ort.env.versions.node ?? ''}`.trim();
        const device: DeviceInfo = { provider: provider === 'webgpu' ? 'webgpu' : 'cpu', adapter, dtype: weights.dtype };
        if (fallbackReason) device.fallbackReason = fallbackReason;
        return new FamSession(model, device, sessionOptions, weights, weightFeeds, block, decode);
      } catch (err) {
        const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
        if (provider === attempts[attempts.length - 1]) {
          throw new Error(`could not start the FAM engine on ${provider}: ${reason}` +
            (fallbackReason ? ` (WebGPU was skipped first: ${fallbackReason})` : ''));
        }
        // Keep onnxruntime's own words, minus the source location prefix.
        fallbackReason = reason.replace(/^.*?(Failed to)/, '$1');
      }
    }
    throw new Error('unreachable: no device attempted');
  }

  /**
   * Copies every weight to the device once, through a graph of Identity nodes whose outputs stay on the GPU
   * (optimisation off, so the copies are not folded away). The session is kept: it owns those buffers.
   */
  private static async upload(weights: PreparedWeights, base: ort.InferenceSession.SessionOptions): Promise<Feeds> {
    const all = weights.all();
    const graph = copyGraph(all.map((w) => ({ type: weights.dtype, dims: w.dims })));
    const session = await FamSession.open(graph, { ...base, graphOptimizationLevel: 'disabled' }, all.map((_, i) => `out.${i}`));
    const out = await session.run(Object.fromEntries(all.map((w, i) => [`in.${i}`, new ort.Tensor(weights.dtype, w.data, w.dims)])));
    FamSession.uploadSessions.push(session);
    return Object.fromEntries(all.map((w, i) => [w.name, out[`out.${i}`]!]));
  }

  /** Sessions that own uploaded weights: never released while the process may still use a FamSession. */
  private static readonly uploadSessions: ort.InferenceSession[] = [];

  private static tensor(model: ModelWeights, name: string): Float32Array {
    const t = model.tensors.get(name);
    if (!t) throw new Error(`model ${model.dir}: tensor ${name} is missing`);
    return t.toFloat32();
  }

  private static optionsFor(provider: DeviceChoice, opts: SessionOptions): ort.InferenceSession.SessionOptions {
    if (provider === 'cpu') {
      return {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        executionMode: 'sequential',
        intraOpNumThreads: opts.threads ?? os.availableParallelism(),
        interOpNumThreads: 1,
        // Worker threads sleep instead of spinning between ops: the engine shares the machine with the editor
        // and everything else. On 2 cores under load: -14% CPU time per default-model block, about -8% wall
        // time (docs/perf.md, "Defaults and the measurements behind them").
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      };
    }
    return { executionProviders: ['webgpu'], graphOptimizationLevel: 'all', logSeverityLevel: 3 };
  }

  /**
   * Opens a session for a graph. On WebGPU the named outputs (state tensors) stay on the GPU, to be fed
   * back as inputs of the next step; every other output (logits) comes back to the host.
   */
  private static open(bytes: Uint8Array, base: ort.InferenceSession.SessionOptions, keepOnDevice: string[]): Promise<ort.InferenceSession> {
    const onGpu = base.executionProviders?.some((ep) => (typeof ep === 'string' ? ep : ep.name) === 'webgpu');
    const options = onGpu && keepOnDevice.length > 0
      ? { ...base, preferredOutputLocation: Object.fromEntries(keepOnDevice.map((n) => [n, 'gpu-buffer' as const])) }
      : base;
    return ort.InferenceSession.create(bytes, options);
  }

  private perLayer(...names: ((l: number) => string)[]): string[] {
    return Array.from({ length: this.dims.layers }, (_, l) => names.map((n) => n(l))).flat();
  }

  // ---- states ------------------------------------------------------------------------------------------

  /** A fresh state: the FAM initialised through all layers (App. B.1), an empty memory ring, no tokens. */
  async initialState(): Promise<FamState> {
    const { layers: L, famLength: F } = this.dims;
    let fam: ort.Tensor[] = [];
    if (F > 0) {
      const embeddings = new ort.Tensor(this.dtype, this.weights.famEmbeddings!, [F, this.dims.hidden]); // fam[0]
      fam = [embeddings];
      if (L > 1) {
        const { cos, sin } = ropeTables(Array.from({ length: F }, (_, i) => i), this.invFreq);
        // Kept open: device tensors it returned may depend on its allocator.
        this.initSession ??= await FamSession.open(buildInitGraph(this.weights, cos, sin), this.sessionOptions, this.perLayer(IO.fam).slice(1));
        const out = await this.run('init', this.initSession, { [IO.famEmbeddings]: embeddings });
        for (let l = 1; l < L; l++) fam.push(out[IO.fam(l)]!);
      }
    }
    const ring = () => Array.from({ length: L }, () => this.zeros([this.dims.memSegments * this.dims.blockSize, this.kvDim]));
    const m = this.dims.memSegments > 0;
    return { blocks: 0, pending: new Int32Array(0), buffers: new StateBuffers(fam, m ? ring() : [], m ? ring() : []) };
  }

  tokenCount(state: FamState): number {
    return state.blocks * this.dims.blockSize + state.pending.length;
  }

  /** Frees the device buffers of a state that is no longer needed (states sharing them keep them). */
  release(state: FamState): void {
    state.buffers.release();
  }

  /**
   * Streams tokens into the state block by block and returns the new state; the input state stays valid.
   * Cancellation is checked between blocks: an aborted call throws AbortError and returns no state.
   */
  async ingest(state: FamState, tokens: ArrayLike<number>,
    opts: { signal?: AbortSignal; onProgress?: (p: IngestProgress) => void } = {}): Promise<FamState> {
    return (await this.fold(state, tokens, false, opts)).state;
  }

  /** Folds full blocks of pending + tokens; keeps the remainder pending. Optionally returns the last block's logits. */
  private async fold(state: FamState, tokens: ArrayLike<number>, wantLogits: boolean,
    opts: { signal?: AbortSignal; onProgress?: (p: IngestProgress) => void } = {}): Promise<{ state: FamState; logits?: Float32Array }> {
    const B = this.dims.blockSize;
    const all = new Int32Array(state.pending.length + tokens.length);
    all.set(state.pending);
    for (let i = 0; i < tokens.length; i++) all[state.pending.length + i] = tokens[i]!;
    const fullBlocks = Math.floor(all.length / B);
    let current = state;
    let logits: Float32Array | undefined;
    for (let b = 0; b < fullBlocks; b++) {
      if (opts.signal?.aborted) {
        if (current !== state) current.buffers.release();
        throw new AbortError();
      }
      const wantThis = wantLogits && b === fullBlocks - 1;
      const next = await this.blockStep(current, all.subarray(b * B, (b + 1) * B), wantThis);
      if (current !== state) current.buffers.release();
      current = next.state;
      logits = next.logits;
      opts.onProgress?.({ tokensDone: Math.min((b + 1) * B - state.pending.length, tokens.length), tokensTotal: tokens.length });
    }
    const pending = all.slice(fullBlocks * B);
    const buffers = current === state ? state.buffers.retain() : current.buffers;
    opts.onProgress?.({ tokensDone: tokens.length, tokensTotal: tokens.length });
    const result: { state: FamState; logits?: Float32Array } = { state: { blocks: current.blocks, pending, buffers } };
    if (logits && pending.length === 0) result.logits = logits;
    return result;
  }

  /** One block step: B tokens in, new FAM and ring out. */
  private async blockStep(state: FamState, block: Int32Array, wantLogits: boolean): Promise<{ state: FamState; logits?: Float32Array }> {
    const { layers: L, famLength: F, blockSize: B, memSegments: m } = this.dims;
    const p0 = state.blocks * B;
    const positions = [...famPositions(this.model.config, p0), ...Array.from({ length: B }, (_, i) => p0 + i)];
    const feeds: Feeds = {
      [IO.inputIds]: new ort.Tensor('int64', BigInt64Array.from(block, (x) => BigInt(x)), [B]),
      ...this.ropeFeeds(positions),
    };
    if (F > 0) feeds[IO.famResidual] = this.floatTensor(Float32Array.of(famResidualScale(this.model.config, state.blocks)), [1]);
    if (m > 0) feeds[IO.memMask] = this.floatTensor(this.memMaskRow(state.blocks), [1, m * B]);
    const b = state.buffers;
    for (let l = 0; l < L; l++) {
      if (F > 0) feeds[IO.fam(l)] = b.fam[l]!;
      if (m > 0) {
        feeds[IO.memK(l)] = b.memK[l]!;
        feeds[IO.memV(l)] = b.memV[l]!;
      }
    }
    // Always every output: onnxruntime-node keeps one output binding per session, and fetching a different
    // set of GPU outputs from run to run failed with "Output count mismatch" on the WebGPU EP.
    const out = await this.run('block', this.blockSession, feeds);
    const buffers = new StateBuffers(
      F > 0 ? Array.from({ length: L }, (_, l) => out[IO.newFam(l)]!) : [],
      m > 0 ? Array.from({ length: L }, (_, l) => out[IO.newMemK(l)]!) : [],
      m > 0 ? Array.from({ length: L }, (_, l) => out[IO.newMemV(l)]!) : [],
    );
    const next: { state: FamState; logits?: Float32Array } = { state: { blocks: state.blocks + 1, pending: new Int32Array(0), buffers } };
    const lastHidden = out[IO.lastHidden]!;
    if (wantLogits) next.logits = await this.headLogits(lastHidden);
    else if (lastHidden.location === 'gpu-buffer') lastHidden.dispose();
    return next;
  }

  // ---- generation ----------------------------------------------------------------------------------------

  /**
   * Appends the prompt to a copy of the state and generates. The input state is not changed.
   * Each decoded token attends to the ring, the FAM and the current partial block; when the block fills,
   * it is folded in by a block step and decoding continues on the new FAM.
   */
  async generate(state: FamState, prompt: ArrayLike<number>, opts: GenerateOptions): Promise<GenerateResult> {
    const B = this.dims.blockSize;
    const stop = new Set(opts.stopTokens ?? []);
    for (const id of eosTokenIds(this.model.config)) stop.add(id);
    const random = seededRandom(opts.seed ?? 0);
    const check = () => {
      if (opts.signal?.aborted) throw new AbortError();
    };
    if (state.pending.length + prompt.length === 0) throw new Error('generate: empty prompt and no pending tokens to continue from');

    check();
    // `cur` holds one reference to its buffers; a state made by appending a token takes it over.
    let { state: cur, logits } = await this.fold(state, prompt, true, opts.signal ? { signal: opts.signal } : {});
    let partial = new PartialBlock(this);
    const tokens: number[] = [];
    try {
      if (!logits) logits = await partial.start(cur, cur.pending);
      for (;;) {
        const scored = penalizeRepeats(logits, tokens, opts.repetitionPenalty ?? 1);
        const next = sampleToken(scored, opts.temperature ?? 0, opts.topP ?? 1, random);
        if (stop.has(next)) return { tokens, stopReason: 'stop-token' };
        tokens.push(next);
        opts.onToken?.(next);
        if (tokens.length >= opts.maxNewTokens) return { tokens, stopReason: 'max-tokens' };
        if (isRepeatingLoop(tokens)) return { tokens, stopReason: 'repetition' };
        check();
        if (cur.pending.length + 1 === B) {
          // The block is full: fold it in; the block step's last-row logits predict the next token.
          const folded = await this.fold(cur, Int32Array.of(next), true);
          cur.buffers.release();
          cur = folded.state;
          logits = folded.logits!;
          partial.dispose();
          partial = new PartialBlock(this);
        } else {
          cur = { blocks: cur.blocks, pending: appendToken(cur.pending, next), buffers: cur.buffers };
          logits = partial.started ? await partial.step(cur, Int32Array.of(next)) : await partial.start(cur, cur.pending);
        }
      }
    } catch (err) {
      if (err instanceof AbortError) return { tokens, stopReason: 'cancelled' };
      throw err;
    } finally {
      partial.dispose();
      cur.buffers.release();
    }
  }

  /**
   * The next-token logits after appending `tokens` to the state (which is not changed). Used by evaluation
   * (scoring answers) and by the parity tests; generation uses the same path.
   */
  async nextTokenLogits(state: FamState, tokens: ArrayLike<number>): Promise<Float32Array> {
    const { state: cur, logits } = await this.fold(state, tokens, true);
    const partial = new PartialBlock(this);
    try {
      return logits ?? (await partial.start(cur, cur.pending));
    } finally {
      partial.dispose();
      cur.buffers.release();
    }
  }

  // ---- snapshots -----------------------------------------------------------------------------------------

  /** A host copy of the state (for files and copies between processes). */
  async snapshot(state: FamState, meta: Record<string, unknown> = {}): Promise<StateSnapshot> {
    const { layers, famLength, hidden, blockSize, memSegments } = this.dims;
    const { fam, memK, memV } = state.buffers;
    const host = await this.toHost([...fam, ...memK, ...memV]);
    // Without a FAM (F = 0) or a ring (m = 0) a layer holds an empty array: the snapshot keeps one per layer.
    const perLayer = (arrays: (Float32Array | Uint16Array)[]) => (arrays.length > 0 ? arrays
      : Array.from({ length: layers }, () => (this.dtype === 'float16' ? new Uint16Array(0) : new Float32Array(0))));
    return {
      modelId: this.model.modelId,
      dtype: this.dtype,
      layers,
      famLength,
      hiddenSize: hidden,
      memSlots: memSegments * blockSize,
      kvDim: this.kvDim,
      blockSize,
      blocks: state.blocks,
      pending: state.pending.slice(),
      fam: perLayer(host.slice(0, fam.length)),
      memK: perLayer(host.slice(fam.length, fam.length + memK.length)),
      memV: perLayer(host.slice(fam.length + memK.length)),
      meta,
    };
  }

  /** A state from a snapshot; refuses one made with another model or other dimensions. */
  async restore(snap: StateSnapshot): Promise<FamState> {
    const { layers, famLength, hidden, blockSize, memSegments } = this.dims;
    if (snap.modelId !== this.model.modelId) {
      throw new Error(`state was made with model ${snap.modelId.slice(0, 12)}, not the loaded model ${this.model.modelId.slice(0, 12)}; re-ingest the workspace`);
    }
    const expect = { layers, famLength, hiddenSize: hidden, memSlots: memSegments * blockSize, kvDim: this.kvDim, blockSize };
    for (const [k, v] of Object.entries(expect)) {
      if ((snap as unknown as Record<string, number>)[k] !== v) {
        throw new Error(`state has ${k}=${(snap as unknown as Record<string, number>)[k]}, the model needs ${v}; re-ingest the workspace`);
      }
    }
    const tensor = (a: Float32Array | Uint16Array, dims: number[]) => {
      const f32 = a instanceof Uint16Array ? fromHalf(a) : a;
      return this.floatTensor(f32, dims);
    };
    return {
      blocks: snap.blocks,
      pending: snap.pending.slice(),
      buffers: new StateBuffers(
        famLength > 0 ? snap.fam.map((a) => tensor(a, [famLength, hidden])) : [],
        memSegments > 0 ? snap.memK.map((a) => tensor(a, [memSegments * blockSize, this.kvDim])) : [],
        memSegments > 0 ? snap.memV.map((a) => tensor(a, [memSegments * blockSize, this.kvDim])) : [],
      ),
    };
  }

  async dispose(): Promise<void> {
    await this.blockSession.release();
    await this.decodeSession.release();
    await this.initSession?.release();
    await this.headSession?.release();
    await this.famKvSession?.release();
    await this.readback?.session.release();
  }

  // ---- helpers shared with PartialBlock --------------------------------------------------------------------

  get kvDim(): number {
    return this.dims.kvHeads * this.dims.headDim;
  }

  /** Logits of one hidden row (the block step's last row), through the head graph. */
  private async headLogits(lastHidden: ort.Tensor): Promise<Float32Array> {
    this.headSession ??= await FamSession.open(buildHeadGraph(this.weights), this.sessionOptions, []);
    try {
      const out = await this.run('head', this.headSession, { [IO.lastHidden]: lastHidden });
      return out[IO.logits]!.data as Float32Array;
    } finally {
      if (lastHidden.location === 'gpu-buffer') lastHidden.dispose();
    }
  }

  /** @internal */
  async famKv(state: FamState): Promise<ort.Tensor[][]> {
    const { layers: L, famLength: F, blockSize: B } = this.dims;
    if (F === 0) return [Array.from({ length: L }, () => this.zeros([0, this.kvDim])), Array.from({ length: L }, () => this.zeros([0, this.kvDim]))];
    this.famKvSession ??= await FamSession.open(buildFamKvGraph(this.weights), this.sessionOptions, this.perLayer(IO.pastK, IO.pastV));
    const p0 = state.blocks * B;
    const feeds: Feeds = this.ropeFeeds(famPositions(this.model.config, p0));
    for (let l = 0; l < L; l++) feeds[IO.fam(l)] = state.buffers.fam[l]!;
    const out = await this.run('famkv', this.famKvSession, feeds);
    return [Array.from({ length: L }, (_, l) => out[IO.pastK(l)]!), Array.from({ length: L }, (_, l) => out[IO.pastV(l)]!)];
  }

  /** @internal Runs the decode graph for T new tokens after `past` rows of the partial cache. */
  async decodeStep(state: FamState, tokens: Int32Array, pastK: ort.Tensor[], pastV: ort.Tensor[]): Promise<{ logits: Float32Array; pastK: ort.Tensor[]; pastV: ort.Tensor[] }> {
    const { layers: L, famLength: F, blockSize: B, memSegments: m } = this.dims;
    const T = tokens.length;
    const past = pastK[0]!.dims[0]!; // F + tokens of this block before these
    const p0 = state.blocks * B + (past - F);
    const mB = m * B;
    const S = mB + past + T;
    const mask = new Float32Array(T * S);
    const memRow = m > 0 ? this.memMaskRow(state.blocks) : new Float32Array(0);
    for (let i = 0; i < T; i++) {
      mask.set(memRow, i * S);
      for (let j = 0; j < T; j++) mask[i * S + mB + past + j] = j <= i ? 0 : -Infinity;
    }
    const feeds: Feeds = {
      [IO.inputIds]: new ort.Tensor('int64', BigInt64Array.from(tokens, (x) => BigInt(x)), [T]),
      [IO.attnMask]: this.floatTensor(mask, [T, S]),
      ...this.ropeFeeds(Array.from({ length: T }, (_, i) => p0 + i)),
    };
    for (let l = 0; l < L; l++) {
      feeds[IO.pastK(l)] = pastK[l]!;
      feeds[IO.pastV(l)] = pastV[l]!;
      if (m > 0) {
        feeds[IO.memK(l)] = state.buffers.memK[l]!;
        feeds[IO.memV(l)] = state.buffers.memV[l]!;
      }
    }
    const out = await this.run('decode', this.decodeSession, feeds);
    return {
      logits: out[IO.logits]!.data as Float32Array,
      pastK: Array.from({ length: L }, (_, l) => out[IO.newPastK(l)]!),
      pastV: Array.from({ length: L }, (_, l) => out[IO.newPastV(l)]!),
    };
  }

  /** session.run with the shared weights added to the feeds, and the graph's name and inputs in any error. */
  private async run(graph: string, session: ort.InferenceSession, feeds: Feeds): Promise<ort.InferenceSession.ReturnType> {
    try {
      return await session.run({ ...this.weightFeeds, ...feeds });
    } catch (err) {
      const where = Object.entries(feeds).map(([k, t]) => `${k}:${t.location}[${t.dims.join('x')}]`).join(' ');
      throw new Error(`${graph} graph: ${err instanceof Error ? err.message : String(err)} (inputs ${where})`);
    }
  }

  /** Additive mask over the ring's mB slots: the oldest slots are empty until m blocks have been folded in. */
  private memMaskRow(blocks: number): Float32Array {
    const { blockSize: B, memSegments: m } = this.dims;
    const row = new Float32Array(m * B);
    row.fill(-Infinity, 0, (m - Math.min(blocks, m)) * B);
    return row;
  }

  private ropeFeeds(positions: number[]): Feeds {
    const d = this.dims.headDim;
    const { cos, sin } = ropeTables(positions, this.invFreq);
    return {
      [IO.ropeCos]: this.floatTensor(cos, [positions.length, 1, d]),
      [IO.ropeSin]: this.floatTensor(sin, [positions.length, 1, d]),
    };
  }

  /** A host tensor in the session's compute dtype. */
  private floatTensor(data: Float32Array, dims: number[]): ort.Tensor {
    return this.dtype === 'float16' ? new ort.Tensor('float16', toHalf(data), dims) : new ort.Tensor('float32', data, dims);
  }

  private zeros(dims: number[]): ort.Tensor {
    return this.floatTensor(new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  }

  /** Host copies of tensors; device tensors are read back in one run of a copy graph. */
  private async toHost(tensors: ort.Tensor[]): Promise<(Float32Array | Uint16Array)[]> {
    const copy = (data: ort.Tensor['data']) => (data instanceof Uint16Array ? data.slice() : (data as Float32Array).slice());
    if (tensors.every((t) => t.location === 'cpu')) return tensors.map((t) => copy(t.data));
    const shapes = tensors.map((t) => ({ type: t.type as 'float32' | 'float16', dims: [...t.dims] }));
    const key = JSON.stringify(shapes);
    if (this.readback?.key !== key) {
      await this.readback?.session.release();
      this.readback = { key, session: await FamSession.open(copyGraph(shapes), this.sessionOptions, []) };
    }
    const out = await this.run('readback', this.readback.session, Object.fromEntries(tensors.map((t, i) => [`in.${i}`, t])));
    return tensors.map((_, i) => copy(out[`out.${i}`]!.data));
  }
}

/** The K/V cache of the block being decoded: the FAM rows' K/V followed by this block's tokens so far. */
class PartialBlock {
  private pastK: ort.Tensor[] = [];
  private pastV: ort.Tensor[] = [];
  started = false;

  constructor(private readonly session: FamSession) {}

  /** Starts the cache for the state's current block and runs its pending tokens; returns the last logits. */
  async start(state: FamState, tokens: Int32Array): Promise<Float32Array> {
    [this.pastK, this.pastV] = await this.session.famKv(state);
    this.started = true;
    if (tokens.length === 0) throw new Error('PartialBlock.start: no tokens to decode from');
    return this.step(state, tokens);
  }

  async step(state: FamState, tokens: Int32Array): Promise<Float32Array> {
    const out = await this.session.decodeStep(state, tokens, this.pastK, this.pastV);
    this.disposeCache();
    this.pastK = out.pastK;
    this.pastV = out.pastV;
    return out.logits;
  }

  private disposeCache(): void {
    for (const t of [...this.pastK, ...this.pastV]) if (t.location === 'gpu-buffer') t.dispose();
  }

  dispose(): void {
    this.disposeCache();
    this.pastK = [];
    this.pastV = [];
  }
}

function appendToken(pending: Int32Array, token: number): Int32Array {
  const out = new Int32Array(pending.length + 1);
  out.set(pending);
  out[pending.length] = token;
  return out;
}
