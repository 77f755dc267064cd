/** Choosing the next token from logits: greedy, or temperature + top-p (nucleus) with a seeded generator. */

/** mulberry32: a small, fast, seedable PRNG, so sampled answers are reproducible for a given seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of the latest generated tokens the repetition penalty looks at (llama.cpp's default). */
export const REPETITION_WINDOW = 64;

/**
 * The logits with the repetition penalty applied to the tokens among the last REPETITION_WINDOW of `generated`:
 * a copy when anything changes, so logits owned by a caller stay as they were.
 */
export function penalizeRepeats(logits: Float32Array, generated: readonly number[], penalty: number): Float32Array {
  if (penalty === 1 || generated.length === 0) return logits;
  const out = logits.slice();
  for (const id of new Set(generated.slice(-REPETITION_WINDOW))) {
    const x = out[id]!;
    out[id] = x > 0 ? x / penalty : x * penalty;
  }
  return out;
}

/** Longest loop (in tokens) that isRepeatingLoop looks for. */
const MAX_LOOP_PERIOD = 64;
/** A loop stops generation after this many whole turns, and only once its turns cover this many tokens. */
const MIN_LOOP_TURNS = 3;
const MIN_LOOP_TOKENS = 24;

/**
 * Whether the generated tokens end in a loop: the same 1-64 tokens at least three times in a row, and together
 * at least 24 tokens (so a markdown rule `----` or a short list of equal items is no loop). A small model's
 * greedy decoding falls into such loops; the penalty above only delays them.
 */
export function isRepeatingLoop(generated: readonly number[]): boolean {
  const n = generated.length;
  for (let period = 1; period <= MAX_LOOP_PERIOD && period * MIN_LOOP_TURNS <= n; period++) {
    const turns = Math.max(MIN_LOOP_TURNS, Math.ceil(MIN_LOOP_TOKENS / period));
    const span = period * turns;
    if (span > n) continue;
    let loops = true;
    for (let i = n - span; i < n - period && loops; i++) loops = generated[i] === generated[i + period];
    if (loops) return true;
  }
  return false;
}

export function argmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  return best;
}

/**
 * temperature ≤ 0 → argmax. Otherwise softmax(logits / temperature), keep the smallest set of most likely
 * tokens whose probability reaches topP, renormalise and draw.
 */
export function sampleToken(logits: Float32Array, temperature: number, topP: number, random: () => number): number {
  if (!(temperature > 0)) return argmax(logits);
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const p = Math.exp((logits[i]! - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  const order = Array.from(probs.keys()).sort((a, b) => probs[b]! - probs[a]!);
  const limit = Math.min(Math.max(topP, 0), 1) * sum;
  let kept = 0;
  let cum = 0;
  while (kept < order.length && (kept === 0 || cum < limit)) cum += probs[order[kept++]!]!;
  let r = random() * cum;
  for (let i = 0; i < kept; i++) {
    r -= probs[order[i]!]!;
    if (r <= 0) return order[i]!;
  }
  return order[kept - 1]!;
}
