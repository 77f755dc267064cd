/**
 * The opening and the seal every saved file of the memory shares (the state in ./state-file.ts, the workspace
 * index in model/index/format.ts):
 *
 *   offset   size  field
 *   0        4     magic: four ASCII bytes naming the format
 *   4        4     u32 LE format version, bumped whenever the format's layout changes
 *   8        4     u32 LE H, the byte length of the JSON header (at most MAX_HEADER_BYTES)
 *   12       H     JSON header (UTF-8), at most HEADER_SHAPE deep and wide
 *   ...            the format's own body
 *   E        32    HMAC-SHA256 of bytes [0, E) keyed with this user's key (./user-key.ts): tells a file this
 *                  user's engine did not write (committed into a workspace by someone else, or from another
 *                  machine), which is never trusted, however well it checks out otherwise; zeros in a
 *                  file made elsewhere on purpose (a memory bundle: Sealer 'unkeyed')
 *   E+32     32    SHA-256 of bytes [0, E+32), the MAC included: tells a damaged file
 *
 * The header is bounded before it is parsed: a hostile header (40 MB of nested brackets took the engine to
 * 2.1 GB) is refused by a scan that costs nothing but one pass over its bytes.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { userKey, userKeyFile } from './user-key';

export const PREFIX_BYTES = 12;
const MAC_BYTES = 32;
const CHECKSUM_BYTES = 32;
export const SEAL_BYTES = MAC_BYTES + CHECKSUM_BYTES;

/** Room for the manifest of about 100,000 files (~130 bytes and 9 JSON values each). */
export const MAX_HEADER_BYTES = 16 * 1024 * 1024;
/**
 * Parsing at most this many values (arrays, objects, elements, members) costs at most ~70 MB however they
 * are arranged (measured on Node 20: a million `{}` or a half-million unique keys); a real header nests 5 deep.
 */
export const HEADER_SHAPE: JsonShape = { maxDepth: 32, maxValues: 1 << 20 };

/** What a saved file is: its magic, its version, and its name in messages. */
export interface SavedFormat {
  magic: string;
  version: number;
  what: string;
}

export type ContainerFailure = 'bad-magic' | 'truncated' | 'version' | 'corrupt' | 'untrusted';
export type Fail = (reason: ContainerFailure, message: string) => Error;

export interface JsonShape {
  maxDepth: number;
  maxValues: number;
}

/**
 * The first way the JSON text in `json` is deeper or wider than `shape`, found without parsing it: one pass
 * that counts brackets, commas and colons outside strings (UTF-8 never puts those bytes inside a multi-byte
 * character). Malformed text is left for JSON.parse to refuse.
 */
export function jsonShapeProblem(json: Uint8Array, shape: JsonShape): string | undefined {
  let depth = 0;
  let values = 1;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (inString) {
      if (c === 0x5c) i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > shape.maxDepth) return `nested deeper than ${shape.maxDepth} levels`;
    } else if (c === 0x5d || c === 0x7d) depth--;
    else if ((c === 0x2c || c === 0x3a) && ++values > shape.maxValues) return `more than ${shape.maxValues} JSON values`;
  }
  return undefined;
}

/** The header as bytes, refused (RangeError) when a reader would refuse it. */
export function encodeHeader(header: object, format: SavedFormat): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(header));
  const problem = bytes.length > MAX_HEADER_BYTES ? `${bytes.length} bytes, more than ${MAX_HEADER_BYTES}` : jsonShapeProblem(bytes, HEADER_SHAPE);
  if (problem) throw new RangeError(`the ${format.what} file's header would be ${problem}: no reader would take it`);
  return bytes;
}

/** Writes magic, version, header length and header at the start of `out`. */
export function writeOpening(out: Uint8Array, format: SavedFormat, header: Uint8Array): void {
  out.set(new TextEncoder().encode(format.magic), 0);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  dv.setUint32(4, format.version, true);
  dv.setUint32(8, header.length, true);
  out.set(header, PREFIX_BYTES);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const hex32 = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/**
 * Checks the opening, in order: magic, length, version (both shown in hex on mismatch), header length, the
 * header's size and shape, then parses it. Returns the parsed header, whose content is the caller's to check.
 */
export function readFilePrefix(bytes: Uint8Array, format: SavedFormat, fail: Fail): { header: unknown; headerBytes: number } {
  const magic = new TextEncoder().encode(format.magic);
  if (bytes.length >= 4 && !magic.every((b, i) => bytes[i] === b)) {
    throw fail('bad-magic', `not a Famulus ${format.what} file: magic is 0x${hex(bytes.subarray(0, 4))}, expected 0x${hex(magic)} ('${format.magic}')`);
  }
  if (bytes.length < PREFIX_BYTES + SEAL_BYTES) throw fail('truncated', `only ${bytes.length} bytes, shorter than any ${format.what} file`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4, true);
  if (version !== format.version) {
    const writer = version < format.version ? 'an older' : 'a newer';
    throw fail('version', `${format.what} format version ${hex32(version)}, this engine reads version ${hex32(format.version)} (${writer} engine wrote it)`);
  }
  const headerBytes = dv.getUint32(8, true);
  if (headerBytes > MAX_HEADER_BYTES) throw fail('corrupt', `header of ${headerBytes} bytes, more than the ${MAX_HEADER_BYTES} a ${format.what} file may have`);
  if (PREFIX_BYTES + headerBytes + SEAL_BYTES > bytes.length) {
    throw fail('truncated', `header of ${headerBytes} bytes runs past the end of the ${bytes.length}-byte file`);
  }
  const text = bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes);
  const shape = jsonShapeProblem(text, HEADER_SHAPE);
  if (shape) throw fail('corrupt', `header: ${shape}`);
  try {
    return { header: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text)), headerBytes };
  } catch (e) {
    throw fail('corrupt', `header is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * Who vouches for a file. 'user': this user's key (the memory's own files). 'unkeyed': nobody, its MAC slot is
 * zeros: a file made on another machine (a memory bundle, model/bundle/), which no key of this user can vouch
 * for; it is trusted only after every check of its contents, and sealed with this user's key when it is saved.
 */
export type Sealer = 'user' | 'unkeyed';

const UNKEYED_MAC = new Uint8Array(MAC_BYTES);

function macOf(bytes: Uint8Array, sealer: Sealer): Uint8Array {
  return sealer === 'user' ? createHmac('sha256', userKey()).update(bytes).digest() : UNKEYED_MAC;
}

/** Writes the seal of bytes [0, end) at `end`: the MAC (see Sealer), then the checksum of everything before it. */
export function seal(out: Uint8Array, end: number, sealer: Sealer = 'user'): void {
  out.set(macOf(out.subarray(0, end), sealer), end);
  out.set(createHash('sha256').update(out.subarray(0, end + MAC_BYTES)).digest(), end + MAC_BYTES);
}

/** Whether the file's last 32 bytes are the checksum of what precedes them (a cut-off file's are not). */
export function checksumHolds(bytes: Uint8Array): boolean {
  const at = bytes.length - CHECKSUM_BYTES;
  return at >= 0 && createHash('sha256').update(bytes.subarray(0, at)).digest().equals(bytes.subarray(at));
}

/**
 * Checks the seal at `end`: the checksum ('corrupt' when damaged), then the MAC ('untrusted': not this user's).
 * An 'unkeyed' file's MAC slot must be zeros, so that one content has one encoding.
 */
export function checkSeal(bytes: Uint8Array, end: number, fail: Fail, sealer: Sealer = 'user'): void {
  const stored = bytes.subarray(end + MAC_BYTES, end + SEAL_BYTES);
  const actual = createHash('sha256').update(bytes.subarray(0, end + MAC_BYTES)).digest();
  if (!actual.equals(stored)) {
    throw fail('corrupt', `checksum mismatch (stored ${hex(stored).slice(0, 16)}..., computed ${actual.toString('hex').slice(0, 16)}...)`);
  }
  if (sealer === 'unkeyed') {
    if (bytes.subarray(end, end + MAC_BYTES).some((b) => b !== 0)) throw fail('corrupt', 'the MAC slot of an unkeyed file is not zeros');
    return;
  }
  const mac = macOf(bytes.subarray(0, end), sealer);
  if (!timingSafeEqual(mac, bytes.subarray(end, end + MAC_BYTES))) {
    throw fail(
      'untrusted',
      `not this user's own: its MAC does not match the key in ${userKeyFile()}, so another user or machine saved it ` +
        '(e.g. it was committed into the workspace)',
    );
  }
}
