// Quantization of f32 rows into ggml block types, for the GGUF writer. Q8_0 is ggml's reference
// quantizer bit for bit (d = amax / 127 in f32, round half away from zero). The 4/5/6-bit types use a
// plain range fit per sub-block (no error-weighted search as ggml's quantizers do): the format is exact,
// only the choice of scales is simpler, so any reader dequantizes our blocks to the same values.
import type { GgmlTypeName } from "./gguf_types";
import { HALF_TO_FLOAT, floatToHalf, toBf16Bytes, toF16Bytes } from "./gguf_half";

export type Quantizer = (x: Float32Array) => Uint8Array;

const f = Math.fround;
const QK_K = 256;

/** The types the writer can produce. Input length must be a multiple of the type's block size. */
export const QUANTIZERS: Partial<Record<GgmlTypeName, Quantizer>> = {
  F32: (x) => new Uint8Array(x.slice().buffer), F16: toF16Bytes, BF16: toBf16Bytes,
  Q8_0: quantQ8_0, Q4_0: quantQ4_0, Q4_K: quantQ4_K, Q5_K: quantQ5_K, Q6_K: quantQ6_K,
};

/** roundf: half away from zero. */
function roundAway(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

function setHalf(out: Uint8Array, at: number, v: number): number {
  const h = floatToHalf(v);
  out[at] = h & 0xff;
  out[at + 1] = h >> 8;
  return HALF_TO_FLOAT[h];
}

function quantQ8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  for (let o = 0, b = 0; o < x.length; o += 32, b += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[o + j]));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    setHalf(out, b, d);
    for (let j = 0; j < 32; j++) out[b + 2 + j] = roundAway(f(x[o + j] * id)) & 0xff;
  }
  return out;
}

function quantQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  for (let o = 0, b = 0; o < x.length; o += 32, b += 18) {
    let max = 0;
    for (let j = 0; j < 32; j++) if (Math.abs(x[o + j]) > Math.abs(max)) max = x[o + j];
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    setHalf(out, b, d);
    const q = (j: number) => Math.min(15, Math.trunc(f(x[o + j] * id) + 8.5));
    for (let j = 0; j < 16; j++) out[b + 2 + j] = q(j) | (q(j + 16) << 4);
  }
  return out;
}

/** Per 32-element sub-block of a 256 block: scale and (non-negative) min so x ≈ scale * q - min, q in [0, levels]. */
function rangeFit(x: Float32Array, o: number, levels: number): { scales: number[]; mins: number[] } {
  const scales: number[] = [], mins: number[] = [];
  for (let j = 0; j < 8; j++) {
    let lo = Infinity, hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      const v = x[o + 32 * j + l];
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    lo = Math.min(lo, 0);
    scales.push((hi - lo) / levels);
    mins.push(-lo);
  }
  return { scales, mins };
}

/** Packs 8 six-bit scales and mins into 12 bytes (the inverse of scaleMinK4). */
function packScalesK4(out: Uint8Array, s: number, ls: number[], lm: number[]): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      out[s + j] = ls[j];
      out[s + j + 4] = lm[j];
    } else {
      out[s + j + 4] = (ls[j] & 0xf) | ((lm[j] & 0xf) << 4);
      out[s + j - 4] |= (ls[j] >> 4) << 6;
      out[s + j] |= (lm[j] >> 4) << 6;
    }
  }
}

/**
 * Shared Q4_K / Q5_K super-block: writes d, dmin and the packed scales at `b`, returns each element's
 * level in [0, levels] computed against the rounded (stored) scales, as a reader will see them.
 */
function superBlockK(x: Float32Array, o: number, out: Uint8Array, b: number, levels: number): Uint8Array {
  const { scales, mins } = rangeFit(x, o, levels);
  const maxScale = Math.max(...scales), maxMin = Math.max(...mins);
  const ls = scales.map((s) => (maxScale > 0 ? Math.min(63, Math.round((63 / maxScale) * s)) : 0));
  const lm = mins.map((m) => (maxMin > 0 ? Math.min(63, Math.round((63 / maxMin) * m)) : 0));
  const d = setHalf(out, b, maxScale / 63);
  const dmin = setHalf(out, b + 2, maxMin / 63);
  packScalesK4(out, b + 4, ls, lm);
  const q = new Uint8Array(QK_K);
  for (let j = 0; j < 8; j++) {
    const dd = d * ls[j], dm = dmin * lm[j];
    if (dd === 0) continue;
    for (let l = 0; l < 32; l++) q[32 * j + l] = Math.max(0, Math.min(levels, Math.round((x[o + 32 * j + l] + dm) / dd)));
  }
  return q;
}

function quantQ4_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 144);
  for (let o = 0, b = 0; o < x.length; o += QK_K, b += 144) {
    const q = superBlockK(x, o, out, b, 15);
    for (let k = 0; k < 4; k++) {
      for (let l = 0; l < 32; l++) out[b + 16 + 32 * k + l] = q[64 * k + l] | (q[64 * k + 32 + l] << 4);
    }
  }
  return out;
}

function quantQ5_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 176);
  for (let o = 0, b = 0; o < x.length; o += QK_K, b += 176) {
    const q = superBlockK(x, o, out, b, 31);
    for (let k = 0; k < 4; k++) {
      for (let l = 0; l < 32; l++) {
        const lo = q[64 * k + l], hi = q[64 * k + 32 + l];
        out[b + 48 + 32 * k + l] = (lo & 0xf) | ((hi & 0xf) << 4);
        out[b + 16 + l] |= ((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1));
      }
    }
  }
  return out;
}

function quantQ6_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / QK_K) * 210);
  for (let o = 0, b = 0; o < x.length; o += QK_K, b += 210) {
    const scales: number[] = [];
    for (let j = 0; j < 16; j++) {
      let amax = 0;
      for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(x[o + 16 * j + l]));
      scales.push(amax / 31);
    }
    const maxScale = Math.max(...scales);
    const d = setHalf(out, b + 208, maxScale / 127);
    const q = new Uint8Array(QK_K).fill(32);
    for (let j = 0; j < 16; j++) {
      const sc = d > 0 ? Math.min(127, Math.round(scales[j] / d)) : 0;
      out[b + 192 + j] = sc;
      if (sc === 0) continue;
      for (let l = 0; l < 16; l++) q[16 * j + l] = Math.max(-32, Math.min(31, Math.round(x[o + 16 * j + l] / (d * sc)))) + 32;
    }
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 32; l++) {
        const e = 128 * h + l;
        out[b + 64 * h + l] = (q[e] & 0xf) | ((q[e + 64] & 0xf) << 4);
        out[b + 64 * h + l + 32] = (q[e + 32] & 0xf) | ((q[e + 96] & 0xf) << 4);
        out[b + 128 + 32 * h + l] = (q[e] >> 4) | ((q[e + 32] >> 4) << 2) | ((q[e + 64] >> 4) << 4) | ((q[e + 96] >> 4) << 6);
      }
    }
  }
  return out;
}
