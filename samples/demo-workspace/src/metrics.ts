/**
 * Latency histograms for the /stats endpoint: fixed logarithmic buckets, so recording is O(1) and the
 * memory use does not grow with traffic.
 */

/** Bucket upper bounds in milliseconds: 1, 2, 4, ... 65536. */
const BOUNDS = Array.from({ length: 17 }, (_, i) => 2 ** i);

export class Histogram {
  private readonly counts = new Array<number>(BOUNDS.length + 1).fill(0);
  private total = 0;

  /** Records one observation in milliseconds. */
  record(ms: number): void {
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]!) i++;
    this.counts[i]!++;
    this.total++;
  }

  /**
   * Returns the upper bound of the bucket that holds the given quantile (0..1), or 0 when nothing was
   * recorded. The answer is exact to within one bucket, which is enough to see a slow worker.
   */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    let seen = 0;
    const target = q * this.total;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return BOUNDS[i] ?? Infinity;
    }
    return Infinity;
  }

  get count(): number {
    return this.total;
  }
}

/** Formats p50/p90/p99 of a histogram as "p50 4ms · p90 32ms · p99 256ms". */
export function formatPercentiles(h: Histogram): string {
  return [0.5, 0.9, 0.99].map((q) => `p${Math.round(q * 100)} ${h.quantile(q)}ms`).join(' · ');
}
