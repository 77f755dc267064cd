import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import {
  CONFIG_DEFAULTS,
  ModelFileError,
  eosTokenIds,
  famPositions,
  famResidualScale,
  headDim,
  parseFamConfig,
  PLAIN_LLAMA,
  readFamConfig,
} from '../../model/loader';
import { ropeInvFreq } from '../../model/runtime/rope';
import { DEFAULT_SIZE } from '../bench/random-model';

const SRC = '/models/x/config.json';

/** A complete Famulus config.json, as model/train/fam.py writes it. */
const famJson = (): Record<string, unknown> => ({
  vocab_size: 16000,
  hidden_size: 512,
  num_hidden_layers: 8,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  intermediate_size: 1408,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  fam_length: 64,
  block_size: 1024,
  memory_segments: 1,
  bos_token_id: null,
  eos_token_id: 0,
  architectures: ['FamForCausalLM'],
  model_type: 'llama',
  head_dim: 64,
});

/** Asserts that parsing fails with a ModelFileError whose message names the file and matches every pattern. */
function assertRejects(json: unknown, ...patterns: RegExp[]): void {
  assert.throws(
    () => parseFamConfig(json, SRC),
    (e: unknown) => {
      assert.ok(e instanceof ModelFileError, `expected ModelFileError, got ${String(e)}`);
      assert.equal(e.file, SRC);
      assert.ok(e.message.startsWith(SRC), e.message);
      for (const p of patterns) assert.match(e.message, p);
      return true;
    },
  );
}

describe('UnitTests - parseFamConfig()', () => {
  it('reads a Famulus config.json field by field', () => {
    const cfg = parseFamConfig(famJson(), SRC);
    assert.deepEqual(cfg, {
      vocab_size: 16000,
      hidden_size: 512,
      num_hidden_layers: 8,
      num_attention_heads: 8,
      num_key_value_heads: 4,
      intermediate_size: 1408,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: true,
      fam_length: 64,
      block_size: 1024,
      memory_segments: 1,
      fam_positions: 'block_end',
      fam_residual: 'after_first',
      head_dim: 64,
      eos_token_id: 0,
      ...PLAIN_LLAMA,
    });
    assert.equal(headDim(cfg), 64);
    assert.deepEqual(eosTokenIds(cfg), [0]);
  });

  it('a plain Llama config.json (no FAM fields, no num_key_value_heads) gets the documented defaults', () => {
    const cfg = parseFamConfig(
      {
        vocab_size: 32000,
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 128,
        eos_token_id: [2, 7],
      },
      SRC,
    );
    assert.equal(cfg.fam_length, 0);
    assert.equal(cfg.memory_segments, 0);
    assert.equal(cfg.block_size, 1024);
    assert.equal(cfg.fam_positions, 'block_end');
    assert.equal(cfg.fam_residual, 'after_first');
    assert.equal(cfg.num_key_value_heads, 4, 'defaults to num_attention_heads');
    assert.equal(cfg.rms_norm_eps, CONFIG_DEFAULTS.rms_norm_eps);
    assert.equal(cfg.rope_theta, CONFIG_DEFAULTS.rope_theta);
    assert.equal(cfg.tie_word_embeddings, false);
    assert.equal(cfg.head_dim, undefined);
    assert.equal(headDim(cfg), 16);
    assert.deepEqual(eosTokenIds(cfg), [2, 7]);
    assert.equal(cfg.bos_token_id, undefined);
  });

  it('an explicit head_dim other than hidden_size / heads is kept (as LlamaConfig allows)', () => {
    const cfg = parseFamConfig({ ...famJson(), hidden_size: 500, head_dim: 32 }, SRC);
    assert.equal(headDim(cfg), 32);
  });

  it('EXPECTED FAILURE - config is not an object', () => {
    assertRejects([1, 2], /must be a JSON object, got \[1,2\]/);
    assertRejects(null, /must be a JSON object, got null/);
  });

  it('EXPECTED FAILURE - missing and non-positive sizes name the field and the value', () => {
    const j = famJson();
    delete j.vocab_size;
    assertRejects(j, /"vocab_size" must be a positive integer, got nothing \(field missing\)/);
    assertRejects({ ...famJson(), num_hidden_layers: 0 }, /"num_hidden_layers" must be a positive integer, got 0/);
    assertRejects({ ...famJson(), hidden_size: 512.5 }, /"hidden_size" must be a positive integer, got 512\.5/);
    assertRejects({ ...famJson(), intermediate_size: '1408' }, /"intermediate_size" must be a positive integer, got "1408"/);
    assertRejects({ ...famJson(), rms_norm_eps: -1 }, /"rms_norm_eps" must be a positive finite number, got -1/);
    assertRejects({ ...famJson(), fam_length: -4 }, /"fam_length" must be a non-negative integer, got -4/);
    assertRejects({ ...famJson(), block_size: 0 }, /"block_size" must be a positive integer, got 0/);
    assertRejects({ ...famJson(), tie_word_embeddings: 'yes' }, /"tie_word_embeddings" must be true or false, got "yes"/);
    assertRejects({ ...famJson(), fam_positions: 'middle' }, /"fam_positions" must be "block_end" or "before_block", got "middle"/);
    assertRejects({ ...famJson(), fam_residual: true }, /"fam_residual" must be "after_first" or "none", got true/);
  });

  it('the FAM rows take the last F positions of the block, or with before_block the F positions before it', () => {
    const cfg = parseFamConfig({ ...famJson(), fam_length: 4, block_size: 16 }, SRC);
    assert.deepEqual(famPositions(cfg, 32), [44, 45, 46, 47]);
    const before = parseFamConfig({ ...famJson(), fam_length: 4, block_size: 16, fam_positions: 'before_block' }, SRC);
    assert.deepEqual(famPositions(before, 32), [28, 29, 30, 31]);
    assert.deepEqual(famPositions(before, 0), [-4, -3, -2, -1]);
  });

  it("the benchmark's DEFAULT_SIZE is the shipped default model's config", () => {
    const file = path.join(__dirname, '..', '..', 'model', 'weights', 'default', 'config.json');
    // The file states head_dim; DEFAULT_SIZE leaves it to headDim(), so LARGE_SIZE can change the width.
    const { head_dim, ...shipped } = parseFamConfig(JSON.parse(fs.readFileSync(file, 'utf8')), file);
    assert.deepEqual(DEFAULT_SIZE, shipped);
    assert.equal(headDim(DEFAULT_SIZE), head_dim);
  });

  it('the previous FAM is added back on every update but the first, or with fam_residual none never', () => {
    const cfg = parseFamConfig(famJson(), SRC);
    assert.deepEqual([0, 1, 500].map((blocks) => famResidualScale(cfg, blocks)), [0, 1, 1]);
    const none = parseFamConfig({ ...famJson(), fam_residual: 'none' }, SRC);
    assert.deepEqual([0, 1, 500].map((blocks) => famResidualScale(none, blocks)), [0, 0, 0]);
  });

  it('EXPECTED FAILURE - divisibility, RoPE and FAM constraints give the numbers', () => {
    assertRejects({ ...famJson(), num_key_value_heads: 3 }, /"num_attention_heads" 8 is not divisible by "num_key_value_heads" 3/);
    const noHeadDim = famJson();
    delete noHeadDim.head_dim;
    assertRejects({ ...noHeadDim, hidden_size: 500 }, /"hidden_size" 500 is not divisible by "num_attention_heads" 8/);
    assertRejects({ ...noHeadDim, hidden_size: 24, num_attention_heads: 8, num_key_value_heads: 8 }, /head size .* = 3 must be even/);
    assertRejects({ ...famJson(), head_dim: 63 }, /"head_dim" 63 must be even/);
    assertRejects({ ...famJson(), fam_length: 2048 }, /"fam_length" 2048 > "block_size" 1024/);
  });

  it('EXPECTED FAILURE - token ids must be inside the vocabulary', () => {
    assertRejects({ ...famJson(), eos_token_id: 16000 }, /"eos_token_id" must be a token id in \[0, vocab_size 16000\)/);
    assertRejects({ ...famJson(), eos_token_id: [] }, /"eos_token_id" must be/);
    assertRejects({ ...famJson(), bos_token_id: -1 }, /"bos_token_id" must be a token id/);
  });

  it('EXPECTED FAILURE - fields that would change the math are refused, not ignored', () => {
    assertRejects({ ...famJson(), rope_scaling: { rope_type: 'linear', factor: 8 } }, /"rope_scaling" type "linear" is not run by this engine/);
    assertRejects({ ...famJson(), rope_scaling: { rope_type: 'llama3', factor: 8 } }, /"rope_scaling\.low_freq_factor" must be a positive number, got nothing/);
    assertRejects({ ...famJson(), rope_parameters: { rope_type: 'yarn', factor: 4 } }, /"rope_parameters" type "yarn"/);
    assertRejects({ ...famJson(), model_type: 'gemma' }, /"model_type" must be "llama" or "mistral" or "qwen2" or "qwen3", got "gemma"/);
    assertRejects({ ...famJson(), hidden_act: 'gelu' }, /"hidden_act" must be "silu"/);
    assertRejects({ ...famJson(), mlp_bias: true }, /"mlp_bias" must be false/);
    assertRejects({ ...famJson(), attention_bias: 'yes' }, /"attention_bias" must be true or false/);
    assertRejects({ ...famJson(), layer_types: ['full_attention', 'sliding_attention'] }, /"layer_types" must be a list of "full_attention"/);
  });

  it('reads each family: biases, q/k norms, head_dim and Llama 3 RoPE scaling as the family defines them', () => {
    const plain = { ...famJson(), fam_length: undefined, architectures: undefined };
    const read = (over: Record<string, unknown>) => readFamConfig({ ...plain, ...over }, SRC);
    assert.deepEqual(pick(read({ model_type: 'qwen2' }).config), { model_type: 'qwen2', qkv_bias: true, o_bias: false, qk_norm: false });
    assert.deepEqual(pick(read({ model_type: 'qwen3', head_dim: 128 }).config), { model_type: 'qwen3', qkv_bias: false, o_bias: false, qk_norm: true });
    assert.equal(headDim(read({ model_type: 'qwen3', head_dim: 128 }).config), 128);
    assert.deepEqual(pick(read({ model_type: 'llama', attention_bias: true }).config), { model_type: 'llama', qkv_bias: true, o_bias: true, qk_norm: false });
    const mistral = read({ model_type: 'mistral', sliding_window: 4096, attention_bias: true });
    assert.deepEqual(pick(mistral.config), { model_type: 'mistral', qkv_bias: false, o_bias: false, qk_norm: false });
    assert.match(mistral.notes.join('\n'), /sliding_window 4096 not used: blocks of block_size 1024 tokens/);
    assert.match(mistral.notes.join('\n'), /attention_bias ignored: mistral fixes its biases/);
    assert.deepEqual(read({ model_type: 'qwen2', sliding_window: 32768, use_sliding_window: false }).notes, []);
    const scaling = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    assert.deepEqual(read({ rope_scaling: scaling, rope_theta: 500000 }).config.rope_scaling, scaling);
    // transformers 5 writes rope_parameters, theta included.
    const v5 = read({ rope_theta: undefined, rope_parameters: { ...scaling, rope_theta: 500000 } }).config;
    assert.deepEqual([v5.rope_theta, v5.rope_scaling], [500000, scaling]);
    assert.equal(read({ rope_scaling: { type: 'default' } }).config.rope_scaling, undefined);
  });

  it('Llama 3 RoPE scaling keeps high frequencies, divides low ones by the factor and blends the band between', () => {
    // theta 10000, d 8: frequencies 1, 0.1, 0.01, 0.001, wavelengths 6.3, 63, 628, 6283. Original 256 with
    // factors 1 and 4: wavelengths under 64 kept, over 256 divided by 8; 63 < 64 kept too.
    const cfg = { ...parseFamConfig(famJson(), SRC), hidden_size: 32, num_attention_heads: 4, head_dim: undefined };
    const scaled = ropeInvFreq({ ...cfg, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 256 } });
    const want = [1, 0.1, 0.01 / 8, 0.001 / 8];
    scaled.forEach((f, i) => assert.ok(Math.abs(f - want[i]!) < 1e-12, `frequency ${i}: ${f} vs ${want[i]}`));
    // Original 1024: wavelength 628 lies in the band (256, 1024), smooth = (1024/628.3 - 1) / 3.
    const band = ropeInvFreq({ ...cfg, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1024 } });
    const smooth = (1024 / (2 * Math.PI / 0.01) - 1) / 3;
    assert.ok(Math.abs(band[2]! - ((1 - smooth) * 0.01 / 8 + smooth * 0.01)) < 1e-12);
    assert.deepEqual(ropeInvFreq(cfg).map((f) => +f.toPrecision(12)), [1, 0.1, 0.01, 0.001]);
  });

  it('EXPECTED FAILURE - every problem is reported in one error', () => {
    assertRejects(
      { ...famJson(), vocab_size: -1, num_key_value_heads: 3, fam_length: 4096 },
      /"vocab_size" must be a positive integer, got -1/,
      /not divisible by "num_key_value_heads" 3/,
      /"fam_length" 4096 > "block_size" 1024/,
    );
  });
});

function pick(c: { model_type: string; qkv_bias: boolean; o_bias: boolean; qk_norm: boolean }) {
  return { model_type: c.model_type, qkv_bias: c.qkv_bias, o_bias: c.o_bias, qk_norm: c.qk_norm };
}
