/**
 * The fixture tokenizer (test/fixtures/tiny, made by model/train/make_fixtures.py with the Rust/Python `tokenizers`
 * library) gives the same ids and the same decoded text in @huggingface/tokenizers (JS), which the engine uses.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';

const TINY = path.join(__dirname, '..', 'fixtures', 'tiny');

interface Sample {
  text: string;
  ids: number[];
  offset: number;
}

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(TINY, file), 'utf8'));
}

/** One int64 tensor of a .safetensors file (8-byte little-endian header length, JSON header, data), as numbers. */
function readInt64(file: string, name: string): number[] {
  const bytes = fs.readFileSync(file);
  const headerLen = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLen).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const entry = header[name];
  if (!entry) throw new Error(`${file}: no tensor ${name}`);
  assert.equal(entry.dtype, 'I64', `${name} dtype`);
  const [begin, end] = entry.data_offsets;
  const out: number[] = [];
  for (let o = 8 + headerLen + begin; o < 8 + headerLen + end; o += 8) out.push(Number(bytes.readBigInt64LE(o)));
  return out;
}

describe('fixture tokenizer: @huggingface/tokenizers agrees with the Python tokenizers library', () => {
  const tokenizer = new Tokenizer(readJson('tokenizer.json') as object, readJson('tokenizer_config.json') as object);
  const { samples } = readJson('tokenizer_samples.json') as { samples: Sample[] };

  it('the special tokens have ids 0-3 (docs/prompt-format.md)', () => {
    const specials = ['<|endoftext|>', '<|file|>', '<|question|>', '<|answer|>'];
    assert.deepEqual(specials.map((s) => tokenizer.token_to_id(s)), [0, 1, 2, 3]);
  });

  it('encodes every sample to the Python ids', () => {
    assert.ok(samples.length >= 4, 'tokenizer_samples.json holds the samples');
    for (const s of samples) {
      assert.deepEqual(tokenizer.encode(s.text, { add_special_tokens: false }).ids, s.ids, JSON.stringify(s.text));
    }
  });

  it('decodes the Python ids back to each sample, special tokens and spacing intact', () => {
    for (const s of samples) assert.equal(tokenizer.decode(s.ids), s.text);
  });

  it('tokenizer.sample_ids in expected.safetensors are the samples\' ids, concatenated', () => {
    const flat = readInt64(path.join(TINY, 'expected.safetensors'), 'tokenizer.sample_ids');
    assert.deepEqual(flat, samples.flatMap((s) => s.ids));
    for (const s of samples) assert.deepEqual(flat.slice(s.offset, s.offset + s.ids.length), s.ids);
  });

  it('tiny-llama carries the same tokenizer files', () => {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      assert.ok(fs.readFileSync(path.join(TINY, f)).equals(fs.readFileSync(path.join(TINY, '..', 'tiny-llama', f))), f);
    }
  });
});
