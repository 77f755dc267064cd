/**
 * The index file: one versioned, sealed binary format, with the opening and the seal of the FAM state file
 * (model/state/container.ts: header bounded before it is parsed, checksum, this user's MAC), written the same
 * atomic way.
 *
 * Layout (integers little-endian):
 *
 *   offset   size  field
 *   0        4     magic: the ASCII bytes 'FAMI' (46 41 4d 49)
 *   4        4     u32 format version, FORMAT_VERSION; bumped whenever anything below changes, or what the
 *                    definitions in the body are (a rule of model/index/languages.ts finds more or other ones)
 *   8        4     u32 H, the byte length of the JSON header
 *   12       H     JSON header (UTF-8): { "modelId", "walkerKey", "root": what the index is tied to,
 *                    "engineVersion": package.json version of the engine that wrote it (informational),
 *                    "files", "definitions", "chunks": counts, "bodyBytes": B }
 *   12+H     B     body: IndexBody as JSON, deflate-compressed
 *   E        64    seal: HMAC-SHA256 of bytes [0, E) under this user's key, then SHA-256 of bytes [0, E+32)
 *
 * Version 2 added the MAC; a version 1 index is refused and rebuilt. Version 3 has the same layout: its JavaScript
 * definitions include those made by expressions (`module.exports = function pack`, `proxy.m = function` and
 * `this.x.m = function` inside functions, methods of objects handed to calls, each link of an assignment chain),
 * so a version 2 index, which lacks them for the files it holds, is rebuilt from the files too. Version 4 adds
 * entries of named objects that hold methods (and qualifies those methods by them), exports under another name
 * (`exports.X = Y`), and prototype properties holding values, so a version 3 index is rebuilt the same way.
 * Version 5 attaches a `/** … *\/` doc block that ends one blank line above a definition (http-errors' JSDoc) as its
 * doc comment, the definition's chunk starting at it, and never takes a comment to a tool (`istanbul ignore next`,
 * `eslint-disable-next-line`, `noqa`) as a doc comment, looking above it instead, so a version 4 index is rebuilt
 * the same way.
 *
 * Neither the files' text nor the BM25 index is stored: the search is rebuilt from the files on disk when the
 * index is read (WorkspaceIndex.deserialize). Measured on 4.1 MB of JavaScript, TypeScript and Python (express,
 * commander, yargs, axios, rxjs, lodash, node-gyp): the search index alone, deflated, would be 1.1 MB (27% of the
 * source); this file without it is 0.35 MB (8.5%, two thirds of that doc comments), and rebuilding the search
 * when it is read takes about 1.5 s on two cores.
 *
 * Reading checks, in order: magic, version, header, the file length the header implies, the checksum, the MAC,
 * the model / walker settings / root the index is tied to, then the body (its inflated size and JSON shape
 * bounded by the header's counts before it is parsed, then those counts and every entry). Any failure is an
 * IndexFileError: an index is never guessed at, it is rebuilt by reading the workspace again.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  PREFIX_BYTES,
  SEAL_BYTES,
  checkSeal,
  checksumHolds,
  encodeHeader,
  jsonShapeProblem,
  readFilePrefix,
  seal,
  writeOpening,
  type SavedFormat,
  type Sealer,
} from '../state/container';
import { NotRegularFileError, readRegularFile } from '../state/file-io';
import { ENGINE_VERSION } from '../state/state-file';

export const FORMAT_VERSION = 5;
const FORMAT: SavedFormat = { magic: 'FAMI', version: FORMAT_VERSION, what: 'index' };
/** Deflate shrinks this JSON 3-6 times (indexes of model/, typescript/lib, marked); one that inflates 64-fold is a bomb. */
const MAX_INFLATION = 64;

/** What an index is tied to: an index made for another model, walker settings or root is not used. */
export interface IndexMeta {
  modelId: string;
  walkerKey: string;
  root: string;
}

export type IndexFileErrorReason = 'not-found' | 'not-regular' | 'version' | 'mismatch' | 'bad-magic' | 'truncated' | 'corrupt' | 'untrusted' | 'too-large';

export class IndexFileError extends Error {
  override readonly name = 'IndexFileError';

  constructor(
    readonly reason: IndexFileErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** A definition as stored: [name, qualifiedName, kind, startLine, endLine, doc]. */
export type StoredDefinition = [string, string, string, number, number, string];
/** A chunk as stored: [startLine, endLine, kind, index of its definition in the file's list or -1]. */
export type StoredChunk = [number, number, 'definition' | 'code' | 'head', number];

export interface StoredFile {
  path: string;
  sha256: string;
  lines: number;
  language: string | null;
  parseError?: string;
  definitions: StoredDefinition[];
  chunks: StoredChunk[];
}

/** Files in path order: the same content gives the same bytes. */
export interface IndexBody {
  files: StoredFile[];
}

interface IndexHeader extends IndexMeta {
  engineVersion: string;
  files: number;
  definitions: number;
  chunks: number;
  bodyBytes: number;
}

/** How an index file is decoded: who sealed it (see Sealer), and the most its body may inflate to. */
export interface IndexDecodeOptions {
  sealer?: Sealer;
  /** Bytes of inflated JSON at most, whatever the compressed size (a bundle from elsewhere is capped). */
  maxInflatedBytes?: number;
}

export function encodeIndexFile(meta: IndexMeta, body: IndexBody, sealer: Sealer = 'user'): Uint8Array {
  const compressed = deflateRawSync(JSON.stringify(body));
  const header: IndexHeader = {
    modelId: meta.modelId,
    walkerKey: meta.walkerKey,
    root: meta.root,
    engineVersion: ENGINE_VERSION,
    files: body.files.length,
    definitions: body.files.reduce((n, f) => n + f.definitions.length, 0),
    chunks: body.files.reduce((n, f) => n + f.chunks.length, 0),
    bodyBytes: compressed.length,
  };
  const headerBytes = encodeHeader(header, FORMAT);
  const end = PREFIX_BYTES + headerBytes.length + compressed.length;
  const out = new Uint8Array(end + SEAL_BYTES);
  writeOpening(out, FORMAT, headerBytes);
  out.set(compressed, PREFIX_BYTES + headerBytes.length);
  seal(out, end, sealer);
  return out;
}

/** The body of an index file, after every check in the order the file comment gives. */
export function decodeIndexFile(bytes: Uint8Array, expect: IndexMeta, source = 'index', opts: IndexDecodeOptions = {}): IndexBody {
  const sealer = opts.sealer ?? 'user';
  // A file from elsewhere is not this user's to delete: it is refused, and its maker makes it again.
  const redo = sealer === 'user' ? 'delete it and read the workspace again to rebuild it' : 'it is refused';
  const fail = (reason: IndexFileErrorReason, msg: string): IndexFileError => new IndexFileError(reason, `${source}: ${msg}; ${redo}`);

  const { header: parsed, headerBytes } = readFilePrefix(bytes, FORMAT, fail);
  const header = parsed as IndexHeader;
  const problem = headerProblem(header);
  if (problem) throw fail('corrupt', `header: ${problem}`);

  const end = PREFIX_BYTES + headerBytes + header.bodyBytes;
  if (bytes.length !== end + SEAL_BYTES) {
    // A short file whose tail is not a valid seal was cut off; anything else disagrees with its own header.
    const reason = bytes.length < end + SEAL_BYTES && !checksumHolds(bytes) ? 'truncated' : 'corrupt';
    throw fail(reason, `${bytes.length} bytes, the header describes ${end + SEAL_BYTES}`);
  }
  checkSeal(bytes, end, fail, sealer);
  for (const key of ['modelId', 'walkerKey', 'root'] as const) {
    if (header[key] !== expect[key]) {
      const made = `${key} ${JSON.stringify(header[key])}, not ${JSON.stringify(expect[key])}`;
      throw fail('mismatch', `the index was made for ${made} (engine ${header.engineVersion} wrote it)`);
    }
  }
  let json: Buffer;
  try {
    const maxOutputLength = Math.min(MAX_INFLATION * header.bodyBytes + 1024, opts.maxInflatedBytes ?? Infinity);
    json = inflateRawSync(bytes.subarray(PREFIX_BYTES + headerBytes, end), { maxOutputLength });
  } catch (e) {
    // Past the inflation cap: a bomb, or a body larger than a file from elsewhere may have.
    const tooLarge = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw fail(tooLarge ? 'too-large' : 'corrupt', `body cannot be inflated (${(e as Error).message})`);
  }
  // Each file, definition and chunk is a few JSON values: a body with more than its counts allow is refused unparsed.
  const shape = jsonShapeProblem(json, { maxDepth: 8, maxValues: 16 + 20 * header.files + 8 * header.definitions + 6 * header.chunks });
  if (shape) throw fail('corrupt', `body: ${shape}, beyond what its header's counts allow`);
  let body: IndexBody;
  try {
    body = JSON.parse(json.toString('utf8'));
  } catch (e) {
    throw fail('corrupt', `body cannot be read (${(e as Error).message})`);
  }
  const bodyError = bodyProblem(body) ?? countsProblem(body, header);
  if (bodyError) throw fail('corrupt', `body: ${bodyError}`);
  return body;
}

/** The body must hold what its header counts. */
function countsProblem(body: IndexBody, h: IndexHeader): string | undefined {
  const definitions = body.files.reduce((n, f) => n + f.definitions.length, 0);
  const chunks = body.files.reduce((n, f) => n + f.chunks.length, 0);
  if (body.files.length !== h.files || definitions !== h.definitions || chunks !== h.chunks) {
    return `${body.files.length} files, ${definitions} definitions, ${chunks} chunks; the header counts ${h.files}, ${h.definitions}, ${h.chunks}`;
  }
  return undefined;
}

function headerProblem(h: IndexHeader): string | undefined {
  if (typeof h !== 'object' || h === null) return 'not an object';
  for (const k of ['modelId', 'walkerKey', 'root', 'engineVersion'] as const) if (typeof h[k] !== 'string') return `${k} is ${JSON.stringify(h[k])}`;
  for (const k of ['files', 'definitions', 'chunks', 'bodyBytes'] as const) {
    if (!Number.isSafeInteger(h[k]) || h[k] < 0) return `${k} is ${JSON.stringify(h[k])}`;
  }
  return undefined;
}

/** Paths are read again from disk below the root: none may lead out of it. */
const isInsideRoot = (p: string): boolean =>
  p !== '' && !p.startsWith('/') && !/^[a-zA-Z]:|\\/.test(p) && !p.split('/').includes('..');
const isLine = (n: unknown, lines: number): boolean => Number.isSafeInteger(n) && (n as number) >= 1 && (n as number) <= lines;
const CHUNK_KINDS = new Set(['definition', 'code', 'head']);

/** The first thing wrong with a body that passed the checksum (a bug of a writer, or a hand-made file). */
function bodyProblem(body: IndexBody): string | undefined {
  if (typeof body !== 'object' || body === null || !Array.isArray(body.files)) return 'files missing';
  let previous = '';
  for (const f of body.files) {
    if (typeof f !== 'object' || f === null || typeof f.path !== 'string') return 'a file without a path';
    if (!isInsideRoot(f.path)) return `path ${JSON.stringify(f.path)}`;
    if (f.path <= previous) return `${f.path}: files out of order or repeated`;
    previous = f.path;
    if (typeof f.sha256 !== 'string' || !Number.isSafeInteger(f.lines) || f.lines < 0) return `${f.path}: sha256 or lines`;
    if (f.language !== null && typeof f.language !== 'string') return `${f.path}: language`;
    if (f.parseError !== undefined && typeof f.parseError !== 'string') return `${f.path}: parseError`;
    if (!Array.isArray(f.definitions) || !Array.isArray(f.chunks)) return `${f.path}: definitions or chunks missing`;
    for (const d of f.definitions) {
      const ok =
        Array.isArray(d) && d.length === 6 && [0, 1, 2, 5].every((i) => typeof d[i] === 'string') &&
        isLine(d[3], f.lines) && isLine(d[4], f.lines) && d[3] <= d[4];
      if (!ok) return `${f.path}: definition ${JSON.stringify(d)}`;
    }
    for (const c of f.chunks) {
      const ok =
        Array.isArray(c) && c.length === 4 && isLine(c[0], f.lines) && isLine(c[1], f.lines) && c[0] <= c[1] && CHUNK_KINDS.has(c[2]) &&
        Number.isSafeInteger(c[3]) && c[3] >= -1 && c[3] < f.definitions.length && (c[3] >= 0) === (c[2] === 'definition');
      if (!ok) return `${f.path}: chunk ${JSON.stringify(c)}`;
    }
  }
  return undefined;
}

/**
 * The bytes of an index file; a missing or unreadable file is an IndexFileError 'not-found', anything but a
 * regular file at the path (a link, a FIFO, a device) 'not-regular'.
 */
export async function readIndexBytes(file: string): Promise<Uint8Array> {
  try {
    return await readRegularFile(file);
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new IndexFileError('not-regular', `${e.message}; delete it and read the workspace again to rebuild it`);
    const code = (e as NodeJS.ErrnoException).code;
    throw new IndexFileError(
      'not-found',
      code === 'ENOENT'
        ? `${file}: no saved index there; read the workspace to create it`
        : `${file}: cannot read the saved index (${(e as Error).message}); fix access to it or read the workspace again`,
    );
  }
}
