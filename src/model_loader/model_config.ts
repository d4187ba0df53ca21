/** Model hyper-parameters parsed once from a Hugging Face `config.json` (see hf_config.ts). */

export const SUPPORTED_ARCHITECTURES = [
  "LlamaForCausalLM",
  "MistralForCausalLM",
  "Qwen2ForCausalLM",
  "Qwen3ForCausalLM",
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
export type RopeScaling = Llama3RopeScaling | LinearRopeScaling;

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
  slidingWindow: number | null; // Mistral/Qwen sliding window when active, else null
  torchDtype: WeightDtype; // config torch_dtype / dtype, default bfloat16
  bosTokenId: number | null;
  eosTokenIds: number[]; // from config.json eos_token_id (int or list)
}
