/**
 * RoPE inverse frequencies, computed in f32 exactly as HF transformers computes them (default, linear,
 * llama3, longrope), with partial rotary and Gemma 3's separate base for sliding-window layers.
 */
import type { LongRopeScaling, ModelConfig, RopeScaling } from "../model_loader/model_config";

const f = Math.fround;

/** Which of a model's RoPE tables: Gemma 3's sliding-window layers have their own. */
export interface RopeOptions {
  local?: boolean;
  /** The engine's max_model_len: longrope picks its long factors when it exceeds the original context. */
  maxModelLen?: number;
}

/** Dimensions of each head RoPE rotates (Phi-3 partial_rotary_factor), always even. */
export function rotaryDim(config: ModelConfig): number {
  return config.partialRotaryFactor === undefined ? config.headDim : Math.floor(config.headDim * config.partialRotaryFactor);
}

/**
 * head_dim / 2 frequencies for the kernels' rotate_half pairs (i, i + head_dim / 2). With partial rotary
 * only the first rotaryDim / 2 are non-zero: the rest leave their pairs unrotated (see partialRotaryPermutation).
 */
export function computeInvFreq(config: ModelConfig, opts: RopeOptions = {}): Float32Array {
  const { theta, scaling } = ropeOf(config, opts);
  const dim = rotaryDim(config);
  const inv = new Float32Array(config.headDim / 2);
  const base = baseInvFreq(theta, dim, scaling?.type === "longrope" ? longRopeFactors(scaling, maxModelLen(config, opts)) : null);
  inv.set(scaled(base, scaling));
  return inv;
}

/** The factor HF multiplies cos and sin by (longrope's attention factor); 1 for other types. */
export function ropeAttentionFactor(config: ModelConfig, opts: RopeOptions = {}): number {
  const s = ropeOf(config, opts).scaling;
  return s?.type === "longrope" ? s.attentionFactor : 1;
}

function ropeOf(config: ModelConfig, opts: RopeOptions): { theta: number; scaling: RopeScaling | null } {
  const local = opts.local ? config.gemma?.localRope : null;
  return local ?? { theta: config.ropeTheta, scaling: config.ropeScaling };
}

function maxModelLen(config: ModelConfig, opts: RopeOptions): number {
  return opts.maxModelLen ?? config.maxPositionEmbeddings;
}

// As vLLM does: one choice for the engine's lifetime, so a sequence's keys never mix the two.
function longRopeFactors(s: LongRopeScaling, maxLen: number): number[] {
  return maxLen > s.originalMaxPositionEmbeddings ? s.longFactor : s.shortFactor;
}

// 1 / (ext[i] * theta^(2i / dim)), each step rounded to f32 as torch does.
function baseInvFreq(theta: number, dim: number, ext: number[] | null): Float32Array {
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const p = f(Math.pow(theta, f(f(2 * i) / dim)));
    inv[i] = f(1 / (ext === null ? p : f(f(ext[i]) * p)));
  }
  return inv;
}

function scaled(inv: Float32Array, s: RopeScaling | null): Float32Array {
  if (s === null || s.type === "longrope") return inv;
  if (s.type === "linear") return inv.map((x) => f(x / s.factor));
  return llama3Scaled(inv, s.factor, s.lowFreqFactor, s.highFreqFactor, s.originalMaxPositionEmbeddings);
}

/** Llama 3.1: keep high frequencies, divide low ones by `factor`, interpolate smoothly in between. */
function llama3Scaled(inv: Float32Array, factor: number, low: number, high: number, oldCtx: number): Float32Array {
  const lowFreqWavelen = oldCtx / low;
  const highFreqWavelen = oldCtx / high;
  return inv.map((x) => {
    const wavelen = f((2 * Math.PI) / x);
    if (wavelen > lowFreqWavelen) return f(x / factor);
    if (wavelen < highFreqWavelen) return x;
    const smooth = f((oldCtx / wavelen - low) / (high - low));
    return f(f((1 - smooth) * f(x / factor)) + f(smooth * x));
  });
}

/**
 * Partial rotary on the kernels' full-head rotate_half: HF rotates pairs (i, i + r/2) of the first r
 * dimensions and passes the rest through. Reordering each q and k head as [rot lo | pass lo | rot hi |
 * pass hi] puts those pairs at (i, i + head_dim/2), and the zero frequencies computeInvFreq gives the
 * pass pairs leave them as they are. q·k is unchanged by a shared reordering, so only q_proj's and
 * k_proj's rows move. perm[newIndex] = original index within a head.
 */
export function partialRotaryPermutation(headDim: number, rot: number): Int32Array {
  const half = headDim / 2, rh = rot / 2, ph = (headDim - rot) / 2;
  const perm = new Int32Array(headDim);
  for (let i = 0; i < half; i++) {
    perm[i] = i < rh ? i : rot + (i - rh);
    perm[half + i] = i < rh ? rh + i : rot + ph + (i - rh);
  }
  return perm;
}
