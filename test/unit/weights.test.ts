import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ModelFileError, WeightTensor, checkWeightTable, expectedTensorTable, type FamConfig } from '../../model/loader';
import { tinyConfig } from './loader-fixtures';

/** Zero-filled tensors for a name -> shape table. */
function tensorsFor(table: Map<string, number[]>): Map<string, WeightTensor> {
  return new Map(
    [...table].map(([name, shape]) => [name, new WeightTensor('F32', shape, new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)))]),
  );
}

describe('UnitTests - expected tensor table', () => {
  it('GQA, tied embeddings, FAM: the Hugging Face Llama names and shapes', () => {
    const cfg = tinyConfig(); // V=300 D=16 L=2 H=4 G=2 d=4 I=24 F=4, tied
    const t = expectedTensorTable(cfg);
    assert.equal(t.size, 1 + 2 * 9 + 1 + 1);
    assert.deepEqual(t.get('model.embed_tokens.weight'), [300, 16]);
    assert.deepEqual(t.get('model.layers.1.input_layernorm.weight'), [16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.q_proj.weight'), [16, 16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.k_proj.weight'), [8, 16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.v_proj.weight'), [8, 16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.o_proj.weight'), [16, 16]);
    assert.deepEqual(t.get('model.layers.1.post_attention_layernorm.weight'), [16]);
    assert.deepEqual(t.get('model.layers.1.mlp.gate_proj.weight'), [24, 16]);
    assert.deepEqual(t.get('model.layers.1.mlp.up_proj.weight'), [24, 16]);
    assert.deepEqual(t.get('model.layers.1.mlp.down_proj.weight'), [16, 24]);
    assert.deepEqual(t.get('model.norm.weight'), [16]);
    assert.deepEqual(t.get('model.fam_embeddings'), [4, 16]);
    assert.equal(t.has('lm_head.weight'), false);
  });

  it('untied, no FAM, explicit head_dim: lm_head present, fam_embeddings absent, H*d used', () => {
    const cfg: FamConfig = tinyConfig({ tie_word_embeddings: false, fam_length: 0, head_dim: 6 });
    const t = expectedTensorTable(cfg);
    assert.deepEqual(t.get('lm_head.weight'), [300, 16]);
    assert.equal(t.has('model.fam_embeddings'), false);
    assert.deepEqual(t.get('model.layers.0.self_attn.q_proj.weight'), [24, 16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.k_proj.weight'), [12, 16]);
    assert.deepEqual(t.get('model.layers.0.self_attn.o_proj.weight'), [16, 24]);
  });
});

describe('UnitTests - checkWeightTable()', () => {
  it('a complete checkpoint passes with no notes', () => {
    const cfg = tinyConfig();
    assert.deepEqual(checkWeightTable(cfg, tensorsFor(expectedTensorTable(cfg)), 'm.safetensors'), []);
  });

  it('rotary inv_freq buffers and a duplicate tied lm_head are ignored with a note', () => {
    const cfg = tinyConfig();
    const tensors = tensorsFor(expectedTensorTable(cfg));
    tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', new WeightTensor('F32', [2], new Uint8Array(8)));
    tensors.set('lm_head.weight', new WeightTensor('F32', [300, 16], new Uint8Array(300 * 16 * 4)));
    const notes = checkWeightTable(cfg, tensors, 'm.safetensors');
    assert.equal(notes.length, 2);
    assert.match(notes[0]!, /ignored model\.layers\.0\.self_attn\.rotary_emb\.inv_freq: RoPE frequencies are computed from rope_theta/);
    assert.match(notes[1]!, /ignored lm_head\.weight: tie_word_embeddings is true/);
  });

  it('with fam_length 0 an empty model.fam_embeddings [0, D] (fam.py always has one) is ignored; a non-empty one is not', () => {
    const cfg = tinyConfig({ fam_length: 0 });
    const tensors = tensorsFor(expectedTensorTable(cfg));
    tensors.set('model.fam_embeddings', new WeightTensor('F32', [0, 16], new Uint8Array(0)));
    assert.deepEqual(checkWeightTable(cfg, tensors, 'm'), ['ignored model.fam_embeddings: empty, as fam_length is 0']);
    tensors.set('model.fam_embeddings', new WeightTensor('F32', [4, 16], new Uint8Array(256)));
    assert.throws(() => checkWeightTable(cfg, tensors, 'm'), /unexpected \(1\):\n {4}model\.fam_embeddings \[4, 16\]/);
  });

  it('EXPECTED FAILURE - missing, unexpected, mis-shaped and integer tensors are reported together', () => {
    const cfg = tinyConfig({ tie_word_embeddings: false });
    const tensors = tensorsFor(expectedTensorTable(cfg));
    tensors.delete('lm_head.weight');
    tensors.delete('model.fam_embeddings');
    tensors.set('model.layers.1.mlp.down_proj.weight', new WeightTensor('F32', [24, 16], new Uint8Array(24 * 16 * 4)));
    tensors.set('model.layers.0.self_attn.q_proj.bias', new WeightTensor('F32', [16], new Uint8Array(64)));
    tensors.set('model.norm.weight', new WeightTensor('I64', [16], new Uint8Array(128)));
    assert.throws(
      () => checkWeightTable(cfg, tensors, '/m/model.safetensors'),
      (e: unknown) => {
        assert.ok(e instanceof ModelFileError);
        assert.equal(e.file, '/m/model.safetensors');
        assert.match(e.message, /^\/m\/model\.safetensors: the weights do not match config\.json \(L=2, D=16, V=300, F=4, tie_word_embeddings=false, model_type=llama, q\/k\/v bias=false, o_proj bias=false, q\/k norm=false\)/);
        assert.match(e.message, /missing \(2\):\n {4}lm_head\.weight \[300, 16\]\n {4}model\.fam_embeddings \[4, 16\]/);
        assert.match(e.message, /wrong shape \(1\):\n {4}model\.layers\.1\.mlp\.down_proj\.weight: file has \[24, 16\], config needs \[16, 24\]/);
        assert.match(e.message, /wrong dtype \(1\):\n {4}model\.norm\.weight: I64, weights must be F32, F16, BF16/);
        assert.match(e.message, /unexpected \(1\):\n {4}model\.layers\.0\.self_attn\.q_proj\.bias \[16\]/);
        return true;
      },
    );
  });

  it('EXPECTED FAILURE - a checkpoint with more layers than the config lists at most 20 names', () => {
    const big = tinyConfig({ num_hidden_layers: 6 });
    const cfg = tinyConfig({ num_hidden_layers: 2 });
    assert.throws(() => checkWeightTable(cfg, tensorsFor(expectedTensorTable(big)), 'm'), /unexpected \(36\):(\n {4}\S+ \[[\d, ]+\]){20}\n {4}\.\.\. and 16 more/);
  });
});
