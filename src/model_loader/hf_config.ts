// Parses a model's config.json into ModelConfig, applying the defaults each architecture's reference
// config class uses. Anything the engine cannot run faithfully fails here, naming the field.
import { join } from "node:path";
import { ModelLoadError } from "./errors";
import { readModelFile } from "./model_file";
import { readRope } from "./hf_rope";
import {
  SUPPORTED_ARCHITECTURES,
  type Architecture,
  type GemmaConfig,
  type LayerType,
  type ModelConfig,
  type MoeConfig,
  type WeightDtype,
} from "./model_config";

interface ArchDefaults {
  modelType: string;
  maxPositionEmbeddings: number;
  headDim: number | null; // null: hidden_size / num_attention_heads
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
}

const ARCH_DEFAULTS: Record<Architecture, ArchDefaults> = {
  LlamaForCausalLM: { modelType: "llama", maxPositionEmbeddings: 2048, headDim: null, rmsNormEps: 1e-6, tieWordEmbeddings: false },
  MistralForCausalLM: { modelType: "mistral", maxPositionEmbeddings: 4096 * 32, headDim: null, rmsNormEps: 1e-6, tieWordEmbeddings: false },
  Qwen2ForCausalLM: { modelType: "qwen2", maxPositionEmbeddings: 32768, headDim: null, rmsNormEps: 1e-6, tieWordEmbeddings: false },
  Qwen3ForCausalLM: { modelType: "qwen3", maxPositionEmbeddings: 32768, headDim: 128, rmsNormEps: 1e-6, tieWordEmbeddings: false },
  Phi3ForCausalLM: { modelType: "phi3", maxPositionEmbeddings: 4096, headDim: null, rmsNormEps: 1e-5, tieWordEmbeddings: false },
  Gemma2ForCausalLM: { modelType: "gemma2", maxPositionEmbeddings: 8192, headDim: 256, rmsNormEps: 1e-6, tieWordEmbeddings: true },
  Gemma3ForCausalLM: { modelType: "gemma3_text", maxPositionEmbeddings: 131072, headDim: 256, rmsNormEps: 1e-6, tieWordEmbeddings: true },
  MixtralForCausalLM: { modelType: "mixtral", maxPositionEmbeddings: 4096 * 32, headDim: null, rmsNormEps: 1e-5, tieWordEmbeddings: false },
  Qwen2MoeForCausalLM: { modelType: "qwen2_moe", maxPositionEmbeddings: 32768, headDim: null, rmsNormEps: 1e-6, tieWordEmbeddings: false },
  Qwen3MoeForCausalLM: { modelType: "qwen3_moe", maxPositionEmbeddings: 32768, headDim: null, rmsNormEps: 1e-6, tieWordEmbeddings: false },
};

const isGemma = (arch: Architecture) => arch === "Gemma2ForCausalLM" || arch === "Gemma3ForCausalLM";

const isMoe = (arch: Architecture) => arch === "MixtralForCausalLM" || arch === "Qwen2MoeForCausalLM" || arch === "Qwen3MoeForCausalLM";

const DEFAULT_SLIDING_WINDOW = 4096;
const DEFAULT_MAX_WINDOW_LAYERS = 28;

const DTYPE_ALIASES: Record<string, WeightDtype> = {
  float32: "float32", float: "float32", float16: "float16", half: "float16", bfloat16: "bfloat16",
};

/** Reads `<dir>/config.json`; a missing file or bad JSON is a ModelLoadError naming the file. */
export function loadModelConfig(dir: string): ModelConfig {
  const path = join(dir, "config.json");
  const json = readJsonFile(path);
  if (json === undefined) throw new ModelLoadError(path, "not found (every model directory needs a config.json)");
  return parseModelConfig(json, path);
}

/** Validates a parsed config.json; `source` names the file in errors. */
export function parseModelConfig(json: unknown, source: string): ModelConfig {
  const f = ConfigFields.of(json, source);
  const architecture = readArchitecture(f);
  const defaults = ARCH_DEFAULTS[architecture];
  readActivation(f, architecture);

  const hiddenSize = f.positiveInt("hidden_size");
  const numAttentionHeads = f.positiveInt("num_attention_heads");
  const numKeyValueHeads = f.positiveInt("num_key_value_heads", numAttentionHeads);
  if (numAttentionHeads % numKeyValueHeads !== 0) {
    f.fail("num_key_value_heads", `a divisor of num_attention_heads (${numAttentionHeads})`, numKeyValueHeads);
  }
  const numHiddenLayers = f.positiveInt("num_hidden_layers");
  const bias = readBiases(f, architecture);
  const vocabSize = f.positiveInt("vocab_size");
  const headDim = readHeadDim(f, defaults, hiddenSize, numAttentionHeads);
  const maxPositionEmbeddings = f.positiveInt("max_position_embeddings", defaults.maxPositionEmbeddings);
  const { localRope, ...rope } = readRope(f, { architecture, headDim, maxPositionEmbeddings });
  return {
    architecture,
    modelType: f.string("model_type") ?? defaults.modelType,
    vocabSize,
    hiddenSize,
    intermediateSize: f.positiveInt("intermediate_size"),
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: f.positiveNumber("rms_norm_eps", defaults.rmsNormEps),
    ...rope,
    maxPositionEmbeddings,
    tieWordEmbeddings: f.bool("tie_word_embeddings") ?? defaults.tieWordEmbeddings,
    ...bias,
    qkNorm: architecture === "Qwen3ForCausalLM" || architecture === "Gemma3ForCausalLM" || architecture === "Qwen3MoeForCausalLM",
    ...readAttentionLayers(f, architecture, numHiddenLayers),
    ...(isGemma(architecture) ? { gemma: readGemma(f, architecture, localRope) } : {}),
    ...(isMoe(architecture) ? { moe: readMoe(f, architecture, numHiddenLayers) } : {}),
    torchDtype: readDtype(f),
    bosTokenId: f.tokenId("bos_token_id", vocabSize),
    eosTokenIds: f.tokenIds("eos_token_id", vocabSize),
  };
}

function readArchitecture(f: ConfigFields): Architecture {
  const archs = f.get("architectures");
  const supported = `supported: ${SUPPORTED_ARCHITECTURES.join(", ")}`;
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== "string") {
    f.fail("architectures", `a non-empty list of class names (${supported})`, archs);
  }
  const arch = (archs as string[])[0];
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    throw new ModelLoadError(f.source, `architecture '${arch}' is not supported (${supported})`);
  }
  return arch as Architecture;
}

function readHeadDim(f: ConfigFields, defaults: ArchDefaults, hiddenSize: number, numHeads: number): number {
  if (f.has("head_dim")) return f.positiveInt("head_dim");
  if (defaults.headDim !== null) return defaults.headDim;
  if (hiddenSize % numHeads !== 0) {
    f.fail("hidden_size", `divisible by num_attention_heads (${numHeads}) when head_dim is not given`, hiddenSize);
  }
  return hiddenSize / numHeads;
}

// Gemma's MLP is GeGLU (transformers reads hidden_activation there); every other family's is SwiGLU.
function readActivation(f: ConfigFields, arch: Architecture): void {
  if (isGemma(arch)) {
    const act = f.string("hidden_activation") ?? "gelu_pytorch_tanh";
    if (act !== "gelu_pytorch_tanh") f.fail("hidden_activation", `"gelu_pytorch_tanh" (the activation ${arch} is run with here)`, act);
    return;
  }
  const act = f.string("hidden_act") ?? "silu";
  if (act !== "silu") f.fail("hidden_act", `"silu" (the only activation ${arch} uses)`, act);
}

// Mixtral routes every layer and always renormalises; Qwen picks sparse layers by decoder_sparse_step and
// mlp_only_layers (as its decoder layer does) and renormalises only with norm_topk_prob.
function readMoe(f: ConfigFields, arch: Architecture, numLayers: number): MoeConfig {
  const mixtral = arch === "MixtralForCausalLM";
  const numExperts = f.positiveInt(mixtral ? "num_local_experts" : "num_experts", mixtral ? 8 : arch === "Qwen2MoeForCausalLM" ? 60 : 128);
  const topK = f.positiveInt("num_experts_per_tok", mixtral ? 2 : arch === "Qwen2MoeForCausalLM" ? 4 : 8);
  if (topK > numExperts || topK > 32) f.fail("num_experts_per_tok", `at most min(32, the ${numExperts} experts)`, topK);
  if (mixtral) {
    return { numExperts, numExpertsPerTok: topK, expertIntermediateSize: f.positiveInt("intermediate_size"), normTopkProb: true,
      sparseLayers: new Array(numLayers).fill(true), sharedExpertIntermediateSize: 0 };
  }
  const step = f.positiveInt("decoder_sparse_step", 1);
  const only = f.get("mlp_only_layers") ?? [];
  if (!Array.isArray(only) || !only.every((i) => Number.isSafeInteger(i) && i >= 0 && i < numLayers))
    f.fail("mlp_only_layers", `a list of layer indices in [0, ${numLayers})`, only);
  return {
    numExperts,
    numExpertsPerTok: topK,
    expertIntermediateSize: f.positiveInt("moe_intermediate_size", arch === "Qwen2MoeForCausalLM" ? 1408 : 768),
    normTopkProb: f.bool("norm_topk_prob") ?? false,
    sparseLayers: Array.from({ length: numLayers }, (_, i) => !(only as number[]).includes(i) && (i + 1) % step === 0),
    sharedExpertIntermediateSize: arch === "Qwen2MoeForCausalLM" ? f.positiveInt("shared_expert_intermediate_size", 5632) : 0,
  };
}

function readGemma(f: ConfigFields, arch: Architecture, localRope: GemmaConfig["localRope"]): GemmaConfig {
  if (f.bool("use_bidirectional_attention") === true) f.fail("use_bidirectional_attention", "false (only causal attention is supported)", true);
  const gemma2 = arch === "Gemma2ForCausalLM";
  // Absent means the class default; an explicit null turns the cap off.
  const cap = (key: string, fallback: number | null) =>
    f.get(key) === null ? null : f.has(key) ? f.positiveNumber(key) : fallback;
  const attnCap = cap("attn_logit_softcapping", gemma2 ? 50 : null);
  // transformers' Gemma 3 attention never applies this cap, so a config that sets it cannot be run alike.
  if (!gemma2 && attnCap !== null) f.fail("attn_logit_softcapping", "null for Gemma3ForCausalLM (transformers ignores it)", attnCap);
  return {
    queryPreAttnScalar: f.positiveNumber("query_pre_attn_scalar", 256),
    attnLogitSoftcapping: attnCap,
    finalLogitSoftcapping: cap("final_logit_softcapping", gemma2 ? 30 : null),
    localRope: gemma2 ? null : localRope,
  };
}

// Which projections carry a bias follows each architecture's attention module.
function readBiases(f: ConfigFields, arch: Architecture): Pick<ModelConfig, "attentionBias" | "oProjBias" | "mlpBias"> {
  switch (arch) {
    case "LlamaForCausalLM": {
      const attn = f.bool("attention_bias") ?? false;
      return { attentionBias: attn, oProjBias: attn, mlpBias: f.bool("mlp_bias") ?? false };
    }
    case "Qwen3ForCausalLM":
    case "Qwen3MoeForCausalLM": {
      const attn = f.bool("attention_bias") ?? false;
      return { attentionBias: attn, oProjBias: attn, mlpBias: false };
    }
    case "Qwen2ForCausalLM":
      return { attentionBias: true, oProjBias: false, mlpBias: false };
    case "Qwen2MoeForCausalLM":
      return { attentionBias: f.bool("qkv_bias") ?? true, oProjBias: false, mlpBias: false };
    case "MistralForCausalLM":
    case "MixtralForCausalLM":
    case "Phi3ForCausalLM":
      return { attentionBias: false, oProjBias: false, mlpBias: false };
    case "Gemma2ForCausalLM":
    case "Gemma3ForCausalLM": {
      const attn = f.bool("attention_bias") ?? false;
      return { attentionBias: attn, oProjBias: attn, mlpBias: false };
    }
  }
}

type AttentionLayers = Pick<ModelConfig, "slidingWindow" | "layerTypes">;

// Each layer's attention as the architecture's config class derives it; absent sliding_window means the
// class default, an explicit null no window.
function readAttentionLayers(f: ConfigFields, arch: Architecture, numLayers: number): AttentionLayers {
  const window = (fallback: number | null) =>
    f.get("sliding_window") === null ? null : f.has("sliding_window") ? f.positiveInt("sliding_window") : fallback;
  switch (arch) {
    case "LlamaForCausalLM":
      return { slidingWindow: null };
    case "MistralForCausalLM":
      return { slidingWindow: window(DEFAULT_SLIDING_WINDOW) };
    case "MixtralForCausalLM":
      return { slidingWindow: window(null) };
    case "Qwen2MoeForCausalLM":
    case "Qwen3MoeForCausalLM":
      // Their sliding layers follow other rules than Qwen2's (and no hub checkpoint turns them on).
      if (f.bool("use_sliding_window") === true) f.fail("use_sliding_window", `false (${arch} runs without sliding-window layers here)`, true);
      return { slidingWindow: null };
    case "Phi3ForCausalLM":
      return { slidingWindow: window(null) };
    case "Qwen2ForCausalLM":
    case "Qwen3ForCausalLM":
      return readQwenLayers(f, numLayers, window(DEFAULT_SLIDING_WINDOW));
    case "Gemma2ForCausalLM":
    case "Gemma3ForCausalLM": {
      // Gemma 2 alternates sliding and full layers; Gemma 3 makes every sliding_window_pattern-th layer full.
      const pattern = arch === "Gemma2ForCausalLM" ? 2 : f.positiveInt("sliding_window_pattern", f.positiveInt("_sliding_window_pattern", 6));
      const types = layerTypes(f, numLayers) ??
        Array.from({ length: numLayers }, (_, i): LayerType => ((i + 1) % pattern !== 0 ? "sliding_attention" : "full_attention"));
      const w = window(DEFAULT_SLIDING_WINDOW);
      if (w === null && types.includes("sliding_attention")) f.fail("sliding_window", "a positive integer (layer_types has sliding_attention layers)", null);
      return normalizeLayers(w, types);
    }
  }
}

// Qwen windows the layers at index >= max_window_layers, and only with use_sliding_window.
function readQwenLayers(f: ConfigFields, numLayers: number, window: number | null): AttentionLayers {
  if (!(f.bool("use_sliding_window") ?? false) || window === null) {
    if (layerTypes(f, numLayers)?.includes("sliding_attention")) {
      f.fail("layer_types", "all full_attention unless use_sliding_window is true", f.get("layer_types"));
    }
    return { slidingWindow: null };
  }
  const maxWindowLayers = f.nonNegativeInt("max_window_layers", DEFAULT_MAX_WINDOW_LAYERS);
  const types = layerTypes(f, numLayers) ??
    Array.from({ length: numLayers }, (_, i): LayerType => (i >= maxWindowLayers ? "sliding_attention" : "full_attention"));
  return normalizeLayers(window, types);
}

/** No window when no layer uses it; layerTypes only when layers differ. */
function normalizeLayers(window: number | null, types: LayerType[]): AttentionLayers {
  if (window === null || types.every((t) => t === "full_attention")) return { slidingWindow: null };
  if (types.every((t) => t === "sliding_attention")) return { slidingWindow: window };
  return { slidingWindow: window, layerTypes: types };
}

function layerTypes(f: ConfigFields, numLayers: number): LayerType[] | null {
  if (!f.has("layer_types")) return null;
  const types = f.get("layer_types");
  const ok = Array.isArray(types) && types.length === numLayers &&
    types.every((t) => t === "full_attention" || t === "sliding_attention");
  if (!ok) f.fail("layer_types", `a list of ${numLayers} "full_attention"/"sliding_attention" entries`, types);
  return types as LayerType[];
}

function readDtype(f: ConfigFields): WeightDtype {
  const key = f.has("dtype") ? "dtype" : "torch_dtype";
  const name = f.string(key) ?? "bfloat16";
  const bare = name.replace(/^torch\./, "");
  if (!Object.hasOwn(DTYPE_ALIASES, bare)) f.fail(key, "one of float32, float16, bfloat16 (or float, half)", name);
  return DTYPE_ALIASES[bare];
}

/** Parsed JSON of `path`, or undefined when the file does not exist; a non-file, an oversized file or bad JSON is a ModelLoadError. */
export function readJsonFile(path: string, maxBytes?: number): unknown {
  const text = readModelFile(path, maxBytes);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ModelLoadError(path, `invalid JSON: ${(e as Error).message}`);
  }
}

/** Typed reads of one JSON object; a wrong type is a ModelLoadError naming the field and the file. JSON null reads as absent. */
export class ConfigFields {
  private constructor(
    private readonly obj: Record<string, unknown>,
    readonly source: string,
    private readonly prefix: string,
  ) {}

  static of(json: unknown, source: string): ConfigFields {
    if (!isObject(json)) throw new ModelLoadError(source, `must hold a JSON object, got ${show(json)}`);
    return new ConfigFields(json, source, "");
  }

  get(key: string): unknown {
    return Object.hasOwn(this.obj, key) ? this.obj[key] : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined && this.get(key) !== null;
  }

  fail(key: string, expected: string, got: unknown): never {
    throw new ModelLoadError(this.source, `field '${this.prefix}${key}' must be ${expected}, got ${show(got)}`);
  }

  object(key: string): ConfigFields {
    const v = this.get(key);
    if (!isObject(v)) this.fail(key, "an object", v);
    return new ConfigFields(v, this.source, `${this.prefix}${key}.`);
  }

  string(key: string): string | null {
    return this.read(key, "a string", (v) => typeof v === "string") as string | null;
  }

  bool(key: string): boolean | null {
    return this.read(key, "true or false", (v) => typeof v === "boolean") as boolean | null;
  }

  number(key: string): number | null {
    return this.read(key, "a number", (v) => typeof v === "number" && Number.isFinite(v)) as number | null;
  }

  int(key: string): number | null {
    return this.read(key, "an integer", Number.isSafeInteger) as number | null;
  }

  positiveNumber(key: string, fallback?: number): number {
    return this.bounded(this.number(key), key, "a positive number", fallback, (v) => v > 0);
  }

  positiveInt(key: string, fallback?: number): number {
    return this.bounded(this.int(key), key, "a positive integer", fallback, (v) => v > 0);
  }

  nonNegativeInt(key: string, fallback?: number): number {
    return this.bounded(this.int(key), key, "a non-negative integer", fallback, (v) => v >= 0);
  }

  /** A token id; with `vocabSize`, one inside the vocabulary. */
  tokenId(key: string, vocabSize?: number): number | null {
    const ok = (v: unknown) => isTokenId(v) && (vocabSize === undefined || v < vocabSize);
    return this.read(key, idExpected("a token id (non-negative integer)", vocabSize), ok) as number | null;
  }

  /** A single id or a list of ids (eos_token_id is either); absent reads as []. */
  tokenIds(key: string, vocabSize?: number): number[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    const ok = (x: unknown): x is number => isTokenId(x) && (vocabSize === undefined || x < vocabSize);
    if (ok(v)) return [v];
    if (Array.isArray(v) && v.every(ok)) return [...v];
    return this.fail(key, idExpected("a token id or a list of token ids", vocabSize), v);
  }

  private read(key: string, expected: string, ok: (v: unknown) => boolean): unknown {
    const v = this.get(key);
    if (v === undefined || v === null) return null;
    if (!ok(v)) this.fail(key, expected, v);
    return v;
  }

  private bounded(v: number | null, key: string, expected: string, fallback: number | undefined, ok: (v: number) => boolean): number {
    const value = v ?? fallback;
    if (value === undefined || !ok(value)) return this.fail(key, expected, value);
    return value;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isTokenId(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function idExpected(what: string, vocabSize: number | undefined): string {
  return vocabSize === undefined ? what : `${what} in [0, vocab_size=${vocabSize})`;
}

function show(v: unknown): string {
  return v === undefined ? "nothing (field is required)" : JSON.stringify(v);
}
