/**
 * The memory bundle: the memory of one workspace as one file, made on one machine (a CI runner) and used on
 * others (docs/team-memory.md). It is data only, in the container every saved file of the memory shares
 * (model/state/container.ts), sealed 'unkeyed': no user's key can vouch for a file from another machine, so it
 * carries SHA-256 checksums, and is trusted only once every check below (and in ./verify.ts) has passed.
 *
 *   offset   size  field
 *   0        4     magic: 'FAMB'
 *   4        4     u32 LE BUNDLE_VERSION
 *   8        4     u32 LE H, the byte length of the manifest
 *   12       H     manifest (JSON, BundleManifest): formats, model, tokenizer and walker-settings hashes, the
 *                    git commit, every file read (path, content hash, bytes, its token span) in stream order,
 *                    and the size and SHA-256 of each section
 *   12+H     S     the FAM state: a state file (model/state/state-file.ts), sealed 'unkeyed', meta {}
 *   12+H+S   I     the workspace index: an index file (model/index/format.ts), sealed 'unkeyed', root '.'
 *   E        64    seal: 32 zero bytes (no MAC), then SHA-256 of bytes [0, E+32)
 *
 * Same inputs, same bytes: the manifest's fields are written in one order, nothing in it is a time or a local
 * path, and both sections are deterministic encodings. The format versions of the sections are those of their
 * own modules, named here once (STATE_FILE_VERSION, index FORMAT_VERSION).
 */
import { createHash } from 'node:crypto';
import { walkerOptions as walkerOptionsCheck, type WalkerOptions } from '../engine/protocol';
import { FORMAT_VERSION as INDEX_FORMAT_VERSION } from '../index/format';
import { ValidationError, fail as invalid, v, type Check } from '../protocol/check';
import { PREFIX_BYTES, SEAL_BYTES, checkSeal, checksumHolds, encodeHeader, readFilePrefix, seal, writeOpening, type ContainerFailure, type SavedFormat } from '../state/container';
import { ENGINE_VERSION, STATE_FILE_VERSION } from '../state/state-file';

export const BUNDLE_MAGIC = 'FAMB';
export const BUNDLE_VERSION = 1;
const FORMAT: SavedFormat = { magic: BUNDLE_MAGIC, version: BUNDLE_VERSION, what: 'memory bundle' };

const MiB = 1024 * 1024;

/**
 * The most a bundle may hold; anything larger is refused before it is parsed (or downloaded). The default
 * model's state is 3.5-7 MB whatever the workspace; an index is about 8.5% of the source it indexes, so
 * 192 MiB indexes about 2 GB of code; the manifest is bounded by the container's header limits (16 MiB,
 * about 100,000 files).
 */
export interface BundleLimits {
  bundleBytes: number;
  stateBytes: number;
  indexBytes: number;
  /** The index body's JSON once inflated: a small section must not inflate into gigabytes. */
  indexInflatedBytes: number;
  files: number;
}

export const BUNDLE_LIMITS: BundleLimits = {
  bundleBytes: 256 * MiB,
  stateBytes: 64 * MiB,
  indexBytes: 192 * MiB,
  indexInflatedBytes: 256 * MiB,
  files: 200_000,
};

/** One file read into the memory, in stream order: its tokens are [start, start + tokens) of the stream. */
export interface BundleFile {
  path: string;
  sha256: string;
  bytes: number;
  tokens: number;
  start: number;
}

export interface BundleSection {
  bytes: number;
  sha256: string;
}

export interface BundleManifest {
  stateFormat: number;
  indexFormat: number;
  /** package.json version of the engine that wrote it (informational). */
  engineVersion: string;
  modelId: string;
  /** SHA-256 of the model's tokenizer files (./identity.ts). */
  tokenizerSha256: string;
  /** The walker settings the workspace was read with, and their hash (the index's walkerKey). */
  walker: { sha256: string; settings: WalkerOptions };
  /** The git commit the workspace was at, when known. */
  commit: string | null;
  /** Tokens of the stream: the sum of the files' tokens, and what the state has read. */
  tokens: number;
  /** Every reading in stream order (a file read twice, once changed, appears twice). */
  files: BundleFile[];
  sections: { state: BundleSection; index: BundleSection };
}

export type BundleFailure =
  | ContainerFailure
  | 'too-large'
  | 'model-mismatch'
  | 'tokenizer-mismatch'
  | 'unsafe-path'
  | 'inconsistent'
  | 'unavailable';

/** A bundle refused (or not obtained): `reason` says which check, the message what to do. */
export class BundleError extends Error {
  override readonly name = 'BundleError';

  constructor(
    readonly reason: BundleFailure,
    message: string,
  ) {
    super(message);
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const HEX64 = /^[0-9a-f]{64}$/;
const hash: Check<string> = (value, at) => (typeof value === 'string' && HEX64.test(value) ? value : invalid(at, 'a SHA-256 in lower-case hex', value));
const count = v.number({ integer: true, min: 0, max: Number.MAX_SAFE_INTEGER });
const section: Check<BundleSection> = v.objectOf<BundleSection>({ bytes: count, sha256: hash });

const manifestCheck: Check<BundleManifest> = v.objectOf<BundleManifest>({
  stateFormat: count,
  indexFormat: count,
  engineVersion: v.string({ max: 64 }),
  modelId: v.string({ nonEmpty: true, max: 128 }),
  tokenizerSha256: hash,
  walker: v.objectOf<BundleManifest['walker']>({ sha256: hash, settings: walkerOptionsCheck }),
  commit: v.nullable(v.string({ nonEmpty: true, max: 64 })),
  tokens: count,
  files: v.array(
    v.objectOf<BundleFile>({ path: v.string({ nonEmpty: true, max: 4096 }), sha256: hash, bytes: count, tokens: count, start: count }),
  ),
  sections: v.objectOf<BundleManifest['sections']>({ state: section, index: section }),
});

/**
 * Why a manifest path could lead out of the workspace it is read into, or undefined when it cannot: a path is
 * relative, with forward slashes, and names no '.', '..' or empty segment, no drive, no control character.
 */
export function unsafePathReason(p: string): string | undefined {
  if (p.startsWith('/')) return 'it is absolute';
  if (/^[a-zA-Z]:/.test(p)) return 'it names a drive';
  if (p.includes('\\')) return 'it has a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'it has a control character';
  const parts = p.split('/');
  if (parts.includes('..')) return 'it leads out of the workspace (..)';
  if (parts.some((s) => s === '' || s === '.')) return 'it has an empty or "." segment';
  return undefined;
}

/** What encodeBundle takes: the manifest without its sections (computed), and the two sections. */
export interface BundleParts {
  manifest: Omit<BundleManifest, 'sections' | 'stateFormat' | 'indexFormat' | 'engineVersion'>;
  state: Uint8Array;
  index: Uint8Array;
}

/** The bytes of a bundle (deterministic: fields in one order, walker settings by sorted key). */
export function encodeBundle(parts: BundleParts): Uint8Array {
  const m = parts.manifest;
  const settings = Object.fromEntries(Object.entries(m.walker.settings).sort(([a], [b]) => (a < b ? -1 : 1))) as WalkerOptions;
  const manifest: BundleManifest = {
    stateFormat: STATE_FILE_VERSION,
    indexFormat: INDEX_FORMAT_VERSION,
    engineVersion: ENGINE_VERSION,
    modelId: m.modelId,
    tokenizerSha256: m.tokenizerSha256,
    walker: { sha256: m.walker.sha256, settings },
    commit: m.commit,
    tokens: m.tokens,
    files: m.files.map((f) => ({ path: f.path, sha256: f.sha256, bytes: f.bytes, tokens: f.tokens, start: f.start })),
    sections: {
      state: { bytes: parts.state.length, sha256: sha256(parts.state) },
      index: { bytes: parts.index.length, sha256: sha256(parts.index) },
    },
  };
  const header = encodeHeader(manifest, FORMAT);
  const end = PREFIX_BYTES + header.length + parts.state.length + parts.index.length;
  const out = new Uint8Array(end + SEAL_BYTES);
  writeOpening(out, FORMAT, header);
  out.set(parts.state, PREFIX_BYTES + header.length);
  out.set(parts.index, PREFIX_BYTES + header.length + parts.state.length);
  seal(out, end, 'unkeyed');
  return out;
}

/** A bundle whose layout, checksums and manifest are sound; its sections are still to be decoded (./verify.ts). */
export interface BundleLayout {
  manifest: BundleManifest;
  state: Uint8Array;
  index: Uint8Array;
  /** SHA-256 of the whole bundle: what names it in the memory's provenance. */
  sha256: string;
}

const MB = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;

/**
 * Reads a bundle's layout: size caps first (nothing larger is parsed), then the opening (magic, version,
 * manifest bounds), the manifest's shape, the lengths it implies, the checksum, each section's checksum, the
 * section formats, every path, and the token spans. Throws BundleError; changes nothing anywhere.
 */
export function readBundleLayout(bytes: Uint8Array, source: string, limits: BundleLimits = BUNDLE_LIMITS): BundleLayout {
  const fail = (reason: BundleFailure, msg: string): BundleError => new BundleError(reason, `bundle ${source}: ${msg}; it is not used`);
  if (bytes.length > limits.bundleBytes) throw fail('too-large', `${MB(bytes.length)}, more than the ${MB(limits.bundleBytes)} a bundle may have`);
  const { header, headerBytes } = readFilePrefix(bytes, FORMAT, fail);
  let manifest: BundleManifest;
  try {
    manifest = manifestCheck(header, 'manifest');
  } catch (e) {
    if (e instanceof ValidationError) throw fail('corrupt', e.message);
    throw e;
  }
  const { state, index } = manifest.sections;
  if (state.bytes > limits.stateBytes) throw fail('too-large', `its state section has ${MB(state.bytes)}, more than the ${MB(limits.stateBytes)} allowed`);
  if (index.bytes > limits.indexBytes) throw fail('too-large', `its index section has ${MB(index.bytes)}, more than the ${MB(limits.indexBytes)} allowed`);
  if (manifest.files.length > limits.files) throw fail('too-large', `${manifest.files.length} files, more than the ${limits.files} allowed`);
  const stateAt = PREFIX_BYTES + headerBytes;
  const end = stateAt + state.bytes + index.bytes;
  if (bytes.length !== end + SEAL_BYTES) {
    // A short file whose tail is not a valid seal was cut off; anything else disagrees with its own manifest.
    const reason = bytes.length < end + SEAL_BYTES && !checksumHolds(bytes) ? 'truncated' : 'corrupt';
    throw fail(reason, `${bytes.length} bytes, the manifest describes ${end + SEAL_BYTES}`);
  }
  checkSeal(bytes, end, fail, 'unkeyed');
  const parts = { state: bytes.subarray(stateAt, stateAt + state.bytes), index: bytes.subarray(stateAt + state.bytes, end) };
  for (const name of ['state', 'index'] as const) {
    if (sha256(parts[name]) !== manifest.sections[name].sha256) throw fail('corrupt', `the checksum of its ${name} section does not match the manifest`);
  }
  for (const [what, theirs, ours] of [
    ['state', manifest.stateFormat, STATE_FILE_VERSION],
    ['index', manifest.indexFormat, INDEX_FORMAT_VERSION],
  ] as const) {
    if (theirs !== ours) {
      const writer = theirs > ours ? 'a newer engine' : 'an older engine';
      throw fail('version', `its ${what} is in format ${theirs}, this engine reads ${ours} (${writer} made it, version ${manifest.engineVersion})`);
    }
  }
  let start = 0;
  for (const [i, f] of manifest.files.entries()) {
    const unsafe = unsafePathReason(f.path);
    if (unsafe) throw fail('unsafe-path', `files[${i}].path ${JSON.stringify(f.path)} is refused: ${unsafe}`);
    if (f.start !== start) throw fail('inconsistent', `files[${i}] (${f.path}) starts at token ${f.start}, the files before it end at ${start}`);
    start += f.tokens;
  }
  if (start !== manifest.tokens) throw fail('inconsistent', `its files hold ${start} tokens, the manifest counts ${manifest.tokens}`);
  return { manifest, ...parts, sha256: sha256(bytes) };
}
