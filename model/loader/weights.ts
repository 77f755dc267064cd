/**
 * The tensors a config needs, by Hugging Face LlamaForCausalLM name, and the check that a checkpoint holds
 * exactly those (nanoGPT's from_pretrained habit: names and shapes are compared before any weight is used, and
 * every disagreement is reported at once).
 *
 * Letters: V vocab, D width, L layers, H query heads, G key/value heads, d head size, I SwiGLU width, F FAM length.
 */
import { FamConfig, headDim } from './config';
import { ModelFileError } from './errors';
import { FLOAT_DTYPES, type TensorInfo } from './safetensors';

/** Name -> expected shape, in a stable order (embedding, layers 0..L-1, final norm, lm_head, FAM). */
export function expectedTensorTable(cfg: FamConfig): Map<string, number[]> {
  const V = cfg.vocab_size;
  const D = cfg.hidden_size;
  const H = cfg.num_attention_heads;
  const G = cfg.num_key_value_heads;
  const d = headDim(cfg);
  const I = cfg.intermediate_size;
  const t = new Map<string, number[]>();
  t.set('model.embed_tokens.weight', [V, D]);
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `model.layers.${i}.`;
    t.set(`${p}input_layernorm.weight`, [D]);
    t.set(`${p}self_attn.q_proj.weight`, [H * d, D]);
    t.set(`${p}self_attn.k_proj.weight`, [G * d, D]);
    t.set(`${p}self_attn.v_proj.weight`, [G * d, D]);
    t.set(`${p}self_attn.o_proj.weight`, [D, H * d]);
    if (cfg.qkv_bias) {
      t.set(`${p}self_attn.q_proj.bias`, [H * d]);
      t.set(`${p}self_attn.k_proj.bias`, [G * d]);
      t.set(`${p}self_attn.v_proj.bias`, [G * d]);
    }
    if (cfg.o_bias) t.set(`${p}self_attn.o_proj.bias`, [D]);
    if (cfg.qk_norm) {
      t.set(`${p}self_attn.q_norm.weight`, [d]);
      t.set(`${p}self_attn.k_norm.weight`, [d]);
    }
    t.set(`${p}post_attention_layernorm.weight`, [D]);
    t.set(`${p}mlp.gate_proj.weight`, [I, D]);
    t.set(`${p}mlp.up_proj.weight`, [I, D]);
    t.set(`${p}mlp.down_proj.weight`, [D, I]);
  }
  t.set('model.norm.weight', [D]);
  if (!cfg.tie_word_embeddings) t.set('lm_head.weight', [V, D]);
  if (cfg.fam_length > 0) t.set('model.fam_embeddings', [cfg.fam_length, D]);
  return t;
}

/**
 * Tensors a checkpoint may carry that the engine does not use, and why they are harmless.
 * Anything else unexpected is an error: an extra tensor (a bias, a scaling) would mean different math.
 */
const IGNORABLE: { pattern: RegExp; why: string }[] = [
  { pattern: /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/, why: 'RoPE frequencies are computed from rope_theta' },
  { pattern: /^model\.rotary_emb\.inv_freq$/, why: 'RoPE frequencies are computed from rope_theta' },
];

/**
 * Compares `tensors` with expectedTensorTable(cfg). Throws one ModelFileError (naming `source`) that lists every
 * missing, unexpected, mis-shaped and non-float tensor; returns notes about tensors that were ignored. Only
 * dtypes and shapes are looked at, so a file's header is enough (inspect.ts checks a folder that way).
 */
export function checkWeightTable(cfg: FamConfig, tensors: ReadonlyMap<string, TensorInfo>, source: string): string[] {
  const expected = expectedTensorTable(cfg);
  const missing: string[] = [];
  const misShaped: string[] = [];
  const wrongType: string[] = [];
  const unexpected: string[] = [];
  const notes: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) missing.push(`${name} [${shape.join(', ')}]`);
    else if (!FLOAT_DTYPES.includes(t.dtype)) wrongType.push(`${name}: ${t.dtype}, weights must be ${FLOAT_DTYPES.join(', ')}`);
    else if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) {
      misShaped.push(`${name}: file has [${t.shape.join(', ')}], config needs [${shape.join(', ')}]`);
    }
  }
  for (const [name, t] of tensors) {
    if (expected.has(name)) continue;
    const ignorable = IGNORABLE.find((i) => i.pattern.test(name));
    if (ignorable) notes.push(`ignored ${name}: ${ignorable.why}`);
    else if (name === 'lm_head.weight' && cfg.tie_word_embeddings) {
      notes.push('ignored lm_head.weight: tie_word_embeddings is true, so lm_head uses model.embed_tokens.weight');
    } else if (name === 'model.fam_embeddings' && cfg.fam_length === 0 && t.size === 0) {
      // fam.py always has the parameter; with F = 0 it is [0, D] and holds nothing.
      notes.push('ignored model.fam_embeddings: empty, as fam_length is 0');
    } else unexpected.push(`${name} [${t.shape.join(', ')}]`);
  }
  if (missing.length + misShaped.length + wrongType.length + unexpected.length > 0) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing (${missing.length}):${listed(missing)}`);
    if (misShaped.length) parts.push(`wrong shape (${misShaped.length}):${listed(misShaped)}`);
    if (wrongType.length) parts.push(`wrong dtype (${wrongType.length}):${listed(wrongType)}`);
    if (unexpected.length) parts.push(`unexpected (${unexpected.length}):${listed(unexpected)}`);
    throw new ModelFileError(
      source,
      `${source}: the weights do not match config.json (L=${cfg.num_hidden_layers}, D=${cfg.hidden_size}, ` +
        `V=${cfg.vocab_size}, F=${cfg.fam_length}, tie_word_embeddings=${cfg.tie_word_embeddings}, ` +
        `model_type=${cfg.model_type}, q/k/v bias=${cfg.qkv_bias}, o_proj bias=${cfg.o_bias}, q/k norm=${cfg.qk_norm}):\n  ` +
        parts.join('\n  '),
    );
  }
  return notes;
}

/** At most 20 lines of a list (a wrong layer count would otherwise print hundreds). */
function listed(items: string[]): string {
  const shown = items.slice(0, 20).map((s) => `\n    ${s}`).join('');
  return items.length > 20 ? `${shown}\n    ... and ${items.length - 20} more` : shown;
}
