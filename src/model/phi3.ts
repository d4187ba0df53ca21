/**
 * Phi-3 is Llama's decoder with fused checkpoint tensors (qkv_proj, gate_up_proj), longrope and partial
 * rotary: as in vLLM, LlamaForCausalLM runs it, reading the fused tensors through a view that splits them
 * back into Llama's names (longrope lives in rotary_embedding.ts).
 */
import type { Backend } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import type { ModelConfig } from "../model_loader/model_config";
import type { TensorInfo } from "../model_loader/safetensors";
import { checkShape, LlamaForCausalLM } from "./llama";
import { partialRotaryPermutation, ropeAttentionFactor, rotaryDim } from "./rotary_embedding";
import { tensorToF32 } from "../model_loader/convert";

export class Phi3ForCausalLM extends LlamaForCausalLM {
  constructor(config: ModelConfig, backend: Backend, ckpt: Checkpoint, maxNumTokens: number, maxNumLogits: number, opts: { maxModelLen?: number } = {}) {
    super(config, backend, phi3Checkpoint(ckpt, config), maxNumTokens, maxNumLogits, opts);
  }
}

const SPLIT = /^model\.layers\.(\d+)\.(self_attn\.(q|k|v)_proj|mlp\.(gate|up)_proj)\.weight$/;

/**
 * `ckpt` with each layer's qkv_proj and gate_up_proj also readable as q/k/v_proj and gate/up_proj. HF
 * multiplies cos and sin by longrope's attention factor, which scales only the rotated part of q and k:
 * those rows of q_proj and k_proj are scaled at load instead (in f32, so no rounding to the stored dtype).
 */
export function phi3Checkpoint(ckpt: Checkpoint, c: ModelConfig): Checkpoint {
  const q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim, I = c.intermediateSize;
  const rot = rotaryDim(c);
  const perm = rot < c.headDim ? partialRotaryPermutation(c.headDim, rot) : null;
  const factor = ropeAttentionFactor(c);
  const view = (name: string): TensorInfo | undefined => {
    const m = SPLIT.exec(name);
    if (m === null) return undefined;
    const pre = `model.layers.${m[1]}.`;
    if (m[4] !== undefined) {
      const fused = checkShape(ckpt, pre + "mlp.gate_up_proj.weight", [2 * I, c.hiddenSize]);
      return m[4] === "gate" ? rows(fused, name, 0, I) : rows(fused, name, I, 2 * I);
    }
    const fused = checkShape(ckpt, pre + "self_attn.qkv_proj.weight", [q + 2 * kv, c.hiddenSize]);
    if (m[3] === "v") return rows(fused, name, q + kv, q + 2 * kv);
    const part = m[3] === "q" ? rows(fused, name, 0, q) : rows(fused, name, q, q + kv);
    return perm === null && factor === 1 ? part : rotaryRows(part, c.headDim, rot, perm, factor);
  };
  return {
    ...ckpt,
    get: (name) => view(name) ?? ckpt.get(name),
    has: (name) => view(name) !== undefined || ckpt.has(name),
  };
}

function rows(t: TensorInfo, name: string, from: number, to: number): TensorInfo {
  const rowBytes = t.data.byteLength / t.shape[0];
  return { ...t, name, shape: [to - from, ...t.shape.slice(1)], data: t.data.subarray(from * rowBytes, to * rowBytes) };
}

/**
 * q or k rows in f32, each head reordered by `perm` (see partialRotaryPermutation) and its rotated rows
 * scaled by `factor`.
 */
function rotaryRows(t: TensorInfo, hd: number, rot: number, perm: Int32Array | null, factor: number): TensorInfo {
  const src = tensorToF32(t), cols = t.shape[1], out = new Float32Array(src.length);
  const rotated = (i: number) => perm === null || i % (hd / 2) < rot / 2;
  for (let row = 0; row < t.shape[0]; row++) {
    const head = Math.floor(row / hd), i = row % hd;
    const from = (head * hd + (perm === null ? i : perm[i])) * cols, scale = rotated(i) ? factor : 1;
    for (let col = 0; col < cols; col++) out[row * cols + col] = Math.fround(src[from + col] * scale);
  }
  return { ...t, dtype: "F32", data: new Uint8Array(out.buffer) };
}
