/**
 * IEEE 754 binary16 (fp16) and bfloat16 conversions on raw bit patterns, since Node 20 has no Float16Array.
 * fp16 values travel as Uint16Array "half bits" (what onnxruntime's float16 tensors take).
 *
 * fp32 -> fp16 and fp32 -> bf16 round to nearest, ties to even, as hardware and numpy do; overflow gives
 * infinity, values below half the smallest subnormal give (signed) zero, NaN stays NaN (quiet, sign kept).
 * fp16 -> fp32 and bf16 -> fp32 are exact.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** fp32 bit pattern (as an unsigned 32-bit integer) -> fp16 bits, rounding to nearest even. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff; // biased by 127
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Inf stays Inf; NaN keeps its top payload bits and is made quiet so it cannot turn into Inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  const e = exp - 127 + 15; // exponent re-biased for fp16
  if (e >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // fp16 subnormal (or zero): value = m * 2^-24 with m = M >> shift, M the 24-bit significand.
    if (e < -10) return sign; // below 2^-25: rounds to zero
    const M = mant | 0x800000;
    const shift = 14 - e; // 14..24
    const m = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of m gives 0x400, the smallest normal: the encoding stays right.
    return sign | (rem > halfway || (rem === halfway && (m & 1) === 1) ? m + 1 : m);
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa bumps the exponent; out of the largest finite value it gives Inf (0x7c00).
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1) ? h + 1 : h);
}

/** fp16 bits -> fp32 bit pattern (exact). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal: normalise. The leading 1 of mant is at bit p (0..9); value = mant * 2^-24.
  const p = 31 - Math.clz32(mant);
  return (sign | ((p - 24 + 127) << 23) | ((mant << (23 - p)) & 0x7fffff)) >>> 0;
}

/** fp32 bit pattern -> bf16 bits, rounding to nearest even (NaN stays a quiet NaN). */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1); // may carry into the exponent: that is the correct rounding
  return (rounded >>> 16) & 0xffff;
}

/** One number -> fp16 bits. */
export function toHalfBits(v: number): number {
  f32[0] = v;
  return f32BitsToF16Bits(u32[0]!);
}

/** fp16 bits -> number. */
export function fromHalfBits(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0]!;
}

/** bf16 bits -> number. */
export function fromBf16Bits(b: number): number {
  u32[0] = (b << 16) >>> 0;
  return f32[0]!;
}

export function float32ToFloat16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

export function float32ToBfloat16Bits(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16Bits(bits[i]!);
  return out;
}

/** 64K-entry table fp16 bits -> fp32 bits, built on first use (256 KiB). */
let f16Table: Uint32Array | undefined;

export function float16BitsToFloat32(src: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  const table = f16Table;
  const out = new Float32Array(src.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = table[src[i]!]!;
  return out;
}

export function bfloat16BitsToFloat32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i]! << 16;
  return out;
}
