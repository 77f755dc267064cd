/**
 * The contract between the FAM runtime (ONNX sessions that run the model) and everything above it
 * (engine process, CLI, benchmarks). Types only: importing this module loads no onnxruntime.
 */

/** What the user asked for. 'auto' tries WebGPU first, then CPU, and says why WebGPU was skipped. */
export type DeviceChoice = 'auto' | 'webgpu' | 'cpu';

/** What the runtime actually got. Reported everywhere; never a silent fallback. */
export interface DeviceInfo {
  provider: 'webgpu' | 'cpu';
  /** Adapter or CPU description, e.g. "NVIDIA H100 (vulkan)" or "cpu x64, 2 threads". */
  adapter: string;
  /** Floating-point type the graphs compute in: float16 on GPU, float32 on CPU. */
  dtype: 'float32' | 'float16';
  /** Set when 'auto' or an explicit request could not use WebGPU: the reason, verbatim from onnxruntime. */
  fallbackReason?: string;
}

/** Sampling settings for generation. temperature 0 means greedy. */
export interface GenerateOptions {
  maxNewTokens: number;
  temperature?: number;
  topP?: number;
  /**
   * Divides a positive logit (multiplies a negative one) of every token among the last REPETITION_WINDOW
   * generated tokens, before temperature and top-p (CTRL, Keskar et al. 2019; as llama.cpp and transformers do).
   * 1 (the default) is off. Only the answer is penalised, never the prompt, so copying from the workspace is not.
   */
  repetitionPenalty?: number;
  /** Token ids that end generation (the tokenizer's <|endoftext|> is always one). */
  stopTokens?: number[];
  /** Seed for sampling, so answers are reproducible when temperature > 0. */
  seed?: number;
  /** Called with each new token id as soon as it is chosen. */
  onToken?: (id: number) => void;
  signal?: AbortSignal;
}

/** `repetition`: the answer fell into a loop (isRepeatingLoop) and was stopped early. */
export type StopReason = 'stop-token' | 'max-tokens' | 'repetition' | 'cancelled';

export interface GenerateResult {
  tokens: number[];
  stopReason: StopReason;
}

/** Progress of streaming tokens into a state, reported after each block. */
export interface IngestProgress {
  tokensDone: number;
  tokensTotal: number;
}
