/**
 * The FAM working memory as host data (docs/fam.md "Shapes and names"): per layer the FAM rows and the K/V ring of
 * the last m blocks, plus where the stream stands. The runtime makes one from device tensors and back; this
 * module and ./state-file.ts copy it and store it. Types and plain functions only: no onnxruntime here.
 */

export type StateDType = 'float32' | 'float16';

export interface StateSnapshot {
  /** LoadedModel.modelId the state was made with; a state is meaningless for any other model. */
  modelId: string;
  /** Element type of fam/memK/memV: Float32Array for 'float32', Uint16Array of IEEE half bits for 'float16'. */
  dtype: StateDType;
  layers: number;
  famLength: number;
  hiddenSize: number;
  /** m*B: token slots of each layer's memory ring (0 when memory_segments is 0). */
  memSlots: number;
  /** G*d: width of one token's K (and V) row. */
  kvDim: number;
  blockSize: number;
  /** Blocks folded in; the next block starts at position blocks*blockSize. */
  blocks: number;
  /** Token ids of the current partial block (length < blockSize). */
  pending: Int32Array;
  /** layers x [famLength*hiddenSize]: the FAM each layer takes as input for the next block. */
  fam: (Float32Array | Uint16Array)[];
  /**
   * layers x [memSlots*kvDim], token-major, oldest block first (after RoPE). While blocks < m only the newest
   * blocks*B slots hold data (fam.py block_mask): the runtime owns that meaning, this module just keeps the bytes.
   */
  memK: (Float32Array | Uint16Array)[];
  memV: (Float32Array | Uint16Array)[];
  /** JSON-serialisable notes from the caller (e.g. the ingested file list). */
  meta: Record<string, unknown>;
}

/** Tokens the state has read: whole blocks plus the pending partial block (derived, never stored twice). */
export function tokenCount(snap: StateSnapshot): number {
  return snap.blocks * snap.blockSize + snap.pending.length;
}

/**
 * Checks that the snapshot's arrays agree with its dimensions and dtype. Returns the problems found (empty when
 * the snapshot is consistent), each naming the field and the values seen.
 */
export function snapshotProblems(snap: StateSnapshot): string[] {
  const problems: string[] = [];
  const dims = ['layers', 'famLength', 'hiddenSize', 'memSlots', 'kvDim', 'blockSize', 'blocks'] as const;
  for (const k of dims) {
    const v = snap[k];
    const min = k === 'layers' || k === 'hiddenSize' || k === 'kvDim' || k === 'blockSize' ? 1 : 0;
    if (!Number.isSafeInteger(v) || v < min) problems.push(`${k} must be an integer >= ${min}, got ${String(v)}`);
  }
  if (typeof snap.modelId !== 'string' || snap.modelId.length === 0) problems.push('modelId is empty');
  if (snap.dtype !== 'float32' && snap.dtype !== 'float16') problems.push(`dtype must be float32 or float16, got ${String(snap.dtype)}`);
  if (problems.length > 0) return problems;
  if (!Number.isSafeInteger(snap.blocks * snap.blockSize)) problems.push(`blocks ${snap.blocks} x blockSize ${snap.blockSize} is past any position`);
  if (snap.memSlots % snap.blockSize !== 0) {
    problems.push(`memSlots ${snap.memSlots} is not a multiple of blockSize ${snap.blockSize} (it is m*B)`);
  }
  if (!(snap.pending instanceof Int32Array)) problems.push('pending must be an Int32Array');
  else if (snap.pending.length >= snap.blockSize) {
    problems.push(`pending holds ${snap.pending.length} tokens, a partial block holds fewer than blockSize ${snap.blockSize}`);
  }
  const ArrayType = snap.dtype === 'float32' ? Float32Array : Uint16Array;
  const check = (name: 'fam' | 'memK' | 'memV', perLayer: number): void => {
    const arrays = snap[name];
    if (!Array.isArray(arrays) || arrays.length !== snap.layers) {
      problems.push(`${name} must hold one array per layer (${snap.layers}), got ${Array.isArray(arrays) ? arrays.length : typeof arrays}`);
      return;
    }
    arrays.forEach((a, l) => {
      if (!(a instanceof ArrayType)) problems.push(`${name}[${l}] must be a ${ArrayType.name} for dtype ${snap.dtype}`);
      else if (a.length !== perLayer) problems.push(`${name}[${l}] has ${a.length} values, dims give ${perLayer}`);
    });
  };
  check('fam', snap.famLength * snap.hiddenSize);
  check('memK', snap.memSlots * snap.kvDim);
  check('memV', snap.memSlots * snap.kvDim);
  if (typeof snap.meta !== 'object' || snap.meta === null || Array.isArray(snap.meta)) problems.push('meta must be an object');
  return problems;
}

/**
 * The first value no runtime may be given, or undefined: a FAM or memory-ring value that is not finite (one NaN
 * spreads through every later block and answer), or a pending token id outside [0, vocabSize) (the embedding
 * lookup would fail on every later block). Expects a consistent snapshot (snapshotProblems).
 */
export function valueProblem(snap: StateSnapshot, vocabSize?: number): string | undefined {
  if (vocabSize !== undefined) {
    const i = snap.pending.findIndex((id) => id < 0 || id >= vocabSize);
    if (i >= 0) return `pending[${i}] is token id ${snap.pending[i]}, outside the vocabulary (0..${vocabSize - 1})`;
  }
  // IEEE half: exponent bits all set is Inf or NaN.
  const finite = snap.dtype === 'float32' ? (v: number) => Number.isFinite(v) : (v: number) => (v & 0x7c00) !== 0x7c00;
  for (const name of ['fam', 'memK', 'memV'] as const) {
    for (let l = 0; l < snap[name].length; l++) {
      const a = snap[name][l]!;
      const i = a.findIndex((v) => !finite(v));
      if (i >= 0) return `${name}[${l}][${i}] is ${snap.dtype === 'float32' ? a[i] : `half 0x${a[i]!.toString(16)}`}, not a finite number`;
    }
  }
  return undefined;
}

/** A deep copy: the copy shares no memory with the original, so either can change without the other seeing it. */
export function copySnapshot(snap: StateSnapshot): StateSnapshot {
  return {
    ...snap,
    pending: snap.pending.slice(),
    fam: snap.fam.map((a) => a.slice()),
    memK: snap.memK.map((a) => a.slice()),
    memV: snap.memV.map((a) => a.slice()),
    meta: structuredClone(snap.meta),
  };
}
