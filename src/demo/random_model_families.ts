/**
 * Random-weight Gemma 2, Gemma 3 (text) and Phi-3 checkpoints for random_model.ts, with config.json
 * as transformers 5.x writes it (rope_parameters, layer_types, dtype) and the hub's tensor names
 * (Gemma's four norms per layer, Phi-3's fused qkv_proj and gate_up_proj); the mixture-of-experts families
 * come from random_moe_model.ts.
 */
import { addSuccessorRows, gaussian, headDimOf, type RandomModelSpec, type RandomTensor } from "./random_model";
import { familyCommonConfig, MOE_ARCHITECTURES, moeConfig, moeTensors, type MoeArchitecture, type MoeSpec } from "./random_moe_model";

export const FAMILY_ARCHITECTURES = ["Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM", ...MOE_ARCHITECTURES] as const;
export type FamilyArchitecture = (typeof FAMILY_ARCHITECTURES)[number];

/** Spec fields only these families read. */
export interface FamilySpec extends MoeSpec {
  slidingWindow?: number | null;
  /** Gemma 3: every n-th layer is full attention (Gemma 2 alternates). */
  slidingWindowPattern?: number;
  queryPreAttnScalar?: number;
  attnLogitSoftcapping?: number | null;
  finalLogitSoftcapping?: number | null;
  /** Gemma 3's rope_local_base_freq. */
  ropeLocalTheta?: number;
  /** Phi-3: written into rope_parameters with rope_theta, partial_rotary_factor and the original context. */
  partialRotaryFactor?: number;
  originalMaxPositionEmbeddings?: number;
}


// Gemma's embedding is scaled by sqrt(hidden) and its head is the (tied) embedding, so each sub-block's
// post-norm gain must outweigh the token's own embedding or the model echoes its input. The final gain
// spreads the logits, but under a final soft cap keeps them inside its near-linear range.
const GEMMA = { embedStd: 1.0, projGain: 1.0, normStd: 0.2, postNormGain: 16, finalNormGain: 4, cappedFinalNormGain: 0.8 };
const PHI3 = { embedStd: 1.0, projGain: 1.0, normStd: 0.2, outGain: 0.7, finalNormGain: 2, headNoiseStd: 0.3 };

type Spec = RandomModelSpec & { architecture: Exclude<FamilyArchitecture, MoeArchitecture> };

const isMoe = (spec: RandomModelSpec): spec is RandomModelSpec & { architecture: MoeArchitecture } =>
  (MOE_ARCHITECTURES as readonly string[]).includes(spec.architecture);

export function familyConfig(spec: RandomModelSpec & { architecture: FamilyArchitecture }): Record<string, unknown> {
  if (isMoe(spec)) return moeConfig(spec);
  return gemmaOrPhi3Config(spec as Spec);
}

function gemmaOrPhi3Config(spec: Spec): Record<string, unknown> {
  const common = familyCommonConfig(spec, 8192);
  return { ...common, ...(spec.architecture === "Phi3ForCausalLM" ? phi3Fields(spec) : gemmaFields(spec)) };
}

function layerTypes(spec: Spec): string[] {
  const pattern = spec.architecture === "Gemma2ForCausalLM" ? 2 : spec.slidingWindowPattern ?? 6;
  return Array.from({ length: spec.numHiddenLayers }, (_, i) => ((i + 1) % pattern !== 0 ? "sliding_attention" : "full_attention"));
}

function gemmaFields(spec: Spec): Record<string, unknown> {
  const theta = spec.ropeTheta ?? (spec.architecture === "Gemma2ForCausalLM" ? 10000 : 1e6);
  const global = { ...(spec.ropeScaling ?? { rope_type: "default" }), rope_theta: theta };
  const rope = spec.architecture === "Gemma2ForCausalLM"
    ? global
    : { full_attention: global, sliding_attention: { rope_type: "default", rope_theta: spec.ropeLocalTheta ?? 10000 } };
  return {
    attention_bias: false,
    attn_logit_softcapping: spec.attnLogitSoftcapping ?? null,
    final_logit_softcapping: spec.finalLogitSoftcapping ?? null,
    hidden_activation: "gelu_pytorch_tanh",
    layer_types: layerTypes(spec),
    model_type: spec.architecture === "Gemma2ForCausalLM" ? "gemma2" : "gemma3_text",
    pad_token_id: 0,
    query_pre_attn_scalar: spec.queryPreAttnScalar ?? headDimOf(spec),
    rope_parameters: rope,
    sliding_window: spec.slidingWindow ?? null,
    use_bidirectional_attention: spec.architecture === "Gemma2ForCausalLM" ? null : false,
  };
}

function phi3Fields(spec: Spec): Record<string, unknown> {
  const original = spec.originalMaxPositionEmbeddings ?? spec.maxPositionEmbeddings ?? 4096;
  const partial = spec.partialRotaryFactor ?? 1.0;
  return {
    embd_pdrop: 0.0,
    hidden_act: "silu",
    model_type: "phi3",
    original_max_position_embeddings: original,
    pad_token_id: 32000,
    partial_rotary_factor: partial,
    resid_pdrop: 0.0,
    rope_parameters: { ...(spec.ropeScaling ?? { rope_type: "default" }), original_max_position_embeddings: original, partial_rotary_factor: partial, rope_theta: spec.ropeTheta ?? 10000 },
    sliding_window: spec.slidingWindow ?? null,
  };
}

export function familyTensors(spec: RandomModelSpec & { architecture: FamilyArchitecture }, usedVocab: number): RandomTensor[] {
  if (isMoe(spec)) return moeTensors(spec, usedVocab);
  const s = spec as Spec;
  return s.architecture === "Phi3ForCausalLM" ? phi3Tensors(s, usedVocab) : gemmaTensors(s, usedVocab);
}

type Gen = (name: string, shape: number[], std: number, mean?: number) => Float32Array;

function generator(spec: Spec, out: Map<string, RandomTensor>): Gen {
  return (name, shape, std, mean = 0) => {
    const values = gaussian(spec.seed, name, shape[0] * (shape[1] ?? 1), mean, std);
    out.set(name, { name, shape, values });
    return values;
  };
}

function gemmaTensors(spec: Spec, usedVocab: number): RandomTensor[] {
  if (!spec.tieWordEmbeddings) throw new Error("the Gemma generator writes tied embeddings only (as every Gemma checkpoint has)");
  const h = spec.hiddenSize, hd = headDimOf(spec), out = new Map<string, RandomTensor>(), gen = generator(spec, out);
  // Stored as w for HF's (1 + w) scale: the effective gain is gain * (1 + normStd * noise).
  const norm = (name: string, size: number, gain = 1) => gen(name, [size], GEMMA.normStd * gain, gain - 1);
  const linear = (name: string, rows: number, cols: number) => gen(`${name}.weight`, [rows, cols], GEMMA.projGain / Math.sqrt(cols));
  gen("model.embed_tokens.weight", [spec.vocabSize, h], GEMMA.embedStd).fill(0, usedVocab * h);
  for (let i = 0; i < spec.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`, h);
    linear(`${p}.self_attn.q_proj`, spec.numAttentionHeads * hd, h);
    linear(`${p}.self_attn.k_proj`, spec.numKeyValueHeads * hd, h);
    linear(`${p}.self_attn.v_proj`, spec.numKeyValueHeads * hd, h);
    linear(`${p}.self_attn.o_proj`, h, spec.numAttentionHeads * hd);
    if (spec.architecture === "Gemma3ForCausalLM") {
      norm(`${p}.self_attn.q_norm.weight`, hd);
      norm(`${p}.self_attn.k_norm.weight`, hd);
    }
    norm(`${p}.post_attention_layernorm.weight`, h, GEMMA.postNormGain);
    norm(`${p}.pre_feedforward_layernorm.weight`, h);
    linear(`${p}.mlp.gate_proj`, spec.intermediateSize, h);
    linear(`${p}.mlp.up_proj`, spec.intermediateSize, h);
    linear(`${p}.mlp.down_proj`, h, spec.intermediateSize);
    norm(`${p}.post_feedforward_layernorm.weight`, h, GEMMA.postNormGain);
  }
  norm("model.norm.weight", h, spec.finalLogitSoftcapping ? GEMMA.cappedFinalNormGain : GEMMA.finalNormGain);
  return [...out.values()];
}

// Phi-3 has an untied head: the successor head of random_model.ts keeps greedy choices clear.
function phi3Tensors(spec: Spec, usedVocab: number): RandomTensor[] {
  if (spec.tieWordEmbeddings) throw new Error("the Phi-3 generator writes an untied lm_head (as Phi-3 checkpoints have)");
  const h = spec.hiddenSize, hd = headDimOf(spec), out = new Map<string, RandomTensor>(), gen = generator(spec, out);
  const norm = (name: string, size: number, gain = 1) => gen(name, [size], PHI3.normStd * gain, gain);
  const linear = (name: string, rows: number, cols: number, gain = PHI3.projGain) => gen(`${name}.weight`, [rows, cols], gain / Math.sqrt(cols));
  const embed = gen("model.embed_tokens.weight", [spec.vocabSize, h], PHI3.embedStd);
  for (let i = 0; i < spec.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`, h);
    linear(`${p}.self_attn.qkv_proj`, (spec.numAttentionHeads + 2 * spec.numKeyValueHeads) * hd, h);
    linear(`${p}.self_attn.o_proj`, h, spec.numAttentionHeads * hd, PHI3.outGain);
    norm(`${p}.post_attention_layernorm.weight`, h);
    linear(`${p}.mlp.gate_up_proj`, 2 * spec.intermediateSize, h);
    linear(`${p}.mlp.down_proj`, h, spec.intermediateSize, PHI3.outGain);
  }
  norm("model.norm.weight", h, PHI3.finalNormGain);
  const head = gen("lm_head.weight", [spec.vocabSize, h], PHI3.headNoiseStd);
  addSuccessorRows(head, embed, h, usedVocab, spec.seed);
  embed.fill(0, usedVocab * h);
  head.fill(0, usedVocab * h);
  return [...out.values()];
}
