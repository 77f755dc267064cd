/**
 * Reading and writing .safetensors files and sharded checkpoints (model.safetensors.index.json).
 *
 * File layout (Hugging Face safetensors):
 *   u64 LE   N        byte length of the header
 *   N bytes  header   UTF-8 JSON: { "__metadata__"?: {str: str},
 *                                   "<name>": { "dtype": "F32"|"F16"|"BF16"|..., "shape": [..],
 *                                               "data_offsets": [begin, end] }, ... }
 *   rest     data     tensor bytes, little-endian, row-major; offsets are relative to the start of this part
 *
 * A file is read with one read into one buffer; tensors are views of it (no copy per tensor). Every offset is
 * checked against the data size and against the other tensors before anything is exposed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelFileError } from './errors';
import {
  bfloat16BitsToFloat32,
  float16BitsToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
} from './half';

/**
 * Element types this reader takes: the float types model weights come in, and the integer types of token ids
 * in test fixtures (the weight table check refuses integer weights). Other types are refused by name.
 */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I64';

const ITEM_SIZE: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8 };
const isDType = (v: unknown): v is SafetensorsDType => typeof v === 'string' && Object.hasOwn(ITEM_SIZE, v);
/** The types model weights may have. */
export const FLOAT_DTYPES: readonly SafetensorsDType[] = ['F32', 'F16', 'BF16'];
/** The Rust reference implementation refuses larger headers; so do we (a corrupt length would ask for GBs). */
const MAX_HEADER_BYTES = 100_000_000;
const INDEX_FILE = 'model.safetensors.index.json';

/** One tensor of a checkpoint: raw little-endian bytes (usually a view into the file buffer) plus dtype and shape. */
export class WeightTensor {
  constructor(
    readonly dtype: SafetensorsDType,
    readonly shape: readonly number[],
    readonly bytes: Uint8Array,
  ) {}

  /** Number of elements. */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /**
   * Values as fp32 (integers convert exactly up to 2^24). For F32 data at a 4-byte aligned offset this is a view
   * of the file buffer: do not write to it.
   */
  toFloat32(): Float32Array {
    switch (this.dtype) {
      case 'F32':
        return new Float32Array(...this.aligned(4));
      case 'F16':
        return float16BitsToFloat32(this.u16());
      case 'BF16':
        return bfloat16BitsToFloat32(this.u16());
      case 'I32':
        return Float32Array.from(new Int32Array(...this.aligned(4)));
      case 'I64':
        return Float32Array.from(new BigInt64Array(...this.aligned(8)), Number);
    }
  }

  /** Values as IEEE fp16 bits. For F16 data at an even offset this is a view of the file buffer: do not write to it. */
  toFloat16Bits(): Uint16Array {
    switch (this.dtype) {
      case 'F16':
        return this.u16();
      default:
        // bf16 -> fp32 is exact, so a BF16 value is rounded once.
        return float32ToFloat16Bits(this.toFloat32());
    }
  }

  private u16(): Uint16Array {
    return new Uint16Array(...this.aligned(2));
  }

  /** (buffer, offset, length) of the data for a typed array of `align`-byte elements: in place, or a copy if misaligned. */
  private aligned(align: number): [ArrayBuffer, number, number] {
    // new Uint8Array(view) copies; Buffer#slice would not.
    const b = this.bytes.byteOffset % align === 0 ? this.bytes : new Uint8Array(this.bytes);
    return [b.buffer as ArrayBuffer, b.byteOffset, this.size];
  }
}

/** Tensors read from one file or one sharded checkpoint, and the files' bytes (the model id hashes them). */
export interface SafetensorsSet {
  tensors: Map<string, WeightTensor>;
  /** Every file read, sorted by path, with its bytes. */
  files: { path: string; bytes: Uint8Array }[];
  /** `__metadata__` of the file(s), merged. */
  metadata: Record<string, string>;
}

/**
 * Reads a whole file with one buffer (Buffer.allocUnsafeSlow: its own ArrayBuffer, offset 0) and as many
 * reads as the OS needs; unlike fs.readFileSync this also works past 2 GiB.
 */
export function readWholeFile(file: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const n = fs.readSync(fd, buf, done, Math.min(size - done, 1 << 30), done);
      if (n === 0) throw new ModelFileError(file, `${file}: file shrank while being read (${done} of ${size} bytes)`);
      done += n;
    }
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * What a tensor is, without its data: what the weight table check (weights.ts) and a model folder's inspection
 * (inspect.ts) need. A WeightTensor is one; readSafetensorsHeader's entries are the same without the bytes.
 */
export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Number of elements. */
  readonly size: number;
}

/** One checked header entry: where its bytes are, relative to the data section. */
interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and checks a safetensors header: `head` holds the file's first bytes (at least 8, and the whole header
 * when the length allows it), `fileLength` is the length of the whole file. Every offset is checked against the
 * data size the file length leaves and against the other tensors, so the header alone says whether the file
 * is whole. The one place these checks live: parseSafetensors and readSafetensorsHeader both use it.
 */
function parseHeader(
  head: Uint8Array,
  fileLength: number,
  source: string,
): { dataStart: number; entries: HeaderEntry[]; metadata: Record<string, string> } {
  const bad = (msg: string): ModelFileError => new ModelFileError(source, `${source}: not a valid safetensors file: ${msg}`);
  if (fileLength < 8) throw bad(`${fileLength} bytes, shorter than the 8-byte header length`);
  const headerLen = headerLength(head);
  if (headerLen > MAX_HEADER_BYTES) throw bad(`header length ${headerLen} exceeds ${MAX_HEADER_BYTES} bytes`);
  if (8 + headerLen > fileLength) {
    throw bad(`header length ${headerLen} runs past the end of the file (${fileLength} bytes): truncated?`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw bad(`header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('header is not a JSON object');

  const dataStart = 8 + headerLen;
  const dataLen = fileLength - dataStart;
  const entries: HeaderEntry[] = [];
  const metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw bad(`entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) {
      throw bad(`tensor "${name}" has dtype ${JSON.stringify(dtype)}; Famulus reads ${Object.keys(ITEM_SIZE).join(', ')}`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`tensor "${name}" has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw bad(`tensor "${name}" has data_offsets ${JSON.stringify(offsets)}, not [begin, end] with begin <= end`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataLen) {
      throw bad(`tensor "${name}" data_offsets [${begin}, ${end}] run past the data size ${dataLen}: truncated?`);
    }
    const want = (shape as number[]).reduce((a, b) => a * b, 1) * ITEM_SIZE[dtype];
    if (end - begin !== want) {
      throw bad(
        `tensor "${name}" ${dtype} [${shape.join(', ')}] needs ${want} bytes, data_offsets [${begin}, ${end}] give ` +
          `${end - begin}`,
      );
    }
    entries.push({ name, dtype, shape: [...(shape as number[])], begin, end });
  }
  const spans = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur.begin < prev.end) {
      throw bad(
        `tensors "${prev.name}" [${prev.begin}, ${prev.end}] and "${cur.name}" [${cur.begin}, ${cur.end}] overlap`,
      );
    }
  }
  return { dataStart, entries, metadata };
}

/** The header length a file's first 8 bytes state (u64 little-endian). */
function headerLength(head: Uint8Array): number {
  return Number(new DataView(head.buffer, head.byteOffset, head.byteLength).getBigUint64(0, true));
}

/** Parses safetensors bytes. `source` names the file in errors. Tensors are views of `bytes`. */
export function parseSafetensors(
  bytes: Uint8Array,
  source: string,
): { tensors: Map<string, WeightTensor>; metadata: Record<string, string> } {
  const { dataStart, entries, metadata } = parseHeader(bytes, bytes.length, source);
  const tensors = new Map<string, WeightTensor>();
  for (const e of entries) {
    tensors.set(e.name, new WeightTensor(e.dtype, e.shape, bytes.subarray(dataStart + e.begin, dataStart + e.end)));
  }
  return { tensors, metadata };
}

/**
 * Reads only the header of a .safetensors file (a few KB of a file that may hold GBs) and checks it as
 * parseSafetensors does, against the file's length on disk. `bytes` is that length.
 */
export function readSafetensorsHeader(file: string): { tensors: Map<string, TensorInfo>; bytes: number } {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ModelFileError(file, `${file}: cannot read weights: ${(e as Error).message}`);
  }
  try {
    const size = fs.fstatSync(fd).size;
    const first = Buffer.alloc(Math.min(size, 8));
    fs.readSync(fd, first, 0, first.length, 0);
    let head: Uint8Array = first;
    // Past the length checks (parseHeader makes them, with their messages), read the header itself.
    if (size >= 8) {
      const headerLen = headerLength(first);
      if (headerLen <= MAX_HEADER_BYTES && 8 + headerLen <= size) {
        const whole = Buffer.alloc(8 + headerLen);
        let done = 0;
        while (done < whole.length) {
          const n = fs.readSync(fd, whole, done, whole.length - done, done);
          if (n === 0) throw new ModelFileError(file, `${file}: file shrank while being read (${done} of ${whole.length} bytes)`);
          done += n;
        }
        head = whole;
      }
    }
    const { entries } = parseHeader(head, size, file);
    const tensors = new Map<string, TensorInfo>();
    for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, size: e.shape.reduce((a, b) => a * b, 1) });
    return { tensors, bytes: size };
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads one .safetensors file. */
export function readSafetensors(file: string): SafetensorsSet {
  const bytes = readFileOrFail(file);
  const { tensors, metadata } = parseSafetensors(bytes, file);
  return { tensors, metadata, files: [{ path: file, bytes }] };
}

/**
 * Reads a sharded checkpoint from its index (Hugging Face format: `{ "metadata": {...}, "weight_map":
 * { "<tensor>": "<shard file>" } }`). Every shard is read once; the weight map and the shards must agree exactly.
 */
export function readSafetensorsIndex(indexFile: string): SafetensorsSet {
  const metadata: Record<string, string> = {};
  const files: SafetensorsSet['files'] = [];
  const tensors = readIndexed(indexFile, (shardPath) => {
    const one = readSafetensors(shardPath);
    files.push(...one.files);
    Object.assign(metadata, one.metadata);
    return one.tensors;
  });
  return { tensors, metadata, files };
}

/**
 * The shard index's weight map, checked (shard names are file names in the index's directory), then every shard
 * read once by `readShard` in name order, and the map and the shards compared: every disagreement in one error.
 * What a shard is read into is the caller's: whole tensors (readSafetensorsIndex) or headers (readCheckpointHeaders).
 */
function readIndexed<T>(indexFile: string, readShard: (shardPath: string) => ReadonlyMap<string, T>): Map<string, T> {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw new ModelFileError(indexFile, `${indexFile}: cannot read the shard index: ${(e as Error).message}`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new ModelFileError(indexFile, `${indexFile}: no "weight_map" object (Hugging Face shard index format)`);
  }
  const byShard = new Map<string, string[]>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '..') {
      throw new ModelFileError(
        indexFile,
        `${indexFile}: weight_map["${tensor}"] is ${JSON.stringify(shard)}, not a file name in the same directory`,
      );
    }
    byShard.set(shard, [...(byShard.get(shard) ?? []), tensor]);
  }
  const dir = path.dirname(indexFile);
  const tensors = new Map<string, T>();
  const problems: string[] = [];
  for (const shard of [...byShard.keys()].sort()) {
    const held = readShard(path.join(dir, shard));
    const listed = new Set(byShard.get(shard));
    for (const name of listed) {
      const t = held.get(name);
      if (t) tensors.set(name, t);
      else problems.push(`"${name}" is mapped to ${shard} but that file does not hold it`);
    }
    for (const name of held.keys()) {
      if (!listed.has(name)) problems.push(`${shard} holds "${name}", which weight_map does not list there`);
    }
  }
  if (problems.length > 0) {
    throw new ModelFileError(indexFile, `${indexFile}: shards disagree with the index:\n  - ${problems.join('\n  - ')}`);
  }
  return tensors;
}

/** Where a model directory's weights are: its shard index when there is one, else model.safetensors. */
function checkpointOf(dir: string): { index: string } | { single: string } {
  const index = path.join(dir, INDEX_FILE);
  if (fs.existsSync(index)) return { index };
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return { single };
  throw new ModelFileError(dir, `${dir}: no weights: neither model.safetensors nor ${INDEX_FILE} is there`);
}

/** The checkpoint in a model directory: the shard index when there is one, else model.safetensors. */
export function readCheckpointDir(dir: string): SafetensorsSet {
  const at = checkpointOf(dir);
  return 'index' in at ? readSafetensorsIndex(at.index) : readSafetensors(at.single);
}

/**
 * The checkpoint in a model directory as readCheckpointDir finds and checks it, from the files' headers only:
 * every tensor's dtype and shape, and each weight file with its length on disk, sorted by path. No weight is read.
 */
export function readCheckpointHeaders(dir: string): { tensors: Map<string, TensorInfo>; files: { path: string; bytes: number }[] } {
  const at = checkpointOf(dir);
  const files: { path: string; bytes: number }[] = [];
  const readOne = (file: string): Map<string, TensorInfo> => {
    const one = readSafetensorsHeader(file);
    files.push({ path: file, bytes: one.bytes });
    return one.tensors;
  };
  const tensors = 'index' in at ? readIndexed(at.index, readOne) : readOne(at.single);
  return { tensors, files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}

function readFileOrFail(file: string): Uint8Array {
  try {
    return readWholeFile(file);
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    throw new ModelFileError(file, `${file}: cannot read weights: ${(e as Error).message}`);
  }
}

/**
 * Data for writeSafetensors: fp32 values (written as F32, or converted to F16/BF16), ready-made fp16/bf16 bits
 * (Uint16Array), or integers (Int32Array for I32, BigInt64Array for I64).
 */
export interface TensorToWrite {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: Float32Array | Uint16Array | Int32Array | BigInt64Array;
}

/** The typed array each dtype may be written from. */
const WRITABLE: Record<SafetensorsDType, string[]> = {
  F32: ['Float32Array'],
  F16: ['Float32Array', 'Uint16Array'],
  BF16: ['Float32Array', 'Uint16Array'],
  I32: ['Int32Array'],
  I64: ['BigInt64Array'],
};

/**
 * Writes a .safetensors file, tensors in the given order, header padded with spaces to 8-byte alignment as the
 * reference writer does. Streams tensor by tensor, so benchmark models larger than one buffer can be written.
 */
export function writeSafetensors(
  file: string,
  tensors: Iterable<[string, TensorToWrite]>,
  metadata?: Record<string, string>,
): void {
  const entries = [...tensors];
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) {
      throw new RangeError(`writeSafetensors: "${name}" shape [${t.shape.join(', ')}] needs ${n} values, got ${t.data.length}`);
    }
    if (!WRITABLE[t.dtype].includes(t.data.constructor.name)) {
      throw new TypeError(
        `writeSafetensors: "${name}" is ${t.dtype} but its data are a ${t.data.constructor.name}; pass a ` +
          WRITABLE[t.dtype].join(' or '),
      );
    }
    const nbytes = n * ITEM_SIZE[t.dtype];
    header[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = JSON.stringify(header);
  const jsonBytes = (): number => Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + jsonBytes()) % 8)) % 8);
  const head = Buffer.alloc(8 + jsonBytes());
  head.writeBigUInt64LE(BigInt(jsonBytes()), 0);
  head.write(json, 8, 'utf8');

  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, head);
    for (const [, t] of entries) {
      const data = encodeTensorData(t);
      fs.writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
}

function encodeTensorData(t: TensorToWrite): TensorToWrite['data'] {
  if (t.data instanceof Float32Array && t.dtype === 'F16') return float32ToFloat16Bits(t.data);
  if (t.data instanceof Float32Array && t.dtype === 'BF16') return float32ToBfloat16Bits(t.data);
  return t.data;
}
