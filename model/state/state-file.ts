/**
 * The saved FAM state: one versioned binary format, written by one serializer (encodeState) whatever the
 * destination: a size estimate, a buffer, or a file written atomically (llama.cpp's one-serializer habit).
 *
 * Layout (all integers little-endian; the opening and the seal are ./container.ts's, shared with the index):
 *
 *   offset   size  field
 *   0        4     magic: the ASCII bytes 'FAMS' (46 41 4d 53)
 *   4        4     u32 format version, STATE_FILE_VERSION; bumped whenever anything below changes
 *   8        4     u32 H, the byte length of the JSON header
 *   12       H     JSON header (UTF-8):
 *                    { "modelId": hex sha256 of the model files (LoadedModel.modelId),
 *                      "engineVersion": package.json version of the engine that wrote it (informational),
 *                      "dtype": "float32" | "float16",
 *                      "layers", "famLength", "hiddenSize", "memSlots", "kvDim", "blockSize": dimensions,
 *                      "blocks": blocks folded in, "pendingCount": tokens of the partial block,
 *                      "meta": the caller's JSON notes,
 *                      "arrays": { "pending": bytes, "fam": [bytes per layer], "memK": [...], "memV": [...] } }
 *   12+H     pad   zero bytes up to the next multiple of 8
 *   D        ...   arrays in this order: pending (int32), fam[0..L), memK[0..L), memV[0..L) (float32, or IEEE
 *                  half bits for float16), each starting at a multiple of 8 (zero padding between), so every
 *                  one can be viewed in place as a typed array
 *   E        64    seal: HMAC-SHA256 of bytes [0, E) under this user's key, then SHA-256 of bytes [0, E+32)
 *
 * Version 2 added the MAC; a version 1 file is refused like any other version, and the workspace read again.
 *
 * Reading checks, in order: magic, version (both shown in hex on mismatch), header length and shape, the header
 * (its array lengths against its dimensions), the file length it implies, the checksum, the MAC, the model id,
 * then the contents (consistent, finite values, token ids inside the vocabulary). Any failure is a StateFileError
 * whose reason says what went wrong and whose message says what to do: a state is never guessed at, it is
 * rebuilt by re-ingesting.
 */
import { version as ENGINE_VERSION } from '../../package.json';
import {
  PREFIX_BYTES,
  SEAL_BYTES,
  checkSeal,
  checksumHolds,
  encodeHeader,
  readFilePrefix,
  seal,
  writeOpening,
  type SavedFormat,
  type Sealer,
} from './container';
import { NotRegularFileError, readRegularFile, writeFileAtomic } from './file-io';
import { type StateSnapshot, snapshotProblems, valueProblem } from './snapshot';

export const STATE_FILE_MAGIC = 'FAMS';
export const STATE_FILE_VERSION = 2;
const FORMAT: SavedFormat = { magic: STATE_FILE_MAGIC, version: STATE_FILE_VERSION, what: 'state' };
export { ENGINE_VERSION };
/** The workspace index (model/index/workspace-index.ts) is written the same way. */
export { writeFileAtomic };

export type StateFileErrorReason =
  | 'not-found'
  | 'not-regular'
  | 'truncated'
  | 'corrupt'
  | 'bad-magic'
  | 'version'
  | 'untrusted'
  | 'model-mismatch';

export class StateFileError extends Error {
  override readonly name = 'StateFileError';

  constructor(
    readonly reason: StateFileErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Per-array byte lengths, as stored in the header. */
interface ArrayLengths {
  pending: number;
  fam: number[];
  memK: number[];
  memV: number[];
}

interface StateHeader {
  modelId: string;
  engineVersion: string;
  dtype: StateSnapshot['dtype'];
  layers: number;
  famLength: number;
  hiddenSize: number;
  memSlots: number;
  kvDim: number;
  blockSize: number;
  blocks: number;
  pendingCount: number;
  meta: Record<string, unknown>;
  arrays: ArrayLengths;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

/** Byte offsets of the arrays (in file order) and of the checksum, for a header of `headerBytes` bytes. */
function layoutOf(headerBytes: number, arrays: ArrayLengths): { offsets: number[]; lengths: number[]; end: number } {
  const lengths = [arrays.pending, ...arrays.fam, ...arrays.memK, ...arrays.memV];
  const offsets: number[] = [];
  let pos = align8(PREFIX_BYTES + headerBytes);
  for (const len of lengths) {
    pos = align8(pos);
    offsets.push(pos);
    pos += len;
  }
  return { offsets, lengths, end: pos };
}

function headerOf(snap: StateSnapshot): { bytes: Uint8Array; arrays: ArrayLengths } {
  const problems = snapshotProblems(snap);
  if (problems.length > 0) throw new RangeError(`encodeState: inconsistent snapshot:\n  - ${problems.join('\n  - ')}`);
  const arrays: ArrayLengths = {
    pending: snap.pending.byteLength,
    fam: snap.fam.map((a) => a.byteLength),
    memK: snap.memK.map((a) => a.byteLength),
    memV: snap.memV.map((a) => a.byteLength),
  };
  const header: StateHeader = {
    modelId: snap.modelId,
    engineVersion: ENGINE_VERSION,
    dtype: snap.dtype,
    layers: snap.layers,
    famLength: snap.famLength,
    hiddenSize: snap.hiddenSize,
    memSlots: snap.memSlots,
    kvDim: snap.kvDim,
    blockSize: snap.blockSize,
    blocks: snap.blocks,
    pendingCount: snap.pending.length,
    meta: snap.meta,
    arrays,
  };
  let bytes: Uint8Array;
  try {
    bytes = encodeHeader(header, FORMAT);
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new TypeError(`encodeState: meta is not JSON-serialisable: ${(e as Error).message}`);
  }
  return { bytes, arrays };
}

/** Bytes encodeState(snap) would produce, without producing them. */
export function encodedStateSize(snap: StateSnapshot): number {
  const header = headerOf(snap);
  return layoutOf(header.bytes.length, header.arrays).end + SEAL_BYTES;
}

/** The state as the bytes of a state file, sealed with this user's key unless `sealer` says otherwise. */
export function encodeState(snap: StateSnapshot, sealer: Sealer = 'user'): Uint8Array {
  const header = headerOf(snap);
  const all = [snap.pending, ...snap.fam, ...snap.memK, ...snap.memV];
  const { offsets, end } = layoutOf(header.bytes.length, header.arrays);
  const out = new Uint8Array(end + SEAL_BYTES); // zero-filled: the padding is zeros
  writeOpening(out, FORMAT, header.bytes);
  all.forEach((a, i) => out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offsets[i]!));
  seal(out, end, sealer);
  return out;
}

/**
 * A state from the bytes of a state file; the arrays are copies. See readStateFile for the checks; `sealer`
 * 'unkeyed' takes one made elsewhere (a bundle's) whose MAC slot is zeros.
 */
export function decodeState(bytes: Uint8Array, expectedModelId?: string, vocabSize?: number, sealer: Sealer = 'user', source = 'state'): StateSnapshot {
  return decode(bytes, source, expectedModelId, vocabSize, false, sealer);
}

/**
 * Writes the state atomically (writeFileAtomic): if the process dies at any point the previous file is still
 * there, whole.
 */
export async function writeStateFile(file: string, snap: StateSnapshot): Promise<void> {
  await writeFileAtomic(file, encodeState(snap));
}

/**
 * Reads and checks a state file. With `expectedModelId`, a state made with another model is refused; with
 * `vocabSize` (the loaded model's), a state holding a token id the model has no embedding for. Only a regular
 * file is read (a link, a FIFO or a device at the path is refused, 'not-regular'). The arrays may be views of
 * the buffer the file was read into.
 */
export async function readStateFile(file: string, expectedModelId?: string, vocabSize?: number): Promise<StateSnapshot> {
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(file);
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new StateFileError('not-regular', `${e.message}; delete it and re-ingest the workspace`);
    const code = (e as NodeJS.ErrnoException).code;
    throw new StateFileError(
      'not-found',
      code === 'ENOENT'
        ? `${file}: no saved state there; ingest the workspace to create it`
        : `${file}: cannot read the saved state (${(e as Error).message}); fix access to it or re-ingest the workspace`,
    );
  }
  return decode(bytes, file, expectedModelId, vocabSize, true, 'user');
}

function decode(
  bytes: Uint8Array,
  source: string,
  expectedModelId: string | undefined,
  vocabSize: number | undefined,
  share: boolean,
  sealer: Sealer,
): StateSnapshot {
  // A file from elsewhere is not this user's to delete: it is refused, and its maker makes it again.
  const redo = sealer === 'user' ? 'delete it and re-ingest the workspace' : 'it is refused';
  const fail = (reason: StateFileErrorReason, msg: string): StateFileError =>
    new StateFileError(reason, `${source}: ${msg}; ${redo}`);

  const { header: parsed, headerBytes } = readFilePrefix(bytes, FORMAT, fail);
  const header = parsed as StateHeader;
  const headerProblem = checkHeader(header);
  if (headerProblem) throw fail('corrupt', `header: ${headerProblem}`);

  const { offsets, lengths, end } = layoutOf(headerBytes, header.arrays);
  if (bytes.length !== end + SEAL_BYTES) {
    // A short file whose tail is not a valid seal was cut off; anything else disagrees with its own header.
    const reason = bytes.length < end + SEAL_BYTES && !checksumHolds(bytes) ? 'truncated' : 'corrupt';
    throw fail(reason, `${bytes.length} bytes, the header describes ${end + SEAL_BYTES}`);
  }
  checkSeal(bytes, end, fail, sealer);
  if (expectedModelId !== undefined && header.modelId !== expectedModelId) {
    throw fail(
      'model-mismatch',
      `state was made with model ${header.modelId.slice(0, 16)}..., the loaded model is ${expectedModelId.slice(0, 16)}... ` +
        `(engine ${header.engineVersion} wrote it)`,
    );
  }

  // Views of `bytes` when they may be shared and are aligned for their element type; copies otherwise
  // (new Uint8Array(view) copies; Buffer#slice would not).
  const region = (i: number, align: number): Uint8Array => {
    const r = bytes.subarray(offsets[i]!, offsets[i]! + lengths[i]!);
    return share && r.byteOffset % align === 0 ? r : new Uint8Array(r);
  };
  const floats = (i: number): Float32Array | Uint16Array => {
    const r = region(i, header.dtype === 'float32' ? 4 : 2);
    return header.dtype === 'float32'
      ? new Float32Array(r.buffer, r.byteOffset, r.byteLength / 4)
      : new Uint16Array(r.buffer, r.byteOffset, r.byteLength / 2);
  };
  const pending = region(0, 4);
  const L = header.layers;
  const snap: StateSnapshot = {
    modelId: header.modelId,
    dtype: header.dtype,
    layers: L,
    famLength: header.famLength,
    hiddenSize: header.hiddenSize,
    memSlots: header.memSlots,
    kvDim: header.kvDim,
    blockSize: header.blockSize,
    blocks: header.blocks,
    pending: new Int32Array(pending.buffer, pending.byteOffset, pending.byteLength / 4),
    fam: Array.from({ length: L }, (_, l) => floats(1 + l)),
    memK: Array.from({ length: L }, (_, l) => floats(1 + L + l)),
    memV: Array.from({ length: L }, (_, l) => floats(1 + 2 * L + l)),
    meta: header.meta,
  };
  const problems = snapshotProblems(snap);
  if (problems.length > 0) throw fail('corrupt', `inconsistent contents: ${problems.join('; ')}`);
  const value = valueProblem(snap, vocabSize);
  if (value) throw fail('corrupt', `invalid contents: ${value}`);
  return snap;
}

/** The first thing wrong with a parsed header, or undefined. Array lengths must follow from the dimensions. */
function checkHeader(h: StateHeader): string | undefined {
  if (typeof h !== 'object' || h === null) return 'not an object';
  if (typeof h.modelId !== 'string') return 'modelId missing';
  if (typeof h.engineVersion !== 'string') return `engineVersion is ${JSON.stringify(h.engineVersion)}`;
  if (h.dtype !== 'float32' && h.dtype !== 'float16') return `dtype ${JSON.stringify(h.dtype)}`;
  for (const k of ['layers', 'famLength', 'hiddenSize', 'memSlots', 'kvDim', 'blockSize', 'blocks', 'pendingCount'] as const) {
    if (!Number.isSafeInteger(h[k]) || h[k] < 0) return `${k} is ${JSON.stringify(h[k])}`;
  }
  if (typeof h.meta !== 'object' || h.meta === null || Array.isArray(h.meta)) return 'meta is not an object';
  const a = h.arrays;
  const el = h.dtype === 'float32' ? 4 : 2;
  const perLayer = (name: 'fam' | 'memK' | 'memV', bytes: number): string | undefined => {
    const v = a?.[name];
    if (!Array.isArray(v) || v.length !== h.layers || v.some((n) => n !== bytes)) {
      return `arrays.${name} is ${JSON.stringify(v)}, the dimensions give ${h.layers} x ${bytes} bytes`;
    }
    return undefined;
  };
  if (typeof a !== 'object' || a === null) return 'arrays missing';
  if (a.pending !== h.pendingCount * 4) return `arrays.pending is ${JSON.stringify(a.pending)}, pendingCount gives ${h.pendingCount * 4}`;
  return (
    perLayer('fam', h.famLength * h.hiddenSize * el) ??
    perLayer('memK', h.memSlots * h.kvDim * el) ??
    perLayer('memV', h.memSlots * h.kvDim * el)
  );
}
