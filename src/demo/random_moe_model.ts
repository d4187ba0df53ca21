/**
 * Random-weight Mixtral, Qwen2-MoE and Qwen3-MoE checkpoints for random_model.ts, with config.json as
 * transformers 5.x writes it and the hub's tensor names (Mixtral's block_sparse_moe.experts.E.w1/w2/w3,
 * Qwen's mlp.experts.E.{gate,up,down}_proj, Qwen2-MoE's shared_expert and shared_expert_gate).
 */
import { addSuccessorRows, gaussian, headDimOf, type RandomModelSpec, type RandomTensor } from "./random_model";

export const MOE_ARCHITECTURES = ["MixtralForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"] as const;
export type MoeArchitecture = (typeof MOE_ARCHITECTURES)[number];

/** Spec fields only the MoE families read (intermediateSize: Mixtral's experts, Qwen's dense layers). */
export interface MoeSpec {
  numExperts?: number;
  numExpertsPerTok?: number;
  moeIntermediateSize?: number;
  sharedExpertIntermediateSize?: number;
  normTopkProb?: boolean;
  decoderSparseStep?: number;
  mlpOnlyLayers?: number[];
}

type Spec = RandomModelSpec & { architecture: MoeArchitecture };

const TRANSFORMERS_VERSION = "5.18.0";

// The untied successor head of random_model.ts keeps greedy choices clear. The router's gain spreads each
// token's router logits (std about routerGain) so the k-th and (k+1)-th expert are rarely near a tie, which
// f32 and f64 rounding could otherwise order differently (model_fixtures.py reports the smallest gap).
const MOE = { embedStd: 1.0, projGain: 1.0, normStd: 0.2, biasStd: 0.3, outGain: 0.7, routerGain: 6, finalNormGain: 2, headNoiseStd: 0.3 };

/**
 * The config.json fields the newer families (Gemma, Phi-3 and the MoE models) share; keys are sorted when
 * written, so each family adds its own in any order.
 */
export function familyCommonConfig(spec: RandomModelSpec, defaultMaxPositions: number): Record<string, unknown> {
  return {
    architectures: [spec.architecture],
    attention_dropout: 0.0,
    bos_token_id: spec.bosTokenId ?? null,
    dtype: spec.dtype,
    eos_token_id: spec.eosTokenId,
    head_dim: headDimOf(spec),
    hidden_size: spec.hiddenSize,
    initializer_range: 0.02,
    intermediate_size: spec.intermediateSize,
    max_position_embeddings: spec.maxPositionEmbeddings ?? defaultMaxPositions,
    num_attention_heads: spec.numAttentionHeads,
    num_hidden_layers: spec.numHiddenLayers,
    num_key_value_heads: spec.numKeyValueHeads,
    rms_norm_eps: spec.rmsNormEps ?? 1e-6,
    tie_word_embeddings: spec.tieWordEmbeddings,
    transformers_version: TRANSFORMERS_VERSION,
    use_cache: true,
    vocab_size: spec.vocabSize,
  };
}

export function moeConfig(spec: Spec): Record<string, unknown> {
  const common: Record<string, unknown> = {
    ...familyCommonConfig(spec, 32768),
    hidden_act: "silu",
    num_experts_per_tok: spec.numExpertsPerTok ?? 2,
    output_router_logits: false,
    rope_parameters: { rope_theta: spec.ropeTheta ?? 1e6, rope_type: "default" },
    router_aux_loss_coef: 0.001,
  };
  if (spec.architecture === "MixtralForCausalLM") {
    return { ...common, model_type: "mixtral", num_local_experts: spec.numExperts ?? 8, sliding_window: spec.slidingWindow ?? null };
  }
  const qwen: Record<string, unknown> = {
    decoder_sparse_step: spec.decoderSparseStep ?? 1,
    max_window_layers: spec.numHiddenLayers,
    mlp_only_layers: spec.mlpOnlyLayers ?? [],
    moe_intermediate_size: spec.moeIntermediateSize,
    norm_topk_prob: spec.normTopkProb ?? false,
    num_experts: spec.numExperts ?? 8,
    sliding_window: null,
    use_sliding_window: false,
  };
  if (spec.architecture === "Qwen2MoeForCausalLM") {
    return { ...common, ...qwen, model_type: "qwen2_moe", qkv_bias: true, shared_expert_intermediate_size: spec.sharedExpertIntermediateSize };
  }
  return { ...common, ...qwen, model_type: "qwen3_moe", attention_bias: spec.attentionBias ?? false };
}

/** Whether layer i's feed-forward block is sparse, by the rule of Qwen's decoder layer (Mixtral: every layer). */
function sparseLayer(spec: Spec, i: number): boolean {
  if (spec.architecture === "MixtralForCausalLM") return true;
  return !(spec.mlpOnlyLayers ?? []).includes(i) && (i + 1) % (spec.decoderSparseStep ?? 1) === 0;
}

export function moeTensors(spec: Spec, usedVocab: number): RandomTensor[] {
  if (spec.tieWordEmbeddings) throw new Error("the MoE generator writes an untied lm_head (as Mixtral and Qwen-MoE checkpoints have)");
  const h = spec.hiddenSize, hd = headDimOf(spec), out = new Map<string, RandomTensor>();
  const gen = (name: string, shape: number[], std: number, mean = 0) => {
    const values = gaussian(spec.seed, name, shape[0] * (shape[1] ?? 1), mean, std);
    out.set(name, { name, shape, values });
    return values;
  };
  const norm = (name: string, size: number, gain = 1) => gen(name, [size], MOE.normStd * gain, gain);
  const linear = (name: string, rows: number, cols: number, gain = MOE.projGain, bias = false) => {
    gen(`${name}.weight`, [rows, cols], gain / Math.sqrt(cols));
    if (bias) gen(`${name}.bias`, [rows], MOE.biasStd);
  };
  const mlp = (p: string, inter: number, names = ["gate_proj", "up_proj", "down_proj"]) => {
    linear(`${p}.${names[0]}`, inter, h);
    linear(`${p}.${names[1]}`, inter, h);
    linear(`${p}.${names[2]}`, h, inter, MOE.outGain);
  };
  const mixtral = spec.architecture === "MixtralForCausalLM", qkvBias = spec.architecture === "Qwen2MoeForCausalLM";
  const experts = spec.numExperts ?? 8;
  const embed = gen("model.embed_tokens.weight", [spec.vocabSize, h], MOE.embedStd);
  for (let i = 0; i < spec.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    norm(`${p}.input_layernorm.weight`, h);
    linear(`${p}.self_attn.q_proj`, spec.numAttentionHeads * hd, h, MOE.projGain, qkvBias);
    linear(`${p}.self_attn.k_proj`, spec.numKeyValueHeads * hd, h, MOE.projGain, qkvBias);
    linear(`${p}.self_attn.v_proj`, spec.numKeyValueHeads * hd, h, MOE.projGain, qkvBias);
    linear(`${p}.self_attn.o_proj`, h, spec.numAttentionHeads * hd, MOE.outGain);
    if (spec.architecture === "Qwen3MoeForCausalLM") {
      norm(`${p}.self_attn.q_norm.weight`, hd);
      norm(`${p}.self_attn.k_norm.weight`, hd);
    }
    norm(`${p}.post_attention_layernorm.weight`, h);
    if (!sparseLayer(spec, i)) {
      mlp(`${p}.mlp`, spec.intermediateSize);
      continue;
    }
    const block = mixtral ? `${p}.block_sparse_moe` : `${p}.mlp`;
    linear(`${block}.gate`, experts, h, MOE.routerGain);
    const inter = mixtral ? spec.intermediateSize : spec.moeIntermediateSize!;
    for (let e = 0; e < experts; e++) mlp(`${block}.experts.${e}`, inter, mixtral ? ["w1", "w3", "w2"] : undefined);
    if (spec.architecture === "Qwen2MoeForCausalLM") {
      mlp(`${p}.mlp.shared_expert`, spec.sharedExpertIntermediateSize!);
      linear(`${p}.mlp.shared_expert_gate`, 1, h);
    }
  }
  norm("model.norm.weight", h, MOE.finalNormGain);
  const head = gen("lm_head.weight", [spec.vocabSize, h], MOE.headNoiseStd);
  addSuccessorRows(head, embed, h, usedVocab, spec.seed);
  embed.fill(0, usedVocab * h);
  head.fill(0, usedVocab * h);
  return [...out.values()];
}
