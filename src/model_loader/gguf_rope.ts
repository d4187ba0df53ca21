// RoPE scaling from GGUF. Linear scaling is metadata ({arch}.rope.scaling.type/factor). Llama 3.1-style
// scaling is not: the converter stores its per-frequency divisors as the tensor rope_freqs.weight. Those
// divisors depend only on factor, low_freq_factor / original_max_position_embeddings and
// high_freq_factor / original_max_position_embeddings, so the three are recovered from the smooth band
// (low_freq_factor taken as 1, which every Llama 3.x uses; with a single band point high_freq_factor is
// taken as the converter's default 4) and checked by recomputing every divisor.
import { ModelLoadError } from "./errors";
import type { Llama3RopeScaling, RopeScaling } from "./model_config";

const TOLERANCE = 1e-4;

/** Divisors of each inverse frequency under Llama 3 scaling, computed as the converter computes them. */
export function llama3FreqFactors(s: Llama3RopeScaling, theta: number, headDim: number): Float64Array {
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  const out = new Float64Array(headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const wavelen = (2 * Math.PI) / invFreq(theta, i, headDim);
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

function invFreq(theta: number, i: number, headDim: number): number {
  return 1 / theta ** ((2 * i) / headDim);
}

/** The scaling whose divisors are `factors` (rope_freqs.weight), or a ModelLoadError naming the tensor. */
export function ropeScalingFromFreqFactors(path: string, factors: Float32Array, theta: number, headDim: number): RopeScaling | null {
  const fail = (detail: string): never => {
    throw new ModelLoadError(path, detail, "rope_freqs.weight");
  };
  if (factors.length !== headDim / 2) fail(`has ${factors.length} entries, expected head_dim / 2 = ${headDim / 2}`);
  const factor = Math.max(...factors);
  const near = (a: number, b: number) => Math.abs(a - b) <= TOLERANCE * Math.max(1, Math.abs(b));
  if (factors.every((v) => near(v, 1))) return null;
  if (factors.every((v) => near(v, factor))) return { type: "linear", factor };
  const band: { x: number; s: number }[] = [];
  factors.forEach((v, i) => {
    if (!near(v, 1) && !near(v, factor)) band.push({ x: invFreq(theta, i, headDim) / (2 * Math.PI), s: (1 / v - 1 / factor) / (1 - 1 / factor) });
  });
  const scaling = fitBand(band, factors, theta, headDim, factor) ?? fail("does not look like Llama 3 RoPE scaling (no band between the kept and the scaled frequencies)");
  const expect = llama3FreqFactors(scaling, theta, headDim);
  const bad = expect.findIndex((v, i) => !near(factors[i], v));
  if (bad >= 0) fail(`entry ${bad} is ${factors[bad]}, but the best Llama 3 scaling fit gives ${expect[bad]}: unsupported RoPE frequency factors`);
  return scaling;
}

// smooth = orig * x - low, over (high - low), with x = 1 / wavelen: a line in x.
function fitBand(band: { x: number; s: number }[], factors: Float32Array, theta: number, headDim: number, factor: number): Llama3RopeScaling | null {
  if (band.length >= 2) {
    const a = band[0], b = band[band.length - 1];
    const slope = (b.s - a.s) / (b.x - a.x), intercept = a.s - slope * a.x;
    if (!(intercept < 0)) return null;
    const orig = roundNear(-slope / intercept); // low = 1
    return { type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: roundNear(orig * (1 - intercept) / slope), originalMaxPositionEmbeddings: orig };
  }
  if (band.length === 1) {
    const { x, s } = band[0];
    return { type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: roundNear((3 * s + 1) / x) };
  }
  // No point in the band: any boundary between the last kept and the first scaled wavelength fits.
  const firstScaled = factors.findIndex((v) => v > 1 + TOLERANCE);
  if (firstScaled <= 0) return null;
  const wKept = (2 * Math.PI) / invFreq(theta, firstScaled - 1, headDim), wScaled = (2 * Math.PI) / invFreq(theta, firstScaled, headDim);
  // low wavelength (orig) and high wavelength (orig / high) strictly between the two.
  const orig = Math.sqrt(wKept * wScaled);
  return { type: "llama3", factor, lowFreqFactor: 1, highFreqFactor: Math.sqrt(orig / wKept), originalMaxPositionEmbeddings: orig };
}

/** Snaps float noise off values that were integers (or simple decimals) in the original config. */
function roundNear(v: number): number {
  const r = Math.round(v * 1000) / 1000;
  return Math.abs(r - v) <= 1e-6 * Math.max(1, Math.abs(v)) ? r : v;
}
