/** 8-bit weight blocks for com.microsoft MatMulNBits (model/onnx/fam-graphs.ts quantizeInt8). */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { INT8_BLOCK, quantizeInt8 } from '../../model/onnx/fam-graphs';

describe('quantizeInt8', () => {
  it('lays out B as [N, K/32, 32] with zero point 128 and rounds each value to within half a scale step', () => {
    const K = 64;
    const N = 3;
    const w = new Float32Array(K * N); // [K, N], input-major, as PreparedWeights stores projections
    for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 1.7) * (1 + (i % 5));
    w[5 * N + 1] = 0; // a zero stays exactly zero
    const { q, scales } = quantizeInt8(w, K, N);
    const nb = K / INT8_BLOCK;
    assert.equal(q.length, N * K);
    assert.equal(scales.length, N * nb);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const scale = scales[n * nb + Math.floor(k / INT8_BLOCK)]!;
        const back = (q[n * K + k]! - 128) * scale;
        assert.ok(Math.abs(back - w[k * N + n]!) <= scale / 2 + 1e-6, `w[${k}, ${n}]`);
      }
    }
    assert.equal(q[1 * K + 5], 128);
    // The largest magnitude of each block maps to ±127.
    for (let n = 0; n < N; n++) {
      const block = Array.from(q.subarray(n * K, n * K + INT8_BLOCK), (v) => Math.abs(v - 128));
      assert.equal(Math.max(...block), 127);
    }
  });

  it('refuses an input size that is not a whole number of blocks', () => {
    assert.throws(() => quantizeInt8(new Float32Array(40), 40, 1), /multiple of 32/);
  });
});
