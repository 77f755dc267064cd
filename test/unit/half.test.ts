import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  bfloat16BitsToFloat32,
  f16BitsToF32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  fromBf16Bits,
  fromHalfBits,
  toHalfBits,
} from '../../model/loader/half';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (v: number): number => {
  f32[0] = v;
  return u32[0]!;
};
const floatOf = (bits: number): number => {
  u32[0] = bits >>> 0;
  return f32[0]!;
};

/** The value of fp16 bits, computed from the definition in doubles. */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * m * 2 ** -24;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/**
 * Reference fp32 -> fp16 by search over the 31744 finite non-negative halves: nearest value, ties to the even
 * bit pattern; 0x7c00 stands for 65536 when rounding (the next step past the largest finite half).
 */
const HALF_VALUES = Float64Array.from({ length: 0x7c01 }, (_, h) => (h === 0x7c00 ? 65536 : halfValue(h)));
function referenceHalf(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (HALF_VALUES[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - HALF_VALUES[lo]!;
  const dHi = HALF_VALUES[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | pick;
}

describe('UnitTests - fp16 / bf16 conversion', () => {
  it('fp32 -> fp16: edge cases (zero, subnormals, ties, overflow, inf, nan)', () => {
    const cases: [number, number][] = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [65504, 0x7bff], // largest finite half
      [65519.99, 0x7bff], // just below the tie
      [65520, 0x7c00], // tie between 65504 and "65536": the even pattern is Inf
      [1e6, 0x7c00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal: even is 0
      [2 ** -25 * 1.5, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal steps: even is 2
      [2 ** -26, 0x0000],
      [2 ** -14 - 2 ** -25, 0x0400], // tie between largest subnormal 0x3ff and smallest normal: even is 0x400
      [1 + 2 ** -11, 0x3c00], // tie: round to even (down)
      [1 + 3 * 2 ** -11, 0x3c02], // tie: round to even (up)
      [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
      [0.1, 0x2e66],
    ];
    for (const [x, want] of cases) {
      assert.equal(toHalfBits(x), want, `toHalfBits(${x}) = 0x${toHalfBits(x).toString(16)}, want 0x${want.toString(16)}`);
    }
    const nan = toHalfBits(NaN);
    assert.equal(nan & 0x7c00, 0x7c00, 'NaN keeps an all-ones exponent');
    assert.notEqual(nan & 0x3ff, 0, 'NaN keeps a non-zero mantissa');
    // A signalling NaN whose payload lives only in the low bits must not turn into Inf.
    assert.ok(Number.isNaN(fromHalfBits(f32BitsToF16Bits(0x7f800001))));
    assert.equal(f32BitsToF16Bits(0xff800001) & 0x8000, 0x8000, 'NaN keeps its sign');
  });

  it('fp32 -> fp16 agrees with a search over all halves on 200k random and 60k tie inputs', () => {
    let s = 12345;
    const rand = (): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return s >>> 0;
    };
    const inputs: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      // Exponents around the fp16 range (biased 90..150) so that subnormals and overflow are well covered.
      const exp = 90 + (rand() % 61);
      inputs.push(((rand() & 0x80000000) | (exp << 23) | (rand() & 0x7fffff)) >>> 0);
    }
    for (let h = 0; h < 0x7c00; h += 1) {
      if (h % 2 === 0 || h < 0x400) inputs.push(bitsOf((HALF_VALUES[h]! + HALF_VALUES[h + 1]!) / 2)); // midpoints
    }
    for (const bits of inputs) {
      const x = floatOf(bits);
      const got = f32BitsToF16Bits(bits);
      assert.equal(got, referenceHalf(x), `x=${x} (0x${bits.toString(16)}): got 0x${got.toString(16)}, want 0x${referenceHalf(x).toString(16)}`);
    }
  });

  it('fp16 -> fp32 is exact for all 65536 patterns and round-trips', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const table = float16BitsToFloat32(all);
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      const got = floatOf(f16BitsToF32Bits(h));
      if (Number.isNaN(want)) {
        assert.ok(Number.isNaN(got) && Number.isNaN(table[h]!), `0x${h.toString(16)} should be NaN`);
        continue;
      }
      assert.ok(Object.is(got, want), `0x${h.toString(16)}: got ${got}, want ${want}`);
      assert.ok(Object.is(table[h], want), `table 0x${h.toString(16)}`);
      assert.equal(f32BitsToF16Bits(f16BitsToF32Bits(h)), h, `round trip 0x${h.toString(16)}`);
    }
  });

  it('bulk fp32 -> fp16 matches the scalar conversion', () => {
    const src = Float32Array.of(0, -0, 1.5, 65520, 2 ** -25, 3 * 2 ** -25, -1e-8, 123.456);
    assert.deepEqual(Array.from(float32ToFloat16Bits(src)), Array.from(src, (v) => toHalfBits(v)));
    // Works on a view that does not start at offset 0.
    const big = new Float32Array(10).fill(2);
    assert.deepEqual(Array.from(float32ToFloat16Bits(big.subarray(3, 5))), [0x4000, 0x4000]);
  });

  it('bf16 -> fp32 is exact (subnormals, inf, nan) and fp32 -> bf16 rounds ties to even', () => {
    assert.equal(fromBf16Bits(0x3f80), 1);
    assert.equal(fromBf16Bits(0xc040), -3);
    assert.equal(fromBf16Bits(0x7f80), Infinity);
    assert.equal(fromBf16Bits(0xff80), -Infinity);
    assert.ok(Number.isNaN(fromBf16Bits(0x7fc0)));
    assert.ok(Object.is(fromBf16Bits(0x8000), -0));
    assert.equal(fromBf16Bits(0x0001), 2 ** -133); // smallest bf16 subnormal
    assert.equal(fromBf16Bits(0x7f7f), (2 - 2 ** -7) * 2 ** 127); // largest finite
    assert.deepEqual(Array.from(bfloat16BitsToFloat32(Uint16Array.of(0x3f80, 0x0001, 0xff80))), [1, 2 ** -133, -Infinity]);

    assert.equal(f32BitsToBf16Bits(0x3f808000), 0x3f80, 'tie rounds down to even');
    assert.equal(f32BitsToBf16Bits(0x3f818000), 0x3f82, 'tie rounds up to even');
    assert.equal(f32BitsToBf16Bits(0x3f808001), 0x3f81, 'above the tie rounds up');
    assert.equal(f32BitsToBf16Bits(0x7f7fffff), 0x7f80, 'largest fp32 rounds to Inf');
    assert.equal(f32BitsToBf16Bits(0xff800000), 0xff80);
    const nan = f32BitsToBf16Bits(0x7f800001);
    assert.ok(Number.isNaN(fromBf16Bits(nan)), 'a low-payload NaN stays NaN');
  });
});
