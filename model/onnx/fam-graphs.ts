/**
 * The TransformerFAM forward as ONNX graphs, built from config + weights (docs/fam.md, Alg. 2).
 * The same math as the PyTorch reference model/train/fam.py, checked by test/parity.
 *
 * Four graphs, all batch 1 with rows as the first axis ([rows, D]):
 *  - init:   the F learned FAM embeddings through all layers (full attention among themselves) → fam.{l}
 *  - block:  one block of B tokens + state → new state (+ the last row's hidden state)
 *  - head:   final norm + LM head on one hidden row → logits
 *  - famkv:  K/V of the current FAM rows, the start of the partial-block cache used by decode
 *  - decode: T new tokens of the current partial block, attending to [memory | FAM | earlier tokens | themselves]
 *            → last-token logits and the grown partial-block K/V cache
 *
 * Letters in shape comments: B block size, F FAM length, m memory segments (mB = m*B rows of ring),
 * D width, H query heads, G key/value heads, d head size, I FFN width, V vocabulary, n rows in a pass,
 * S keys in a pass, T new tokens, P past rows of the partial cache (F + tokens so far).
 *
 * Precision: activations and weights in `dtype` (float32 on CPU, float16 on GPU); RMSNorm statistics in
 * float32 as in Hugging Face; logits are returned as float32.
 */
import { GraphBuilder, type ElemType } from './builder';
import { float32ToFloat16Bits as toHalf } from '../loader/half';

/** The model dimensions the graphs need, from config.json. */
export interface FamDims {
  layers: number; // L
  hidden: number; // D
  heads: number; // H
  kvHeads: number; // G
  headDim: number; // d
  ffn: number; // I
  vocab: number; // V
  famLength: number; // F
  blockSize: number; // B
  memSegments: number; // m
  eps: number;
  tied: boolean;
  /** q/k/v projections add a bias (Qwen2, or attention_bias). */
  qkvBias: boolean;
  /** o_proj adds a bias (attention_bias). */
  oBias: boolean;
  /** Q and K are RMS-normed per head before RoPE (Qwen3). */
  qkNorm: boolean;
}

/** A weight as stored in the checkpoint (Hugging Face layout, e.g. Linear weights [out, in]). */
export interface WeightSource {
  get(name: string): Float32Array;
}

/** Value names of graph inputs and outputs: one source of truth for the runtime. */
export const IO = {
  inputIds: 'input_ids',
  lastHidden: 'last_hidden',
  famEmbeddings: 'fam_embeddings',
  ropeCos: 'rope_cos',
  ropeSin: 'rope_sin',
  famResidual: 'fam_residual',
  memMask: 'mem_mask',
  attnMask: 'attn_mask',
  logits: 'logits',
  fam: (l: number) => `fam.${l}`,
  memK: (l: number) => `mem_k.${l}`,
  memV: (l: number) => `mem_v.${l}`,
  newFam: (l: number) => `new_fam.${l}`,
  newMemK: (l: number) => `new_mem_k.${l}`,
  newMemV: (l: number) => `new_mem_v.${l}`,
  pastK: (l: number) => `past_k.${l}`,
  pastV: (l: number) => `past_v.${l}`,
  newPastK: (l: number) => `new_past_k.${l}`,
  newPastV: (l: number) => `new_past_v.${l}`,
} as const;

type Arr = Float32Array | Uint16Array;

/**
 * Per-layer weights rearranged for the graphs, already in the compute dtype. 1/sqrt(d) is folded into Q: into
 * wqkv's Q columns and bqkv's Q part, or, with q/k norms, into qNorm (a norm would undo a scale before it).
 */
interface LayerWeights {
  inNorm: Arr; // [D]
  wqkv: Arr; // [D, (H+2G)d]
  bqkv?: Arr; // [(H+2G)d]
  qNorm?: Arr; // [d]
  kNorm?: Arr; // [d]
  wo: Arr; // [H*d, D]
  bo?: Arr; // [D]
  postNorm: Arr; // [D]
  wgu: Arr; // [D, 2I] gate then up
  wdown: Arr; // [I, D]
}
type LayerKey = keyof LayerWeights;

/**
 * Where the graphs get their weights: embedded as initializers (each session holds its own copy; the CPU EP
 * prepacks constant matrices for speed), or as graph inputs fed the same device tensors in every run
 * (uploaded to the GPU once and shared by all sessions).
 */
export type WeightPlacement = 'initializers' | 'inputs';

/** One named weight as the graphs take it. */
export interface GraphWeight {
  name: string;
  dims: number[];
  data: Float32Array | Uint16Array;
}

/**
 * Weights prepared once per (model, dtype) and shared by every graph built from them.
 * Rearrangement (ours): Linear weights are transposed to [in, out] so every projection is a MatMul;
 * Q/K/V and gate/up are fused into one product each; 1/sqrt(d) is folded into the Q weights
 * (RoPE is linear, so scaling before it equals scaling the scores).
 */
export class PreparedWeights {
  readonly layers: LayerWeights[] = [];
  readonly embed: Arr; // [V, D]
  readonly finalNorm: Arr; // [D]
  readonly lmHead: Arr; // [V, D] (Gemm with transB)
  readonly famEmbeddings: Arr | undefined; // [F, D]

  constructor(readonly dims: FamDims, src: WeightSource, readonly dtype: 'float32' | 'float16',
    readonly placement: WeightPlacement = 'initializers') {
    const { hidden: D, heads: H, kvHeads: G, headDim: d, ffn: I } = dims;
    const cast = (a: Float32Array): Arr => (dtype === 'float16' ? toHalf(a) : a);
    const scale = 1 / Math.sqrt(d);
    const qScale = dims.qkNorm ? 1 : scale;
    for (let l = 0; l < dims.layers; l++) {
      const p = `model.layers.${l}.`;
      const get = (name: string) => src.get(p + name);
      const q = get('self_attn.q_proj.weight').map((x) => x * qScale); // [H*d, D]
      const qkv = concatRows([q, get('self_attn.k_proj.weight'), get('self_attn.v_proj.weight')]);
      const gu = concatRows([get('mlp.gate_proj.weight'), get('mlp.up_proj.weight')]);
      this.layers.push({
        inNorm: cast(get('input_layernorm.weight')),
        wqkv: cast(transpose(qkv, (H + 2 * G) * d, D)),
        ...(dims.qkvBias && { bqkv: cast(concatRows([get('self_attn.q_proj.bias').map((x) => x * qScale),
          get('self_attn.k_proj.bias'), get('self_attn.v_proj.bias')])) }),
        ...(dims.qkNorm && {
          qNorm: cast(get('self_attn.q_norm.weight').map((x) => x * scale)),
          kNorm: cast(get('self_attn.k_norm.weight')),
        }),
        wo: cast(transpose(get('self_attn.o_proj.weight'), D, H * d)),
        ...(dims.oBias && { bo: cast(get('self_attn.o_proj.bias')) }),
        postNorm: cast(get('post_attention_layernorm.weight')),
        wgu: cast(transpose(gu, 2 * I, D)),
        wdown: cast(transpose(get('mlp.down_proj.weight'), D, I)),
      });
    }
    this.embed = cast(src.get('model.embed_tokens.weight'));
    this.finalNorm = cast(src.get('model.norm.weight'));
    this.lmHead = dims.tied ? this.embed : cast(src.get('lm_head.weight'));
    this.famEmbeddings = dims.famLength > 0 ? cast(src.get('model.fam_embeddings')) : undefined;
  }

  /** Every weight the graphs may use, by graph name (lm_head only when untied: tied graphs use embed). */
  all(): GraphWeight[] {
    const { vocab: V, hidden: D } = this.dims;
    const out: GraphWeight[] = [];
    this.layers.forEach((lw, l) => {
      for (const key of Object.keys(lw) as LayerKey[]) out.push(this.layerWeight(l, key));
    });
    out.push({ name: 'embed', dims: [V, D], data: this.embed }, { name: 'final_norm', dims: [D], data: this.finalNorm });
    if (!this.dims.tied) out.push({ name: 'lm_head', dims: [V, D], data: this.lmHead });
    return out;
  }

  layerWeight(l: number, key: LayerKey): GraphWeight {
    const { hidden: D, heads: H, kvHeads: G, headDim: d, ffn: I } = this.dims;
    const dims: Record<LayerKey, number[]> = {
      inNorm: [D],
      wqkv: [D, (H + 2 * G) * d],
      bqkv: [(H + 2 * G) * d],
      qNorm: [d],
      kNorm: [d],
      wo: [H * d, D],
      bo: [D],
      postNorm: [D],
      wgu: [D, 2 * I],
      wdown: [I, D],
    };
    const data = this.layers[l]![key];
    if (!data) throw new Error(`layer ${l} has no ${key} (the config says the family has none)`);
    return { name: `layers.${l}.${key}`, dims: dims[key], data };
  }
}

function concatRows(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** [rows, cols] → [cols, rows]. */
function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  if (a.length !== rows * cols) throw new Error(`transpose: ${a.length} elements, expected ${rows}x${cols}`);
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c]!;
  return out;
}

/** Emits the layer math into a GraphBuilder; holds the weight initializer names of one graph. */
class FamGraph {
  readonly g: GraphBuilder;
  readonly T: ElemType;
  private readonly params = new Map<string, string>();

  constructor(name: string, readonly w: PreparedWeights) {
    this.g = new GraphBuilder(name);
    this.T = w.dtype;
  }

  get dims(): FamDims {
    return this.w.dims;
  }

  /** A weight in this graph, added on first use (graphs take only what they use), as placed by PreparedWeights. */
  private param(w: GraphWeight): string {
    let name = this.params.get(w.name);
    if (!name) {
      name = this.w.placement === 'inputs'
        ? this.g.input(w.name, this.T, w.dims)
        : this.g.initializer(w.name, this.T, w.dims, w.data);
      this.params.set(w.name, name);
    }
    return name;
  }

  /** One weight of layer l. */
  weight(l: number, key: LayerKey): string {
    return this.param(this.w.layerWeight(l, key));
  }

  /** x [rows, K] times the projection weight `key` of layer l → [rows, N]. */
  project(x: string, l: number, key: 'wqkv' | 'wo' | 'wgu' | 'wdown'): string {
    return this.g.op('MatMul', [x, this.weight(l, key)]);
  }

  /** x + the bias `key` of layer l, when the family has that bias. */
  bias(x: string, l: number, key: 'bqkv' | 'bo'): string {
    return this.w.layers[l]![key] ? this.g.op('Add', [x, this.weight(l, key)]) : x;
  }

  /** Qwen3's per-head RMSNorm of q [n, H, d] or k [n, G, d] over d, when the family has it. */
  headNorm(x: string, l: number, key: 'qNorm' | 'kNorm'): string {
    return this.w.layers[l]![key] ? this.rmsNorm(x, this.weight(l, key)) : x;
  }

  scalar(v: number): string {
    return this.g.scalar(v, this.T, toHalf);
  }

  /** Token embeddings: ids [n] → [n, D]. */
  embed(ids: string): string {
    const { vocab: V, hidden: D } = this.dims;
    const table = this.param({ name: 'embed', dims: [V, D], data: this.w.embed });
    return this.g.op('Gather', [table, ids], { axis: 0 });
  }

  /** Llama RMSNorm: x / sqrt(mean(x^2) + eps) in float32, back to dtype, times the weight. */
  rmsNorm(x: string, weight: string): string {
    const g = this.g;
    const x32 = this.T === 'float32' ? x : g.op('Cast', [x], { to: 1 });
    const two = g.scalar(2, 'float32', toHalf);
    const eps = g.scalar(this.dims.eps, 'float32', toHalf);
    const ms = g.op('ReduceMean', [g.op('Pow', [x32, two])], { axes: [-1], keepdims: 1 });
    const y32 = g.op('Div', [x32, g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    const y = this.T === 'float32' ? y32 : g.op('Cast', [y32], { to: 10 });
    return g.op('Mul', [y, weight]);
  }

  /**
   * Q/K/V of rows x [n, D] (x already normed) with RoPE applied to Q and K.
   * cos/sin are [n, 1, d]; sin carries rotate_half's sign (first half negated).
   * Returns q [n, H, d], k [n, G, d], v [n, G, d].
   */
  qkv(xNormed: string, l: number, cos: string, sin: string): { q: string; k: string; v: string } {
    const { heads: H, kvHeads: G, headDim: d } = this.dims;
    const g = this.g;
    const fused = this.bias(this.project(xNormed, l, 'wqkv'), l, 'bqkv'); // [n, (H+2G)d]
    const [q, k, v] = g.opN('Split', [fused, g.ints([H * d, G * d, G * d])], 3, { axis: 1 });
    const q3 = this.headNorm(g.op('Reshape', [q!, g.ints([0, H, d])]), l, 'qNorm');
    const k3 = this.headNorm(g.op('Reshape', [k!, g.ints([0, G, d])]), l, 'kNorm');
    const v3 = g.op('Reshape', [v!, g.ints([0, G, d])]);
    return { q: this.rope(q3, cos, sin), k: this.rope(k3, cos, sin), v: v3 };
  }

  /** K/V only (for FAM rows used as keys without queries): [n, G, d] each, K with RoPE. */
  kvOnly(xNormed: string, l: number, cos: string, sin: string): { k: string; v: string } {
    const { heads: H, kvHeads: G, headDim: d } = this.dims;
    const g = this.g;
    const fused = this.bias(this.project(xNormed, l, 'wqkv'), l, 'bqkv');
    const kv = g.op('Slice', [fused, g.ints([H * d]), g.ints([(H + 2 * G) * d]), g.ints([1])]);
    const [k, v] = g.opN('Split', [kv, g.ints([G * d, G * d])], 2, { axis: 1 });
    const k3 = this.headNorm(g.op('Reshape', [k!, g.ints([0, G, d])]), l, 'kNorm');
    const v3 = g.op('Reshape', [v!, g.ints([0, G, d])]);
    return { k: this.rope(k3, cos, sin), v: v3 };
  }

  /** x*cos + rotate_half(x)*sin, with rotate_half's sign folded into sin: [x2, x1] * [-sin, sin]. */
  rope(x: string, cos: string, sin: string): string {
    const d = this.dims.headDim;
    const g = this.g;
    const [x1, x2] = g.opN('Split', [x, g.ints([d / 2, d / 2])], 2, { axis: 2 });
    const swapped = g.op('Concat', [x2!, x1!], { axis: 2 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [swapped, sin])]);
  }

  /**
   * Multi-head attention: q [n, H, d] against keys/values [S, G, d] with an additive mask [n, S]
   * (0 = attend, -inf = masked) or none. Returns the output projection [n, D].
   */
  attend(q: string, k: string, v: string, mask: string | undefined, l: number): string {
    const { heads: H, headDim: d } = this.dims;
    const g = this.g;
    const qh = g.op('Transpose', [q], { perm: [1, 0, 2] }); // [H, n, d]
    const { kh, vh } = this.headsKV(k, v);
    let scores = g.op('MatMul', [qh, kh]); // [H, n, S] (1/sqrt(d) is folded into Wq)
    if (mask) scores = g.op('Add', [scores, mask]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const ctx = g.op('MatMul', [probs, vh]); // [H, n, d]
    const rows = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [1, 0, 2] }), g.ints([0, H * d])]); // [n, H*d]
    return this.bias(this.project(rows, l, 'wo'), l, 'bo'); // [n, D]
  }

  /** Keys [S, G, d] → [H, d, S] and values → [H, S, d]; query head h reads key/value head floor(h / (H/G)). */
  private headsKV(k: string, v: string): { kh: string; vh: string } {
    const { heads: H, kvHeads: G } = this.dims;
    const g = this.g;
    let kh = g.op('Transpose', [k], { perm: [1, 2, 0] }); // [G, d, S]
    let vh = g.op('Transpose', [v], { perm: [1, 0, 2] }); // [G, S, d]
    if (H !== G) {
      const d = this.dims.headDim;
      const rep = H / G;
      const expand = (x: string, a: number, b: number) => {
        const x4 = g.op('Unsqueeze', [x, g.ints([1])]); // [G, 1, a, b]
        const shape = g.op('Shape', [x4]);
        const target = g.op('Mul', [shape, g.ints([1, rep, 1, 1])]);
        const e = g.op('Expand', [x4, target]); // [G, rep, a, b]
        return g.op('Reshape', [e, g.ints([H, a, b])]);
      };
      kh = expand(kh, d, -1); // [H, d, S]
      vh = expand(vh, -1, d); // [H, S, d]
    }
    return { kh, vh };
  }

  /** h + SwiGLU(norm(h)). */
  ffn(h: string, l: number): string {
    const { ffn: I } = this.dims;
    const g = this.g;
    const gu = this.project(this.rmsNorm(h, this.weight(l, 'postNorm')), l, 'wgu'); // [n, 2I]
    const [gate, up] = g.opN('Split', [gu, g.ints([I, I])], 2, { axis: 1 });
    const act = g.op('Mul', [g.op('Mul', [gate!, g.op('Sigmoid', [gate!])]), up!]); // silu(gate) * up
    return g.op('Add', [h, this.project(act, l, 'wdown')]);
  }

  /** The last row of x [n, D] → [1, D]. */
  lastRow(x: string): string {
    const g = this.g;
    return g.op('Slice', [x, g.ints([-1]), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([0])]);
  }

  /** Logits of one hidden row [1, D] → float32 [1, V]. */
  logits(last: string): string {
    const { vocab: V, hidden: D } = this.dims;
    const g = this.g;
    const finalNorm = this.param({ name: 'final_norm', dims: [D], data: this.w.finalNorm });
    const lmHead = this.param({ name: this.dims.tied ? 'embed' : 'lm_head', dims: [V, D], data: this.w.lmHead });
    const logits = g.op('Gemm', [this.rmsNorm(last, finalNorm), lmHead], { transB: 1 }); // [1, V]
    return this.T === 'float32' ? logits : g.op('Cast', [logits], { to: 1 });
  }

  /** Rows [start, end) of x along axis 0. */
  rows(x: string, start: number, end: number): string {
    return this.g.op('Slice', [x, this.g.ints([start]), this.g.ints([end]), this.g.ints([0])]);
  }
}

/**
 * FAM initialisation (App. B.1): fam.{l} is the FAM rows' input to layer l. Positions 0..F-1 (ours).
 * fam.0 is the learned embeddings themselves, so the graph takes them as an input and outputs fam.1..fam.{L-1}
 * only: onnxruntime-node's GPU output binding fails ("Output count mismatch") on an output that merely
 * passes an input or a constant through.
 */
export function buildInitGraph(w: PreparedWeights, cos: Float32Array, sin: Float32Array): Uint8Array {
  const { layers: L, famLength: F, hidden: D, headDim: d } = w.dims;
  if (F === 0) throw new Error('buildInitGraph: fam_length is 0, there is no FAM to initialise');
  const fg = new FamGraph('fam_init', w);
  const g = fg.g;
  const cast = (a: Float32Array) => (fg.T === 'float16' ? toHalf(a) : a);
  const cosN = g.initializer('init_cos', fg.T, [F, 1, d], cast(cos));
  const sinN = g.initializer('init_sin', fg.T, [F, 1, d], cast(sin));
  let x = g.input(IO.famEmbeddings, fg.T, [F, D]);
  for (let l = 0; l < L; l++) {
    if (l > 0) g.output(x, IO.fam(l), fg.T, [F, D]);
    if (l === L - 1) break; // the last layer's output is never used as a FAM
    const { q, k, v } = fg.qkv(fg.rmsNorm(x, fg.weight(l, 'inNorm')), l, cosN, sinN);
    const h = g.op('Add', [x, fg.attend(q, k, v, undefined, l)]);
    x = fg.ffn(h, l);
  }
  return g.toBytes();
}

/**
 * One block step (Alg. 2). Rows are [P ; X] (F + B); keys are [memory (mB) | P (F) | X (B)].
 * Mask: FAM rows see no memory, all of P, all of X; block row t sees the valid memory (mem_mask), P, X[0..t].
 * The P rows' output is the layer's new FAM; this block's K/V (after RoPE) enter the ring, the oldest leaves.
 */
export function buildBlockGraph(w: PreparedWeights): Uint8Array {
  const { layers: L, famLength: F, blockSize: B, memSegments: m, hidden: D, kvHeads: G, headDim: d } = w.dims;
  const mB = m * B;
  const fg = new FamGraph('fam_block', w);
  const g = fg.g;
  const T = fg.T;
  const n = F + B;

  const ids = g.input(IO.inputIds, 'int64', [B]);
  const cos = g.input(IO.ropeCos, T, [n, 1, d]);
  const sin = g.input(IO.ropeSin, T, [n, 1, d]);
  const famResidual = F > 0 ? g.input(IO.famResidual, T, [1]) : undefined;
  const memMask = m > 0 ? g.input(IO.memMask, T, [1, mB]) : undefined;

  // Additive mask [F+B, mB+F+B]: the [P;X]x[P;X] part is fixed; the memory part follows mem_mask.
  const NEG = -Infinity;
  const inner = new Float32Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const isFamRow = r < F;
      const allowed = isFamRow || c < F || c - F <= r - F;
      inner[r * n + c] = allowed ? 0 : NEG;
    }
  }
  let mask = g.initializer('mask_inner', T, [n, n], T === 'float16' ? toHalf(inner) : inner);
  if (m > 0) {
    const famRowsNoMem = new Float32Array(F * mB).fill(NEG);
    const blockRowsMem = g.op('Expand', [memMask!, g.ints([B, mB])]); // [B, mB]
    const memPart = F > 0
      ? g.op('Concat', [g.initializer('mask_fam_mem', T, [F, mB], T === 'float16' ? toHalf(famRowsNoMem) : famRowsNoMem), blockRowsMem], { axis: 0 })
      : blockRowsMem; // [F+B, mB]
    mask = g.op('Concat', [memPart, mask], { axis: 1 }); // [F+B, mB+F+B]
  }

  let x = fg.embed(ids); // [B, D]
  for (let l = 0; l < L; l++) {
    const P = F > 0 ? g.input(IO.fam(l), T, [F, D]) : undefined;
    const memK = m > 0 ? g.input(IO.memK(l), T, [mB, G * d]) : undefined;
    const memV = m > 0 ? g.input(IO.memV(l), T, [mB, G * d]) : undefined;

    const h = P ? g.op('Concat', [P, x], { axis: 0 }) : x; // [F+B, D]
    const { q, k, v } = fg.qkv(fg.rmsNorm(h, fg.weight(l, 'inNorm')), l, cos, sin); // q [n,H,d], k/v [n,G,d]
    const keys = memK ? g.op('Concat', [g.op('Reshape', [memK, g.ints([mB, G, d])]), k], { axis: 0 }) : k; // [S,G,d]
    const values = memV ? g.op('Concat', [g.op('Reshape', [memV, g.ints([mB, G, d])]), v], { axis: 0 }) : v;
    const attn = fg.attend(q, keys, values, mask, l); // [n, D]
    // App. B.1: on the first update the FAM rows' attention residual is zero (fam_residual = 0).
    const residual = P ? g.op('Concat', [g.op('Mul', [P, famResidual!]), x], { axis: 0 }) : x;
    const out = fg.ffn(g.op('Add', [residual, attn]), l); // [F+B, D]

    if (P) g.output(fg.rows(out, 0, F), IO.newFam(l), T, [F, D]);
    x = F > 0 ? fg.rows(out, F, n) : out; // [B, D] up to layer l+1
    if (m > 0) {
      const blockK = g.op('Reshape', [fg.rows(k, F, n), g.ints([B, G * d])]); // [B, G*d]
      const blockV = g.op('Reshape', [fg.rows(v, F, n), g.ints([B, G * d])]);
      const ring = (old: string, fresh: string) =>
        m === 1 ? fresh : fg.rows(g.op('Concat', [old, fresh], { axis: 0 }), B, mB + B); // drop the oldest block
      g.output(ring(memK!, blockK), IO.newMemK(l), T, [mB, G * d]);
      g.output(ring(memV!, blockV), IO.newMemV(l), T, [mB, G * d]);
    }
  }
  // The block's last row; the head graph turns it into logits when a caller needs them (rarely: only when
  // generation fills a block). Logits are not an output here: fetched together with the state outputs kept
  // on the GPU, onnxruntime-node's output binding failed with "Output count mismatch".
  g.output(fg.lastRow(x), IO.lastHidden, T, [1, D]);
  return g.toBytes();
}

/** Final norm + LM head on one hidden row: last_hidden [1, D] → logits float32 [1, V]. */
export function buildHeadGraph(w: PreparedWeights): Uint8Array {
  const fg = new FamGraph('fam_head', w);
  const last = fg.g.input(IO.lastHidden, fg.T, [1, w.dims.hidden]);
  fg.g.output(fg.logits(last), IO.logits, 'float32', [1, w.dims.vocab]);
  return fg.g.toBytes();
}

/** K/V of the FAM rows of every layer (RoPE at the current block's FAM positions): the partial cache's start. */
export function buildFamKvGraph(w: PreparedWeights): Uint8Array {
  const { layers: L, famLength: F, hidden: D, kvHeads: G, headDim: d } = w.dims;
  if (F === 0) throw new Error('buildFamKvGraph: fam_length is 0');
  const fg = new FamGraph('fam_kv', w);
  const g = fg.g;
  const cos = g.input(IO.ropeCos, fg.T, [F, 1, d]);
  const sin = g.input(IO.ropeSin, fg.T, [F, 1, d]);
  for (let l = 0; l < L; l++) {
    const P = g.input(IO.fam(l), fg.T, [F, D]);
    const { k, v } = fg.kvOnly(fg.rmsNorm(P, fg.weight(l, 'inNorm')), l, cos, sin);
    g.output(g.op('Reshape', [k, g.ints([F, G * d])]), IO.pastK(l), fg.T, [F, G * d]);
    g.output(g.op('Reshape', [v, g.ints([F, G * d])]), IO.pastV(l), fg.T, [F, G * d]);
  }
  return g.toBytes();
}

/**
 * T new tokens of the current partial block. Keys are [memory (mB) | past (P = F FAM rows + earlier tokens
 * of this block) | the T tokens]; attn_mask [T, mB+P+T] comes from the host (valid memory, all past,
 * causal among the new tokens). Block rows never see a FAM made from their own block, so these rows equal
 * the block step's rows for the same tokens, and their K/V equal what the block step will put in the ring.
 */
export function buildDecodeGraph(w: PreparedWeights): Uint8Array {
  const { layers: L, blockSize: B, memSegments: m, kvHeads: G, headDim: d } = w.dims;
  const mB = m * B;
  const fg = new FamGraph('fam_decode', w);
  const g = fg.g;
  const T = fg.T;
  const ids = g.input(IO.inputIds, 'int64', ['T']);
  const cos = g.input(IO.ropeCos, T, ['T', 1, d]);
  const sin = g.input(IO.ropeSin, T, ['T', 1, d]);
  const mask = g.input(IO.attnMask, T, ['T', 'S']);
  let x = fg.embed(ids); // [T, D]
  for (let l = 0; l < L; l++) {
    const pastK = g.input(IO.pastK(l), T, ['P', G * d]);
    const pastV = g.input(IO.pastV(l), T, ['P', G * d]);
    const { q, k, v } = fg.qkv(fg.rmsNorm(x, fg.weight(l, 'inNorm')), l, cos, sin);
    const newPastK = g.op('Concat', [pastK, g.op('Reshape', [k, g.ints([0, G * d])])], { axis: 0 }); // [P+T, G*d]
    const newPastV = g.op('Concat', [pastV, g.op('Reshape', [v, g.ints([0, G * d])])], { axis: 0 });
    g.output(newPastK, IO.newPastK(l), T, ['PT', G * d]);
    g.output(newPastV, IO.newPastV(l), T, ['PT', G * d]);
    let keys = newPastK;
    let values = newPastV;
    if (m > 0) {
      keys = g.op('Concat', [g.input(IO.memK(l), T, [mB, G * d]), newPastK], { axis: 0 });
      values = g.op('Concat', [g.input(IO.memV(l), T, [mB, G * d]), newPastV], { axis: 0 });
    }
    const k3 = g.op('Reshape', [keys, g.ints([0, G, d])]);
    const v3 = g.op('Reshape', [values, g.ints([0, G, d])]);
    x = fg.ffn(g.op('Add', [x, fg.attend(q, k3, v3, mask, l)]), l);
  }
  g.output(fg.logits(fg.lastRow(x)), IO.logits, 'float32', [1, w.dims.vocab]);
  return g.toBytes();
}
