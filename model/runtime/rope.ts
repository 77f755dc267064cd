/**
 * RoPE tables for the graphs: cos and sin [n, d] for integer positions, in Hugging Face Llama's layout
 * (the d/2 frequencies repeated twice). Angles are computed in float64 (ours, as in model/train/fam.py's
 * rope_cos_sin), so positions in the millions keep their precision; the tables are then float32.
 * sin carries rotate_half's sign: its first half is negated, so the graph computes
 * x*cos + [x2, x1]*sin with no negation op.
 */
export function ropeTables(positions: number[], headDim: number, theta: number): { cos: Float32Array; sin: Float32Array } {
  const half = headDim / 2;
  const invFreq = Array.from({ length: half }, (_, i) => 1 / theta ** ((2 * i) / headDim));
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
