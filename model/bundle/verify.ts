/**
 * Whether a bundle (./format.ts) can become this engine's memory of a workspace: its layout and checksums, then
 * the model it was made with, then its sections decoded by the validators of the memory's own files (the state:
 * dimensions, finite values, token ids; the index: entries, lines, paths, inflation bounded), then that they
 * agree with the manifest and with each other. Pure: it reads nothing and writes nothing, so a bundle that fails
 * any check leaves every file where it was.
 */
import { decodeIndexFile, IndexFileError, type IndexBody } from '../index';
import { StateFileError, decodeState, tokenCount, type StateSnapshot } from '../state';
import { BUNDLE_LIMITS, BundleError, readBundleLayout, type BundleFailure, type BundleLimits, type BundleManifest } from './format';

/** The root an index section is written for: a bundle names no local folder. */
export const BUNDLE_INDEX_ROOT = '.';

/** What the loaded model is: a bundle made with anything else is refused. */
export interface BundleExpectations {
  modelId: string;
  vocabSize: number;
  tokenizerSha256: string;
  dims: Pick<StateSnapshot, 'layers' | 'famLength' | 'hiddenSize' | 'memSlots' | 'kvDim' | 'blockSize'>;
}

export interface VerifiedBundle {
  manifest: BundleManifest;
  snapshot: StateSnapshot;
  index: IndexBody;
  /** SHA-256 of the whole bundle. */
  sha256: string;
  bytes: number;
}

const short = (id: string): string => id.slice(0, 12);

/** Every check of a bundle's bytes against the loaded model; throws BundleError naming the first that fails. */
export function verifyBundle(bytes: Uint8Array, source: string, expect: BundleExpectations, limits: BundleLimits = BUNDLE_LIMITS): VerifiedBundle {
  const fail = (reason: BundleFailure, msg: string): BundleError => new BundleError(reason, `bundle ${source}: ${msg}; it is not used`);
  const layout = readBundleLayout(bytes, source, limits);
  const { manifest } = layout;
  if (manifest.modelId !== expect.modelId) {
    throw fail('model-mismatch', `it was made with model ${short(manifest.modelId)}, the loaded model is ${short(expect.modelId)}: make it with the same model`);
  }
  if (manifest.tokenizerSha256 !== expect.tokenizerSha256) {
    throw fail('tokenizer-mismatch', `it was made with tokenizer ${short(manifest.tokenizerSha256)}, the loaded model's is ${short(expect.tokenizerSha256)}`);
  }

  let snapshot: StateSnapshot;
  try {
    snapshot = decodeState(layout.state, expect.modelId, expect.vocabSize, 'unkeyed', 'its state section');
  } catch (e) {
    if (e instanceof StateFileError) throw fail(e.reason === 'version' ? 'version' : 'corrupt', e.message);
    throw e;
  }
  for (const [k, want] of Object.entries(expect.dims) as [keyof BundleExpectations['dims'], number][]) {
    if (snapshot[k] !== want) throw fail('inconsistent', `its state has ${k} ${snapshot[k]}, the model needs ${want}`);
  }
  if (tokenCount(snapshot) !== manifest.tokens) {
    throw fail('inconsistent', `its manifest lists ${manifest.tokens} tokens read, its state holds ${tokenCount(snapshot)}`);
  }

  let index: IndexBody;
  try {
    const meta = { modelId: expect.modelId, walkerKey: manifest.walker.sha256, root: BUNDLE_INDEX_ROOT };
    index = decodeIndexFile(layout.index, meta, 'its index section', { sealer: 'unkeyed', maxInflatedBytes: limits.indexInflatedBytes });
  } catch (e) {
    if (!(e instanceof IndexFileError)) throw e;
    const reason: BundleFailure = e.reason === 'version' || e.reason === 'too-large' ? e.reason : e.reason === 'mismatch' ? 'inconsistent' : 'corrupt';
    throw fail(reason, e.message);
  }
  // Each indexed file must be its path's last reading: an index of other text would cite lines never read. (A
  // reading the index lacks is a file deleted before the bundle was made: its text stays in the state.)
  const latest = new Map(manifest.files.map((f) => [f.path, f.sha256]));
  const odd = index.files.find((f) => latest.get(f.path) !== f.sha256);
  if (odd) throw fail('inconsistent', `its index holds ${JSON.stringify(odd.path)} as the manifest does not`);
  return { manifest, snapshot, index, sha256: layout.sha256, bytes: bytes.length };
}
