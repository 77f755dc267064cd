/**
 * The engine's side of memory bundles (model/bundle/, docs/team-memory.md): writing the open workspace's memory
 * as one, and getting one checked against the loaded model before the session adopts it (session.ts adopt).
 * A bundle that cannot be had is 'bundle-unavailable', one that fails a check 'bundle-rejected'; either way
 * nothing has been written.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  BUNDLE_LIMITS,
  BundleError,
  describeSource,
  loadBundleBytes,
  parseSource,
  tokenizerSha256,
  verifyBundle,
  type BundleExpectations,
  type VerifiedBundle,
} from '../bundle';
import { writeFileAtomic } from '../state';
import { isCancellation } from './cancellation';
import { EngineError, type BundleRequest, type BundleResult, type ImportResult } from './protocol';
import type { SessionModel, WorkspaceSession } from './session';
import { secondsSince } from './streams';

/** A bundle that passed every check, where it came from, and what getting and checking it took. */
export interface CheckedBundle {
  verified: VerifiedBundle;
  source: string;
  fetchSeconds: number;
  verifySeconds: number;
}

/** What the loaded model is, for verifyBundle. */
function expectations({ model, session }: SessionModel): BundleExpectations {
  const { layers, famLength, hidden, blockSize, memSegments } = session.dims;
  return {
    modelId: model.modelId,
    vocabSize: model.config.vocab_size,
    tokenizerSha256: tokenizerSha256(model.dir),
    dims: { layers, famLength, hiddenSize: hidden, memSlots: memSegments * blockSize, kvDim: session.kvDim, blockSize },
  };
}

function asEngineError(err: unknown): unknown {
  if (!(err instanceof BundleError)) return err;
  return new EngineError(err.reason === 'unavailable' ? 'bundle-unavailable' : 'bundle-rejected', err.message);
}

/** The bundle at `sourceText` (a path or URL), fetched within its caps and checked; reads and writes no memory. */
export async function checkedBundle(loaded: SessionModel, sourceText: string, signal: AbortSignal): Promise<CheckedBundle> {
  try {
    const source = parseSource(sourceText);
    const label = describeSource(source);
    const fetchStarted = performance.now();
    const bytes = await loadBundleBytes(source, { maxBytes: BUNDLE_LIMITS.bundleBytes, signal });
    const fetchSeconds = secondsSince(fetchStarted);
    const verifyStarted = performance.now();
    const verified = verifyBundle(bytes, label, expectations(loaded));
    return { verified, source: label, fetchSeconds, verifySeconds: secondsSince(verifyStarted) };
  } catch (err) {
    if (signal.aborted && !isCancellation(err)) throw new EngineError('cancelled', 'workspace/import was cancelled');
    throw asEngineError(err);
  }
}

/** ImportResult.bundle for a bundle adopted by `ws`. */
export function importedInfo(checked: CheckedBundle, ws: WorkspaceSession): ImportResult['bundle'] {
  const { manifest, sha256, bytes } = checked.verified;
  return {
    source: checked.source,
    commit: manifest.commit,
    sha256,
    bytes,
    files: manifest.files.length,
    tokens: manifest.tokens,
    walkerMatches: manifest.walker.sha256 === ws.walkerKey,
    fetchSeconds: checked.fetchSeconds,
    verifySeconds: checked.verifySeconds,
  };
}

/** workspace/bundle: the held memory written as a bundle file (readable by others: it is made to be shared). */
export async function writeBundleFile(ws: WorkspaceSession, loaded: SessionModel, req: BundleRequest): Promise<BundleResult> {
  const started = performance.now();
  const commit = req.commit ?? null;
  const { bytes, files, tokens } = await ws.bundle(commit, tokenizerSha256(loaded.model.dir));
  const file = path.resolve(req.file);
  try {
    await writeFileAtomic(file, bytes);
    await fs.chmod(file, 0o644);
  } catch (err) {
    throw new EngineError('io-error', `cannot write the bundle ${file}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { file, bytes: bytes.length, sha256, files, tokens, commit, seconds: secondsSince(started) };
}
