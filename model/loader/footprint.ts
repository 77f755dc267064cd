/**
 * How big a model is, and how much memory the engine needs to run it, from its config alone (no weight is read):
 * what the model picker shows next to what the machine has. The runtime decides where the CPU weights live with
 * cpuWeightPlacement (model/runtime/fam-session.ts defaultPlacement), so the estimate follows the same rule.
 */
import type { FamConfig } from './config';
import { expectedTensorTable } from './weights';

/** Weights the engine runs: every tensor of the config's table (a tied lm_head counts once). */
export function parameterCount(cfg: FamConfig): number {
  let n = 0;
  for (const shape of expectedTensorTable(cfg).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * onnxruntime parses a model from one protobuf, which cannot exceed 2 GiB: what weights may take of it, 64 MiB
 * left for the graphs' other constants (masks, shapes).
 */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 64 * 2 ** 20;

/**
 * Where the CPU graphs get their float32 weights: as initializers, which onnxruntime prepacks (faster, about
 * four copies in memory), while they fit in one graph; as graph inputs (one copy) above that. Qwen2.5-0.5B's
 * 1.98 GB fits, 1.5B's 6.2 GB does not (docs/perf.md, "Sizes and devices").
 */
export function cpuWeightPlacement(cfg: FamConfig): 'initializers' | 'inputs' {
  return parameterCount(cfg) * Float32Array.BYTES_PER_ELEMENT <= PROTOBUF_LIMIT_BYTES ? 'initializers' : 'inputs';
}

/** Estimated peak memory of the engine process with a model, per device. */
export interface MemoryEstimate {
  /** Host memory (RSS) on the CPU: float32 weights where `placement` puts them, the files, working buffers. */
  cpu: { bytes: number; placement: 'initializers' | 'inputs' };
  /** GPU memory through WebGPU: float16 weights and working buffers (the host holds the files besides). */
  webgpu: { bytes: number };
}

const MiB = 2 ** 20;

/**
 * Peak memory while reading and answering, fitted to the bench's measurements (docs/perf.md: peak RSS and GPU
 * memory at 4k tokens of the default model, the 129M "large" model and the Qwen2.5-0.5B and -1.5B shapes, on the
 * 2-core EPYC and one H100/H200), where it lands within 5% of each:
 *
 *   CPU, initializers  95 MiB + files + 3.8 x float32 weights + 1.33 x A(4 bytes)   (default, large, 0.5B)
 *   CPU, graph inputs  95 MiB + files + 1.0 x float32 weights + 0.55 x A(4 bytes)   (1.5B, the one measured row)
 *   WebGPU             128 MiB + 2.16 x float16 weights + 0.65 x A(2 bytes)          (all four)
 *
 * where A = layers x heads x (F + B) x (m*B + F + B) elements: a block step's attention scores in every layer,
 * which is what makes a model with a long FAM and ring (the default, B 1024 and S 2112) need far more than its
 * weights. `weightFileBytes` are the checkpoint's files, which the loader keeps in memory (its tensors are views
 * of them). An estimate: onnxruntime's arenas and the machine's allocator move the real figure.
 */
export function estimateMemory(cfg: FamConfig, weightFileBytes: number): MemoryEstimate {
  const params = parameterCount(cfg);
  const F = cfg.fam_length;
  const B = cfg.block_size;
  const scores = cfg.num_hidden_layers * cfg.num_attention_heads * (F + B) * (cfg.memory_segments * B + F + B);
  const placement = cpuWeightPlacement(cfg);
  const cpu = placement === 'initializers'
    ? 95 * MiB + weightFileBytes + 3.8 * params * 4 + 1.33 * scores * 4
    : 95 * MiB + weightFileBytes + 1.0 * params * 4 + 0.55 * scores * 4;
  const webgpu = 128 * MiB + 2.16 * params * 2 + 0.65 * scores * 2;
  return { cpu: { bytes: Math.round(cpu), placement }, webgpu: { bytes: Math.round(webgpu) } };
}
