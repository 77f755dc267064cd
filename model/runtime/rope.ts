/**
 * RoPE tables for the graphs: cos and sin [n, d] for integer positions, in Hugging Face Llama's layout
 * (the d/2 frequencies repeated twice). Angles are computed in float64 (ours, as in model/train/fam.py's
 * rope_cos_sin), so positions in the millions keep their precision; the tables are then float32.
 * sin carries rotate_half's sign: its first half is negated, so the graph computes
 * x*cos + [x2, x1]*sin with no negation op.
 */
import { headDim, type FamConfig } from '../loader';

/**
 * The d/2 rotation frequencies of a config: theta^(-2i/d), and with Llama 3 scaling (rope_scaling "llama3")
 * wavelengths longer than original_max_position_embeddings / low_freq_factor divided by `factor`, shorter than
 * original / high_freq_factor kept, and the band between blended linearly in original/wavelength
 * (Llama 3 paper's long-context recipe). fam.py's rope_inv_freq is the twin.
 */
export function ropeInvFreq(cfg: FamConfig): number[] {
  const d = headDim(cfg);
  const base = Array.from({ length: d / 2 }, (_, i) => 1 / cfg.rope_theta ** ((2 * i) / d));
  const s = cfg.rope_scaling;
  if (!s) return base;
  const original = s.original_max_position_embeddings;
  return base.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < original / s.high_freq_factor) return f;
    if (wavelength > original / s.low_freq_factor) return f / s.factor;
    const smooth = (original / wavelength - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    return (1 - smooth) * (f / s.factor) + smooth * f;
  });
}

/** cos/sin [positions.length, d] for the frequencies `invFreq` (d/2 of them). */
export function ropeTables(positions: number[], invFreq: readonly number[]): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const headDim = 2 * half;
  const cos = new Float32Array(positions.length * headDim);
  const sin = new Float32Array(positions.length * headDim);
  positions.forEach((p, r) => {
    const row = r * headDim;
    for (let i = 0; i < half; i++) {
      const angle = p * invFreq[i]!;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[row + i] = c;
      cos[row + half + i] = c;
      sin[row + i] = -s;
      sin[row + half + i] = s;
    }
  });
  return { cos, sin };
}
