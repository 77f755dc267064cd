/**
 * Random models of a given shape, made in memory: speed measurements need the shape, not trained weights
 * (benchmarks and the GPU checks use these).
 */
import { createHash } from 'node:crypto';
import { PLAIN_LLAMA, expectedTensorTable, parseFamConfig, type FamConfig } from '../../model/loader';
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

/**
 * Published shapes: the families' config.json on the Hugging Face hub, with the fields this engine reads, as
 * written there. The engine's own parser turns them into FamConfigs: model_type qwen2 brings the q/k/v biases,
 * and the FAM fields take the loader's defaults for a checkpoint without trained FAM (fam_length 0, i.e. BSWA,
 * block_size 1024, memory_segments 0).
 */
const QWEN2_5 = {
  model_type: 'qwen2',
  hidden_act: 'silu',
  vocab_size: 151936,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000,
  tie_word_embeddings: true,
  bos_token_id: 151643,
  eos_token_id: 151643,
  sliding_window: 32768,
  use_sliding_window: false,
};
export const QWEN2_5_JSON = {
  '0.5b': { ...QWEN2_5, hidden_size: 896, num_hidden_layers: 24, num_attention_heads: 14, intermediate_size: 4864 },
  '1.5b': { ...QWEN2_5, hidden_size: 1536, num_hidden_layers: 28, num_attention_heads: 12, intermediate_size: 8960 },
};
export const QWEN2_5_0_5B: FamConfig = parseFamConfig(QWEN2_5_JSON['0.5b'], 'Qwen2.5-0.5B config.json');
export const QWEN2_5_1_5B: FamConfig = parseFamConfig(QWEN2_5_JSON['1.5b'], 'Qwen2.5-1.5B config.json');

/** A xorshift generator of approximately normal values (sum of uniforms), fast enough for 1.5B weights. */
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

/** Every weight the config needs (the loader's tensor table, so family extras such as biases are included). */
export function parameterCount(cfg: FamConfig): number {
  let n = 0;
  for (const shape of expectedTensorTable(cfg).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Random weights for every tensor of the config's table: norm weights are ones (a freshly initialised
 * RMSNorm), everything else normal with std 0.02. Each tensor is generated when it is asked for, the same
 * values every time, so the model itself holds no memory: a 1.5B model would otherwise keep 6 GB of float32
 * next to the engine's own prepared copy.
 */
export function randomModel(cfg: FamConfig, seed = 1): ModelWeights {
  const tensors = new Map<string, { toFloat32(): Float32Array }>();
  [...expectedTensorTable(cfg)].forEach(([name, shape], i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const isNorm = /norm\.weight$/.test(name);
    tensors.set(name, {
      toFloat32: () => (isNorm ? new Float32Array(size).fill(1) : normalFill(new Float32Array(size), 0.02, seed * 1000 + i)),
    });
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
