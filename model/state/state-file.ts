/**
 * The saved FAM state: one versioned binary format, written by one serializer (encodeState) whatever the
 * destination: a size estimate, a buffer, or a file written atomically (llama.cpp's one-serializer habit).
 *
 * Layout (all integers little-endian):
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
 *   E        32    SHA-256 of bytes [0, E)
 *
 * Reading checks, in order: magic, version (both shown in hex on mismatch), header length, header, the file
 * length the header implies, the checksum, the dimensions, then the model id. Any failure is a StateFileError
 * whose reason says what went wrong and whose message says what to do: a state is never guessed at, it is
 * rebuilt by re-ingesting.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { version as ENGINE_VERSION } from '../../package.json';
import { type StateSnapshot, snapshotProblems } from './snapshot';

export const STATE_FILE_MAGIC = 'FAMS';
export const STATE_FILE_VERSION = 1;
export { ENGINE_VERSION };

const PREFIX_BYTES = 12;
const CHECKSUM_BYTES = 32;

export type StateFileErrorReason = 'not-found' | 'truncated' | 'corrupt' | 'bad-magic' | 'version' | 'model-mismatch';

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
  let json: string;
  try {
    json = JSON.stringify(header);
  } catch (e) {
    throw new TypeError(`encodeState: meta is not JSON-serialisable: ${(e as Error).message}`);
  }
  return { bytes: new TextEncoder().encode(json), arrays };
}

/** Bytes encodeState(snap) would produce, without producing them. */
export function encodedStateSize(snap: StateSnapshot): number {
  const header = headerOf(snap);
  return layoutOf(header.bytes.length, header.arrays).end + CHECKSUM_BYTES;
}

/** The state as the bytes of a state file. */
export function encodeState(snap: StateSnapshot): Uint8Array {
  const header = headerOf(snap);
  const all = [snap.pending, ...snap.fam, ...snap.memK, ...snap.memV];
  const { offsets, end } = layoutOf(header.bytes.length, header.arrays);
  const out = new Uint8Array(end + CHECKSUM_BYTES); // zero-filled: the padding is zeros
  out.set(new TextEncoder().encode(STATE_FILE_MAGIC), 0);
  const dv = new DataView(out.buffer);
  dv.setUint32(4, STATE_FILE_VERSION, true);
  dv.setUint32(8, header.bytes.length, true);
  out.set(header.bytes, PREFIX_BYTES);
  all.forEach((a, i) => out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offsets[i]!));
  out.set(createHash('sha256').update(out.subarray(0, end)).digest(), end);
  return out;
}

/** A state from the bytes of a state file; the arrays are copies. See readStateFile for the checks. */
export function decodeState(bytes: Uint8Array, expectedModelId?: string): StateSnapshot {
  return decode(bytes, 'state', expectedModelId, false);
}

/**
 * Writes the state atomically (writeFileAtomic): if the process dies at any point the previous file is still
 * there, whole.
 */
export async function writeStateFile(file: string, snap: StateSnapshot): Promise<void> {
  await writeFileAtomic(file, encodeState(snap));
}

/**
 * Writes `bytes` atomically: to a temporary file in the same directory, flushed to disk, then renamed over
 * `file`, and the directory flushed. A reader sees the old file or the new one, never a part; the temporary
 * file a killed writer leaves is removed by the next write (removeStaleTempFiles). Every saved file of the
 * memory (the state, the workspace index) is written this way.
 */
export async function writeFileAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  await removeStaleTempFiles(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  // The rename is durable only once the directory entry is on disk. Windows cannot open a directory for this.
  if (process.platform !== 'win32') {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

/**
 * Removes the temporary files that writers of `file` killed before their rename left beside it
 * (`.<name>.<pid>.<hex>.tmp`, see writeFileAtomic): those whose pid is no running process. A temporary of a live
 * process (this one included: it may be writing right now) is kept. Best effort: returns the names removed.
 */
export async function removeStaleTempFiles(file: string): Promise<string[]> {
  const dir = path.dirname(path.resolve(file));
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]+\.tmp$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processExists(pid)) continue;
    try {
      await fsp.rm(path.join(dir, name), { force: true });
      removed.push(name);
    } catch {
      // Another writer may have removed it first; a later save tries again.
    }
  }
  return removed;
}

function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, it belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Reads and checks a state file. With `expectedModelId`, a state made with another model is refused.
 * The arrays may be views of the buffer the file was read into.
 */
export async function readStateFile(file: string, expectedModelId?: string): Promise<StateSnapshot> {
  let bytes: Uint8Array;
  try {
    bytes = await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new StateFileError(
      'not-found',
      code === 'ENOENT'
        ? `${file}: no saved state there; ingest the workspace to create it`
        : `${file}: cannot read the saved state (${(e as Error).message}); fix access to it or re-ingest the workspace`,
    );
  }
  return decode(bytes, file, expectedModelId, true);
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * The opening every saved file of the memory shares (the state here, the index in model/index/format.ts):
 * magic (4 bytes), format version (u32 LE), header length (u32 LE), then the JSON header; a SHA-256 of all that
 * precedes it closes the file. Checks them in that order and returns the parsed header, whose content is the
 * caller's to check.
 */
export function readFilePrefix(
  bytes: Uint8Array,
  format: { magic: string; version: number; what: string },
  fail: (reason: 'bad-magic' | 'truncated' | 'version' | 'corrupt', message: string) => Error,
): { header: unknown; headerBytes: number } {
  const magic = new TextEncoder().encode(format.magic);
  if (bytes.length >= 4 && !magic.every((b, i) => bytes[i] === b)) {
    throw fail('bad-magic', `not a Famulus ${format.what} file: magic is 0x${hex(bytes.subarray(0, 4))}, expected 0x${hex(magic)} ('${format.magic}')`);
  }
  if (bytes.length < PREFIX_BYTES + CHECKSUM_BYTES) throw fail('truncated', `only ${bytes.length} bytes, shorter than any ${format.what} file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4, true);
  if (version !== format.version) {
    throw fail('version', `${format.what} format version ${hex32(version)}, this engine reads version ${hex32(format.version)}`);
  }
  const headerBytes = dv.getUint32(8, true);
  if (PREFIX_BYTES + headerBytes + CHECKSUM_BYTES > bytes.length) {
    throw fail('truncated', `header of ${headerBytes} bytes runs past the end of the ${bytes.length}-byte file`);
  }
  try {
    return { header: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes))), headerBytes };
  } catch (e) {
    throw fail('corrupt', `header is not valid JSON (${(e as Error).message})`);
  }
}

function decode(bytes: Uint8Array, source: string, expectedModelId: string | undefined, share: boolean): StateSnapshot {
  const redo = 'delete it and re-ingest the workspace';
  const fail = (reason: StateFileErrorReason, msg: string): StateFileError =>
    new StateFileError(reason, `${source}: ${msg}; ${redo}`);

  const { header: parsed, headerBytes } = readFilePrefix(bytes, { magic: STATE_FILE_MAGIC, version: STATE_FILE_VERSION, what: 'state' }, fail);
  const header = parsed as StateHeader;
  const headerProblem = checkHeader(header);
  if (headerProblem) throw fail('corrupt', `header: ${headerProblem}`);

  const { offsets, lengths, end } = layoutOf(headerBytes, header.arrays);
  const checksumOk = (): boolean =>
    bytes.length >= CHECKSUM_BYTES &&
    createHash('sha256').update(bytes.subarray(0, bytes.length - CHECKSUM_BYTES)).digest().equals(bytes.subarray(bytes.length - CHECKSUM_BYTES));
  if (bytes.length !== end + CHECKSUM_BYTES) {
    // A short file whose tail is not a valid checksum was cut off; anything else disagrees with its own header.
    if (bytes.length < end + CHECKSUM_BYTES && !checksumOk()) {
      throw fail('truncated', `${bytes.length} bytes, the header describes ${end + CHECKSUM_BYTES}`);
    }
    throw fail('corrupt', `${bytes.length} bytes, the header describes ${end + CHECKSUM_BYTES}`);
  }
  const stored = bytes.subarray(end, end + CHECKSUM_BYTES);
  const actual = createHash('sha256').update(bytes.subarray(0, end)).digest();
  if (!actual.equals(stored)) {
    throw fail('corrupt', `checksum mismatch (stored ${hex(stored).slice(0, 16)}..., computed ${actual.toString('hex').slice(0, 16)}...)`);
  }
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
  return snap;
}

/** The first thing wrong with a parsed header, or undefined. Array lengths must follow from the dimensions. */
function checkHeader(h: StateHeader): string | undefined {
  if (typeof h !== 'object' || h === null) return 'not an object';
  if (typeof h.modelId !== 'string') return 'modelId missing';
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
