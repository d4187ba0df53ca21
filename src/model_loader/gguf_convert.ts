// Hugging Face model directory (config.json, safetensors, tokenizer) → one GGUF file laid out as
// llama.cpp's converter lays it out: llama.cpp tensor names, q/k rows permuted for the llama
// architecture, norms and biases in F32, Llama 3 RoPE scaling as rope_freqs.weight, the tokenizer in
// tokenizer.ggml.*. Matrices whose rows do not fill whole blocks of the asked type fall back to a finer one.
import { basename } from "node:path";
import { ggufTokenizerKVs } from "../tokenizer/gguf_vocab";
import { openCheckpoint } from "./checkpoint";
import { tensorToF32 } from "./convert";
import { ModelLoadError } from "./errors";
import { llama3FreqFactors } from "./gguf_rope";
import { ggufTensorName, permuteHeadRows } from "./gguf_names";
import { QUANTIZERS } from "./gguf_quant";
import { GgufValueType, ggmlType, type GgmlTypeName } from "./gguf_types";
import { writeGguf, type GgufKV, type GgufTensorToWrite } from "./gguf_writer";
import { loadModelConfig } from "./hf_config";
import { loadGenerationConfig } from "./generation_config";
import type { Architecture, ModelConfig } from "./model_config";
import type { TensorInfo } from "./safetensors";

/** The file types the writer produces (the type of every matrix that fits it). */
export const GGUF_OUT_TYPES = ["F32", "F16", "BF16", "Q8_0", "Q4_K"] as const;
export type GgufOutType = (typeof GGUF_OUT_TYPES)[number];

export interface GgufConvertOptions {
  outType: GgufOutType;
  /** (optional) Picks another type for one matrix by its GGUF name, e.g. Q6_K for output.weight. */
  typeFor?: (ggufName: string, shape: readonly number[]) => GgmlTypeName | undefined;
}

// The architectures the GGUF writer maps (others are refused naming the architecture).
const ARCH_NAMES: Partial<Record<Architecture, string>> = {
  LlamaForCausalLM: "llama", MistralForCausalLM: "llama", Qwen2ForCausalLM: "qwen2", Qwen3ForCausalLM: "qwen3",
};
// llama.cpp's general.file_type values (LLAMA_FTYPE_*).
const FILE_TYPES: Record<GgufOutType, number> = { F32: 0, F16: 1, Q8_0: 7, Q4_K: 15, BF16: 32 };
const FALLBACK: Partial<Record<GgmlTypeName, GgmlTypeName>> = { Q4_K: "Q8_0", Q5_K: "Q8_0", Q6_K: "Q8_0", Q4_0: "F16", Q8_0: "F16" };
const QUANT_VERSION = 2;

/** Writes `dir` as a GGUF file at `outPath`. */
export function convertToGguf(dir: string, outPath: string, opts: GgufConvertOptions): void {
  const config = loadModelConfig(dir);
  const generation = loadGenerationConfig(dir);
  const arch = ARCH_NAMES[config.architecture];
  if (arch === undefined) throw new Error(`${dir}: converting ${config.architecture} to GGUF is not supported (supported: ${Object.keys(ARCH_NAMES).join(", ")})`);
  const eos = generation?.eosTokenIds.length ? generation.eosTokenIds : config.eosTokenIds;
  const kvs = [...modelKVs(dir, config, arch, opts.outType), ...ggufTokenizerKVs(dir, config.vocabSize, { bosTokenId: generation?.bosTokenId ?? config.bosTokenId, eosTokenIds: eos })];
  writeGguf(outPath, kvs, tensorsToWrite(dir, config, arch, opts));
}

function modelKVs(dir: string, c: ModelConfig, arch: string, outType: GgufOutType): GgufKV[] {
  const u32 = (key: string, value: number): GgufKV => ({ key: `${arch}.${key}`, type: GgufValueType.UINT32, value });
  const f32 = (key: string, value: number): GgufKV => ({ key: `${arch}.${key}`, type: GgufValueType.FLOAT32, value });
  const kvs: GgufKV[] = [
    { key: "general.architecture", type: GgufValueType.STRING, value: arch },
    { key: "general.name", type: GgufValueType.STRING, value: basename(dir) },
    { key: "general.file_type", type: GgufValueType.UINT32, value: FILE_TYPES[outType] },
    u32("context_length", c.maxPositionEmbeddings), u32("embedding_length", c.hiddenSize), u32("block_count", c.numHiddenLayers),
    u32("feed_forward_length", c.intermediateSize), u32("attention.head_count", c.numAttentionHeads),
    u32("attention.head_count_kv", c.numKeyValueHeads), f32("attention.layer_norm_rms_epsilon", c.rmsNormEps),
    f32("rope.freq_base", c.ropeTheta), u32("rope.dimension_count", c.headDim), u32("vocab_size", c.vocabSize),
    u32("attention.key_length", c.headDim), u32("attention.value_length", c.headDim),
  ];
  if (outType === "Q8_0" || outType === "Q4_K") kvs.push({ key: "general.quantization_version", type: GgufValueType.UINT32, value: QUANT_VERSION });
  if (c.ropeScaling?.type === "linear") {
    kvs.push({ key: `${arch}.rope.scaling.type`, type: GgufValueType.STRING, value: "linear" }, f32("rope.scaling.factor", c.ropeScaling.factor));
  }
  return kvs;
}

function tensorsToWrite(dir: string, c: ModelConfig, arch: string, opts: GgufConvertOptions): GgufTensorToWrite[] {
  const ckpt = openCheckpoint(dir);
  const out: GgufTensorToWrite[] = [];
  if (c.ropeScaling?.type === "llama3") {
    if (arch !== "llama") throw new ModelLoadError(dir, `Llama 3 RoPE scaling cannot be written for the ${arch} architecture`);
    const factors = Float32Array.from(llama3FreqFactors(c.ropeScaling, c.ropeTheta, c.headDim));
    out.push({ name: "rope_freqs.weight", type: "F32", shape: [factors.length], data: new Uint8Array(factors.buffer) });
  }
  for (const info of orderedTensors(ckpt.tensors)) {
    const name = ggufTensorName(info.name);
    if (name === null) throw new ModelLoadError(info.file, "has no GGUF counterpart", info.name);
    if (c.tieWordEmbeddings && name === "output.weight") continue;
    const type = pickType(name, info.shape, opts);
    const heads = arch === "llama" ? permutedHeads(name, c) : null;
    out.push({ name, type, shape: info.shape, data: () => encode(info, type, heads) });
  }
  return out;
}

// Embeddings first, then layer by layer, then the final norm and head, as llama.cpp files are ordered.
function orderedTensors(tensors: Map<string, TensorInfo>): TensorInfo[] {
  const key = (name: string): [number, string] => {
    if (name === "model.embed_tokens.weight") return [-1, name];
    const m = /^model\.layers\.(\d+)\./.exec(name);
    return m ? [Number(m[1]), name] : [Infinity, name];
  };
  return [...tensors.values()].sort((a, b) => {
    const [la, na] = key(a.name), [lb, nb] = key(b.name);
    return la - lb || (na < nb ? -1 : na > nb ? 1 : 0);
  });
}

function pickType(name: string, shape: readonly number[], opts: GgufConvertOptions): GgmlTypeName {
  if (shape.length === 1 || name.endsWith("_norm.weight") || name.endsWith(".bias")) return "F32";
  let type: GgmlTypeName | undefined = opts.typeFor?.(name, shape) ?? opts.outType;
  const cols = shape[shape.length - 1];
  while (type !== undefined && cols % ggmlType(type).blockSize !== 0) type = FALLBACK[type];
  return type ?? "F16";
}

function permutedHeads(name: string, c: ModelConfig): number | null {
  if (/^blk\.\d+\.attn_q\./.test(name)) return c.numAttentionHeads;
  if (/^blk\.\d+\.attn_k\./.test(name)) return c.numKeyValueHeads;
  return null;
}

function encode(info: TensorInfo, type: GgmlTypeName, heads: number | null): Uint8Array {
  let values = tensorToF32(info);
  if (heads !== null) {
    const rowBytes = info.shape.length === 1 ? 4 : info.shape[1] * 4;
    const bytes = permuteHeadRows(new Uint8Array(values.buffer), heads, rowBytes, true);
    values = new Float32Array(bytes.buffer);
  }
  const quantize = QUANTIZERS[type];
  if (quantize === undefined) throw new ModelLoadError(info.file, `the GGUF writer cannot produce ${type}`, info.name);
  return quantize(values);
}
