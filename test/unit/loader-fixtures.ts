/**
 * Small model files made on the spot for the loader and state tests: a GPT-2 style byte-level BPE
 * tokenizer.json with the Famulus special tokens at ids 0..3, a FamConfig, and random weights that match it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type FamConfig, PLAIN_LLAMA, expectedTensorTable, writeSafetensors, type TensorToWrite } from '../../model/loader';

export const SPECIALS = ['<|endoftext|>', '<|file|>', '<|question|>', '<|answer|>'];

/** GPT-2's bytes_to_unicode: every byte gets a printable character. */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const map: string[] = new Array(256);
  for (const b of bs) map[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCodePoint(256 + n++);
  return map;
}

/** The byte-level token string of a text (its UTF-8 bytes through byteToUnicode). */
export function byteLevel(text: string): string {
  const m = byteToUnicode();
  return Array.from(Buffer.from(text, 'utf8'), (b) => m[b]).join('');
}

/**
 * tokenizer.json: specials 0..3 (unless `specials` is false), the 256 byte tokens from id 4, then one token per
 * merge. `merges` are pairs of byte-level strings; each merged token is appended in order.
 */
export function tokenizerJson(opts: { merges?: [string, string][]; specials?: boolean } = {}): Record<string, unknown> {
  const withSpecials = opts.specials ?? true;
  const vocab: Record<string, number> = {};
  let next = withSpecials ? SPECIALS.length : 0;
  for (const ch of byteToUnicode()) vocab[ch] = next++;
  const merges = opts.merges ?? [];
  for (const [a, b] of merges) if (vocab[a + b] === undefined) vocab[a + b] = next++;
  const added = withSpecials
    ? SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }))
    : [];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(([a, b]) => [a, b]),
    },
  };
}

/** A config small enough for unit tests: F=4, B=8, m=1, GQA 4/2 heads of size 4. */
export function tinyConfig(over: Partial<FamConfig> = {}): FamConfig {
  return {
    vocab_size: 300,
    hidden_size: 16,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 24,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    fam_length: 4,
    block_size: 8,
    memory_segments: 1,
    fam_positions: 'block_end',
    fam_residual: 'after_first',
    eos_token_id: 0,
    ...PLAIN_LLAMA,
    ...over,
  };
}

/** Deterministic pseudo-random values in [-0.1, 0.1). */
export function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

/** Every tensor the config needs, with random values, as writeSafetensors input. */
export function randomWeights(cfg: FamConfig, dtype: TensorToWrite['dtype'] = 'F32'): [string, TensorToWrite][] {
  let seed = 1;
  return [...expectedTensorTable(cfg)].map(([name, shape]) => [
    name,
    { dtype, shape, data: randomValues(shape.reduce((a, b) => a * b, 1), seed++) },
  ]);
}

const tempDirs: string[] = [];
process.on('exit', () => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the process exits. */
export function tempDir(prefix = 'famulus-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Writes a complete model directory (config.json, model.safetensors, tokenizer.json) and returns its path. */
export function writeModelDir(
  cfg: FamConfig = tinyConfig(),
  opts: { tensors?: [string, TensorToWrite][]; tokenizer?: Record<string, unknown> } = {},
): string {
  const dir = tempDir('famulus-model-');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg, null, 1));
  writeSafetensors(path.join(dir, 'model.safetensors'), opts.tensors ?? randomWeights(cfg));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(opts.tokenizer ?? tokenizerJson()));
  return dir;
}
