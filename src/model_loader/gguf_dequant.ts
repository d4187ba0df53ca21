// Dequantization of ggml block types to f32, one function per block layout. Values follow ggml's
// reference dequantizers element for element (same scale/min unpacking and element order).
import type { GgmlTypeName } from "./gguf_types";
import { HALF_TO_FLOAT } from "./gguf_half";

export type Dequantizer = (src: Uint8Array, numel: number) => Float32Array;

const QK_K = 256;

/** The block types this loader can expand; every other type is refused by name at load. */
export const DEQUANTIZERS: Partial<Record<GgmlTypeName, Dequantizer>> = {
  F32: dequantF32, F16: dequantF16, BF16: dequantBf16, Q8_0: dequantQ8_0, Q4_0: dequantQ4_0,
  Q4_K: dequantQ4_K, Q5_K: dequantQ5_K, Q6_K: dequantQ6_K,
};

function half(src: Uint8Array, at: number): number {
  return HALF_TO_FLOAT[src[at] | (src[at + 1] << 8)];
}

function dequantF32(src: Uint8Array, n: number): Float32Array {
  return new Float32Array(src.slice(0, n * 4).buffer);
}

function dequantF16(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = half(src, 2 * i);
  return out;
}

function dequantBf16(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = (src[2 * i] | (src[2 * i + 1] << 8)) << 16;
  return out;
}

// block_q8_0: f16 d, int8 qs[32]; w = d * q.
function dequantQ8_0(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += 34, o += 32) {
    const d = half(src, b);
    for (let j = 0; j < 32; j++) out[o + j] = d * ((src[b + 2 + j] << 24) >> 24);
  }
  return out;
}

// block_q4_0: f16 d, qs[16]; byte j holds element j (low nibble) and j + 16 (high); w = d * (q - 8).
function dequantQ4_0(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += 18, o += 32) {
    const d = half(src, b);
    for (let j = 0; j < 16; j++) {
      const q = src[b + 2 + j];
      out[o + j] = d * ((q & 0xf) - 8);
      out[o + j + 16] = d * ((q >> 4) - 8);
    }
  }
  return out;
}

/** The 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes at `s`. */
export function scaleMinK4(src: Uint8Array, s: number, j: number): [number, number] {
  if (j < 4) return [src[s + j] & 63, src[s + j + 4] & 63];
  return [(src[s + j + 4] & 0xf) | ((src[s + j - 4] >> 6) << 4), (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4)];
}

// block_q4_K: f16 d, f16 dmin, scales[12], qs[128]. Each 64 elements share 32 bytes of qs: the low
// nibbles are sub-block 2k, the high nibbles sub-block 2k + 1; w = d * sc * q - dmin * m.
function dequantQ4_K(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += 144, o += QK_K) {
    const d = half(src, b), dmin = half(src, b + 2);
    for (let k = 0; k < 4; k++) {
      const [sc1, m1] = scaleMinK4(src, b + 4, 2 * k), [sc2, m2] = scaleMinK4(src, b + 4, 2 * k + 1);
      const d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
      const q = b + 16 + 32 * k, y = o + 64 * k;
      for (let l = 0; l < 32; l++) {
        out[y + l] = d1 * (src[q + l] & 0xf) - mm1;
        out[y + 32 + l] = d2 * (src[q + l] >> 4) - mm2;
      }
    }
  }
  return out;
}

// block_q5_K: as Q4_K with qh[32] before qs[128]; bit 2k (2k + 1) of qh[l] is the fifth bit of the
// low (high) nibble element l of 64-element group k.
function dequantQ5_K(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += 176, o += QK_K) {
    const d = half(src, b), dmin = half(src, b + 2), qh = b + 16;
    for (let k = 0; k < 4; k++) {
      const [sc1, m1] = scaleMinK4(src, b + 4, 2 * k), [sc2, m2] = scaleMinK4(src, b + 4, 2 * k + 1);
      const d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
      const q = b + 48 + 32 * k, y = o + 64 * k, u1 = 1 << (2 * k), u2 = 2 << (2 * k);
      for (let l = 0; l < 32; l++) {
        out[y + l] = d1 * ((src[q + l] & 0xf) + (src[qh + l] & u1 ? 16 : 0)) - mm1;
        out[y + 32 + l] = d2 * ((src[q + l] >> 4) + (src[qh + l] & u2 ? 16 : 0)) - mm2;
      }
    }
  }
  return out;
}

// block_q6_K: ql[128], qh[64], int8 scales[16], f16 d. Each 128 elements use 64 bytes of ql and 32 of
// qh; element l + 32 r (r = 0..3) takes a nibble of ql and bit pair r of qh[l]; w = d * sc * (q - 32).
function dequantQ6_K(src: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let b = 0, o = 0; o < n; b += 210, o += QK_K) {
    const d = half(src, b + 208);
    for (let h = 0; h < 2; h++) {
      const ql = b + 64 * h, qh = b + 128 + 32 * h, sc = b + 192 + 8 * h, y = o + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4, hi = src[qh + l];
        const q1 = ((src[ql + l] & 0xf) | ((hi & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32] & 0xf) | (((hi >> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l] >> 4) | (((hi >> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32] >> 4) | (((hi >> 6) & 3) << 4)) - 32;
        out[y + l] = d * int8(src[sc + is]) * q1;
        out[y + l + 32] = d * int8(src[sc + is + 2]) * q2;
        out[y + l + 64] = d * int8(src[sc + is + 4]) * q3;
        out[y + l + 96] = d * int8(src[sc + is + 6]) * q4;
      }
    }
  }
  return out;
}

function int8(b: number): number {
  return (b << 24) >> 24;
}
