/** Numeric comparison for parity tests (onnxruntime's assertFloatEqual habit): one place, tolerances as data. */
import tolerances from './tolerances.json';

/** ‖actual − expected‖₂ / ‖expected‖₂; NaN anywhere gives Infinity so it can never pass. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(a) || Number.isNaN(e)) return Infinity;
    diff += (a - e) ** 2;
    norm += e ** 2;
  }
  return norm === 0 ? Math.sqrt(diff) : Math.sqrt(diff / norm);
}

/** Throws with the tensor's name, the error and the first worst index when the relative error is too large. */
export function assertClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): number {
  const err = relativeError(actual, expected);
  if (!(err <= tolerance)) {
    let worst = 0;
    for (let i = 1; i < expected.length; i++) {
      if (Math.abs(actual[i]! - expected[i]!) > Math.abs(actual[worst]! - expected[worst]!)) worst = i;
    }
    throw new Error(`${name}: relative error ${err.toExponential(3)} > ${tolerance} (worst at [${worst}]: ${actual[worst]} vs ${expected[worst]})`);
  }
  return err;
}

export interface Tolerances {
  /** TypeScript engine on CPU (float32) against the PyTorch reference (float32). */
  cpuVsReference: number;
  /** TypeScript engine on CPU against Hugging Face transformers' LlamaForCausalLM. */
  cpuVsTransformers: number;
  /** WebGPU (float16) against CPU (float32). */
  gpuVsCpu: number;
}

export const TOLERANCES: Tolerances = tolerances;
