/** Model hyper-parameters parsed once from a Hugging Face `config.json` (see hf_config.ts). */

export const SUPPORTED_ARCHITECTURES = [
  "LlamaForCausalLM",
  "MistralForCausalLM",
  "Qwen2ForCausalLM",
  "Qwen3ForCausalLM",
  "Phi3ForCausalLM",
  "Gemma2ForCausalLM",
  "Gemma3ForCausalLM",
  "MixtralForCausalLM",
  "Qwen2MoeForCausalLM",
  "Qwen3MoeForCausalLM",
] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

/** Weight dtypes the loader accepts (safetensors spelling is F32/F16/BF16). */
export type WeightDtype = "float32" | "float16" | "bfloat16";

/** Llama 3.1 style frequency-dependent RoPE scaling (`rope_scaling.rope_type == "llama3"`). */
export interface Llama3RopeScaling {
  type: "llama3";
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}
/** Plain position interpolation (`rope_type == "linear"`). */
export interface LinearRopeScaling {
  type: "linear";
  factor: number;
}
/**
 * LongRoPE (Phi-3 `longrope`, once `su`): inverse frequencies divided per frequency by shortFactor, or by
 * longFactor when contexts may exceed originalMaxPositionEmbeddings; cos and sin are multiplied by attentionFactor.
 */
export interface LongRopeScaling {
  type: "longrope";
  shortFactor: number[];
  longFactor: number[];
  originalMaxPositionEmbeddings: number;
  attentionFactor: number;
}
export type RopeScaling = Llama3RopeScaling | LinearRopeScaling | LongRopeScaling;

/** A layer's attention: within the model's sliding window, or over the whole context (HF layer_types). */
export type LayerType = "full_attention" | "sliding_attention";

/** What only Gemma 2 and Gemma 3 have. */
export interface GemmaConfig {
  queryPreAttnScalar: number; // attention scale is queryPreAttnScalar^-0.5
  attnLogitSoftcapping: number | null;
  finalLogitSoftcapping: number | null;
  /** Gemma 3: RoPE of the sliding-window layers (rope_local_base_freq); full layers use ropeTheta / ropeScaling. */
  localRope: { theta: number; scaling: RopeScaling | null } | null;
}

/** What only mixture-of-experts models have (Mixtral, Qwen2-MoE, Qwen3-MoE). */
export interface MoeConfig {
  numExperts: number;
  numExpertsPerTok: number;
  /** Each routed expert's intermediate size (Mixtral: intermediate_size; Qwen: moe_intermediate_size). */
  expertIntermediateSize: number;
  /** Divide the kept top-k weights by their sum (Mixtral always; Qwen's norm_topk_prob). */
  normTopkProb: boolean;
  /** Per layer: true where the feed-forward block is the sparse one (decoder_sparse_step, mlp_only_layers). */
  sparseLayers: boolean[];
  /** Qwen2-MoE's sigmoid-gated shared expert (shared_expert_intermediate_size); 0: none. */
  sharedExpertIntermediateSize: number;
}

export interface ModelConfig {
  architecture: Architecture;
  modelType: string; // config.json model_type, e.g. "llama", "qwen3"
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number; // defaults to numAttentionHeads
  headDim: number; // explicit head_dim, else hiddenSize / numAttentionHeads
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  attentionBias: boolean; // bias on q/k/v projections (Qwen2 always; Llama/Mistral if attention_bias)
  oProjBias: boolean; // bias on o_proj (Llama attention_bias=true also biases o_proj)
  mlpBias: boolean; // Llama mlp_bias
  qkNorm: boolean; // per-head RMSNorm on q and k before RoPE (Qwen3)
  slidingWindow: number | null; // the sliding window when any layer uses it, else null
  /** Which layers use slidingWindow; absent: every layer when slidingWindow is set. */
  layerTypes?: LayerType[];
  /** Fraction of head_dim that RoPE rotates (Phi-3 partial_rotary_factor); absent: all of it. */
  partialRotaryFactor?: number;
  /** Gemma 2 / 3 only. */
  gemma?: GemmaConfig;
  /** Mixture-of-experts models only; intermediateSize is then the dense layers' size. */
  moe?: MoeConfig;
  torchDtype: WeightDtype; // config torch_dtype / dtype, default bfloat16
  bosTokenId: number | null;
  eosTokenIds: number[]; // from config.json eos_token_id (int or list)
}
