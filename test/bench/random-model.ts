/**
 * Random models of a given shape, made in memory: speed measurements need the shape, not trained weights
 * (benchmarks and the GPU checks use these; nothing is written to disk).
 */
import { createHash } from 'node:crypto';
import { PLAIN_LLAMA, type FamConfig } from '../../model/loader';
import type { FamSession, FamState, ModelWeights } from '../../model/runtime/fam-session';

/** The shape of the shipped default model (model/weights/default/config.json), for random models of its size. */
export const DEFAULT_SIZE: FamConfig = {
  vocab_size: 16000,
  hidden_size: 512,
  num_hidden_layers: 6,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  intermediate_size: 1280,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  fam_length: 64,
  block_size: 1024,
  memory_segments: 1,
  fam_positions: 'before_block',
  fam_residual: 'none',
  eos_token_id: 0,
  ...PLAIN_LLAMA,
};

/** About 150M parameters, for the benchmark's large row. */
export const LARGE_SIZE: FamConfig = {
  ...DEFAULT_SIZE,
  hidden_size: 1024,
  num_hidden_layers: 10,
  num_attention_heads: 16,
  num_key_value_heads: 4,
  intermediate_size: 2816,
  fam_length: 64,
  block_size: 1024,
};

/** A xorshift generator of approximately normal values (sum of uniforms), fast enough for 150M weights. */
function normalFill(out: Float32Array, std: number, seed: number): Float32Array {
  let x = seed >>> 0 || 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const scale = std * Math.sqrt(12 / 4);
  for (let i = 0; i < out.length; i++) out[i] = (next() + next() + next() + next() - 2) * scale;
  return out;
}

export function parameterCount(cfg: FamConfig): number {
  const D = cfg.hidden_size;
  const d = cfg.head_dim ?? D / cfg.num_attention_heads;
  const perLayer = 2 * D + D * cfg.num_attention_heads * d * 2 + 2 * D * cfg.num_key_value_heads * d + 3 * D * cfg.intermediate_size;
  return cfg.vocab_size * D * (cfg.tie_word_embeddings ? 1 : 2) + cfg.num_hidden_layers * perLayer + D + cfg.fam_length * D;
}

export function randomModel(cfg: FamConfig, seed = 1): ModelWeights {
  const D = cfg.hidden_size;
  const d = cfg.head_dim ?? D / cfg.num_attention_heads;
  const H = cfg.num_attention_heads;
  const G = cfg.num_key_value_heads;
  const I = cfg.intermediate_size;
  const shapes: [string, number, number][] = [['model.embed_tokens.weight', cfg.vocab_size * D, 0.02], ['model.norm.weight', D, 0]];
  if (!cfg.tie_word_embeddings) shapes.push(['lm_head.weight', cfg.vocab_size * D, 0.02]);
  if (cfg.fam_length > 0) shapes.push(['model.fam_embeddings', cfg.fam_length * D, 0.02]);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    shapes.push(
      [`${p}.input_layernorm.weight`, D, 0],
      [`${p}.post_attention_layernorm.weight`, D, 0],
      [`${p}.self_attn.q_proj.weight`, H * d * D, 0.02],
      [`${p}.self_attn.k_proj.weight`, G * d * D, 0.02],
      [`${p}.self_attn.v_proj.weight`, G * d * D, 0.02],
      [`${p}.self_attn.o_proj.weight`, D * H * d, 0.02],
      [`${p}.mlp.gate_proj.weight`, I * D, 0.02],
      [`${p}.mlp.up_proj.weight`, I * D, 0.02],
      [`${p}.mlp.down_proj.weight`, D * I, 0.02],
    );
  }
  const tensors = new Map<string, { toFloat32(): Float32Array }>();
  shapes.forEach(([name, size, std], i) => {
    // std 0 marks a norm weight: ones, as a freshly initialised RMSNorm.
    const data = std === 0 ? new Float32Array(size).fill(1) : normalFill(new Float32Array(size), std, seed * 1000 + i);
    tensors.set(name, { toFloat32: () => data });
  });
  const modelId = createHash('sha256').update(JSON.stringify({ cfg, seed })).digest('hex');
  return { dir: `random:${seed}`, config: cfg, modelId, tensors };
}

/** Reproducible token ids 4..V-1 from an LCG, shared by the bench, the GPU check and torch_ceiling.py. */
export function lcgTokens(n: number, vocab: number, seed: number): Int32Array {
  let x = seed >>> 0;
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    t[i] = 4 + (x % (vocab - 4));
  }
  return t;
}

/**
 * Ingests lcgTokens from position `done` up to `target`, `chunk` tokens a call, releasing each state it
 * replaces; returns the new state. The same token stream as one call would read, whatever the chunk size.
 */
export async function ingestLcgTokens(session: FamSession, state: FamState, done: number, target: number, chunk: number, vocab: number): Promise<FamState> {
  while (done < target) {
    const n = Math.min(chunk, target - done);
    const next = await session.ingest(state, lcgTokens(n, vocab, done + 11));
    session.release(state);
    state = next;
    done += n;
  }
  return state;
}
