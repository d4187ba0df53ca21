/** RoPE inverse frequencies, computed in f32 exactly as HF transformers computes them (default, linear, llama3). */
import type { ModelConfig } from "../model_loader/model_config";

const f = Math.fround;

export function computeInvFreq(config: ModelConfig): Float32Array {
  const dim = config.headDim;
  const inv = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) inv[i] = f(1 / f(Math.pow(config.ropeTheta, f(f(2 * i) / dim))));
  const s = config.ropeScaling;
  if (s === null) return inv;
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
