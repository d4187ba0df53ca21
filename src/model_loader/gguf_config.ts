// ModelConfig from GGUF metadata ({arch}.* keys, tokenizer ids) and the tensor list (vocab rows, tied
// head, biases), equal to what hf_config.ts builds from the same model's config.json.
import { ModelLoadError } from "./errors";
import type { GgufFile } from "./gguf";
import { DEQUANTIZERS } from "./gguf_dequant";
import { GgufMetadata } from "./gguf_metadata";
import { ropeScalingFromFreqFactors } from "./gguf_rope";
import type { Architecture, ModelConfig, RopeScaling, WeightDtype } from "./model_config";

/** GGUF general.architecture → the decoder class that runs it. Mistral files say "llama". */
export const GGUF_ARCHITECTURES: Record<string, Architecture> = {
  llama: "LlamaForCausalLM",
  qwen2: "Qwen2ForCausalLM",
  qwen3: "Qwen3ForCausalLM",
};

const DEFAULT_ROPE_THETA = 10000;

export function ggufModelConfig(file: GgufFile): ModelConfig {
  const m = new GgufMetadata(file);
  const arch = m.string("general.architecture");
  const architecture = GGUF_ARCHITECTURES[arch];
  if (architecture === undefined) {
    throw new ModelLoadError(file.path, `architecture '${arch}' is not supported (supported: ${Object.keys(GGUF_ARCHITECTURES).join(", ")})`);
  }
  const k = (key: string) => `${arch}.${key}`;
  const hiddenSize = m.uint(k("embedding_length"));
  const numAttentionHeads = m.uint(k("attention.head_count"));
  const numKeyValueHeads = m.uint(k("attention.head_count_kv"), true) ?? numAttentionHeads;
  if (numAttentionHeads === 0 || numKeyValueHeads === 0 || numAttentionHeads % numKeyValueHeads !== 0) {
    m.fail(k("attention.head_count_kv"), `must be a positive divisor of ${k("attention.head_count")} (${numAttentionHeads}), got ${numKeyValueHeads}`);
  }
  const headDim = readHeadDim(m, arch, hiddenSize, numAttentionHeads);
  const ropeTheta = m.float(k("rope.freq_base"), true) ?? DEFAULT_ROPE_THETA;
  const has = (name: string) => file.tensors.has(name);
  const attentionBias = has("blk.0.attn_q.bias");
  return {
    architecture,
    modelType: arch,
    vocabSize: readVocabSize(file, m, arch),
    hiddenSize,
    intermediateSize: positive(m, k("feed_forward_length")),
    numHiddenLayers: positive(m, k("block_count")),
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    rmsNormEps: m.float(k("attention.layer_norm_rms_epsilon")),
    ropeTheta,
    ropeScaling: readRopeScaling(file, m, arch, ropeTheta, headDim),
    maxPositionEmbeddings: positive(m, k("context_length")),
    tieWordEmbeddings: !has("output.weight"),
    attentionBias,
    oProjBias: has("blk.0.attn_output.bias"),
    mlpBias: has("blk.0.ffn_gate.bias"),
    qkNorm: arch === "qwen3",
    slidingWindow: null, // llama.cpp runs these architectures with full attention
    torchDtype: weightDtype(file),
    bosTokenId: m.uint("tokenizer.ggml.bos_token_id", true),
    eosTokenIds: ggufEosTokenIds(m),
  };
}

function positive(m: GgufMetadata, key: string): number {
  const v = m.uint(key);
  if (v === 0) m.fail(key, "must be positive");
  return v;
}

function readHeadDim(m: GgufMetadata, arch: string, hidden: number, heads: number): number {
  const keyLen = m.uint(`${arch}.attention.key_length`, true);
  const valueLen = m.uint(`${arch}.attention.value_length`, true);
  if (keyLen === null && hidden % heads !== 0) m.fail(`${arch}.embedding_length`, `must be divisible by the head count ${heads} when attention.key_length is absent`);
  const headDim = keyLen ?? hidden / heads;
  if (valueLen !== null && valueLen !== headDim) m.fail(`${arch}.attention.value_length`, `must equal the key length ${headDim} (got ${valueLen})`);
  if (headDim === 0 || headDim % 2 !== 0) m.fail(`${arch}.attention.key_length`, `gives head dim ${headDim}, which must be even and positive`);
  const ropeDims = m.uint(`${arch}.rope.dimension_count`, true);
  if (ropeDims !== null && ropeDims !== headDim) m.fail(`${arch}.rope.dimension_count`, `is ${ropeDims}; partial rotary (less than the head dim ${headDim}) is not supported`);
  return headDim;
}

function readVocabSize(file: GgufFile, m: GgufMetadata, arch: string): number {
  const embed = file.tensors.get("token_embd.weight");
  if (embed === undefined) throw new ModelLoadError(file.path, "not found in the file", "token_embd.weight");
  const rows = embed.shape[0];
  const declared = m.uint(`${arch}.vocab_size`, true);
  if (declared !== null && declared !== rows) m.fail(`${arch}.vocab_size`, `is ${declared} but token_embd.weight has ${rows} rows`);
  return rows;
}

function readRopeScaling(file: GgufFile, m: GgufMetadata, arch: string, theta: number, headDim: number): RopeScaling | null {
  const type = m.string(`${arch}.rope.scaling.type`, true) ?? "none";
  const freqs = file.tensors.get("rope_freqs.weight");
  if (freqs !== undefined && arch !== "llama") throw new ModelLoadError(file.path, `is not used by the ${arch} architecture`, "rope_freqs.weight");
  if (freqs !== undefined && type !== "none") m.fail(`${arch}.rope.scaling.type`, `'${type}' together with rope_freqs.weight is not supported`);
  if (freqs !== undefined) {
    if (freqs.type.name !== "F32") throw new ModelLoadError(file.path, `must be F32, is ${freqs.type.name}`, freqs.name);
    return ropeScalingFromFreqFactors(file.path, DEQUANTIZERS.F32!(freqs.data, freqs.numel), theta, headDim);
  }
  if (type === "none") return null;
  if (type !== "linear") m.fail(`${arch}.rope.scaling.type`, `'${type}' is not supported (supported: none, linear, and Llama 3 rope_freqs)`);
  const factor = m.float(`${arch}.rope.scaling.factor`);
  if (!(factor >= 1)) m.fail(`${arch}.rope.scaling.factor`, `must be >= 1, got ${factor}`);
  return { type: "linear", factor };
}

/** eos plus the end-of-turn / end-of-message ids a chat model stops on. */
export function ggufEosTokenIds(m: GgufMetadata): number[] {
  const ids = ["eos", "eot", "eom"].map((name) => m.uint(`tokenizer.ggml.${name}_token_id`, true));
  return [...new Set(ids.filter((id): id is number => id !== null))];
}

function weightDtype(file: GgufFile): WeightDtype {
  const type = file.tensors.get("token_embd.weight")?.type.name;
  return type === "BF16" ? "bfloat16" : type === "F32" ? "float32" : "float16";
}
