// A GGUF file's tensors as the Checkpoint the model loads from: Hugging Face names and row-major
// shapes. F32/F16/BF16 tensors are zero-copy views of the mapping. Quantized tensors are dequantized to
// f16 when the model reads them (the CPU kernels take f32/f16/bf16 weights; native quantized dot products
// are not implemented yet), and Llama-family q/k rows get llama.cpp's permutation undone.
import type { Checkpoint } from "./checkpoint";
import { ModelLoadError } from "./errors";
import type { GgufFile, GgufTensorInfo } from "./gguf";
import { DEQUANTIZERS } from "./gguf_dequant";
import { toF16Bytes } from "./gguf_half";
import { hfTensorName, permuteHeadRows } from "./gguf_names";
import type { ModelConfig } from "./model_config";
import type { SafetensorsDtype, TensorInfo } from "./safetensors";

const PLAIN: Record<string, SafetensorsDtype> = { F32: "F32", F16: "F16", BF16: "BF16" };
const PLAIN_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };
const F16_MAX = 65504;
/** Tensors GGUF adds that are folded into ModelConfig instead. */
const CONSUMED = new Set(["rope_freqs.weight"]);

export function ggufCheckpoint(file: GgufFile, config: ModelConfig): Checkpoint {
  const tensors = new Map<string, TensorInfo>();
  for (const t of file.tensors.values()) {
    if (CONSUMED.has(t.name)) continue;
    const name = hfTensorName(t.name);
    if (name === null) throw new ModelLoadError(file.path, `is not a tensor of the ${config.modelType} architecture`, t.name);
    tensors.set(name, tensorInfo(t, name, permutedHeads(t.name, config)));
  }
  return {
    dir: file.path,
    files: [],
    tensors,
    get(name: string): TensorInfo {
      const t = tensors.get(name);
      if (t === undefined) throw new ModelLoadError(file.path, `not found (${tensors.size} tensors in the file)`, name);
      return t;
    },
    has: (name: string) => tensors.has(name),
  };
}

/** Head count of a q/k tensor whose rows the converter permuted (llama architecture only), else null. */
function permutedHeads(gguf: string, c: ModelConfig): number | null {
  if (c.modelType !== "llama") return null;
  if (/^blk\.\d+\.attn_q\.(weight|bias)$/.test(gguf)) return c.numAttentionHeads;
  if (/^blk\.\d+\.attn_k\.(weight|bias)$/.test(gguf)) return c.numKeyValueHeads;
  return null;
}

function tensorInfo(t: GgufTensorInfo, name: string, heads: number | null): TensorInfo {
  const plain = PLAIN[t.type.name];
  const base = { name: `${name} (${t.name})`, shape: t.shape, file: t.file };
  if (plain !== undefined && heads === null) return { ...base, dtype: plain, data: t.data };
  const dequant = DEQUANTIZERS[t.type.name];
  if (dequant === undefined) {
    throw new ModelLoadError(t.file, `has type ${t.type.name}, which is not supported (supported: ${Object.keys(DEQUANTIZERS).join(", ")})`, t.name);
  }
  // A bias permutes element by element, a matrix row by row (whole blocks, so before dequantizing).
  const rowBytes = t.dims.length === 1 ? PLAIN_BYTES[t.type.name] : (t.dims[0] / t.type.blockSize) * t.type.typeSize;
  if (heads !== null && rowBytes === undefined) throw new ModelLoadError(t.file, `is a ${t.type.name} vector, which cannot be permuted per row`, t.name);
  const rows = (src: Uint8Array) => (heads === null ? src : permuteHeadRows(src, heads, rowBytes, false));
  if (plain !== undefined) return lazy({ ...base, dtype: plain }, () => rows(t.data));
  return lazy({ ...base, dtype: "F16" }, () => toF16Checked(t, dequant(rows(t.data), t.numel)));
}

function toF16Checked(t: GgufTensorInfo, values: Float32Array): Uint8Array {
  for (let i = 0; i < values.length; i++) {
    if (!(Math.abs(values[i]) <= F16_MAX)) throw new ModelLoadError(t.file, `dequantizes to ${values[i]} at element ${i}, outside the f16 range the weights are kept in`, t.name);
  }
  return toF16Bytes(values);
}

/**
 * A TensorInfo whose bytes are produced when first read. A WeakRef keeps them only while someone holds
 * them (the backend reads `data` twice while copying it into its own memory), so a whole model is never
 * dequantized at once.
 */
function lazy(base: Omit<TensorInfo, "data">, produce: () => Uint8Array): TensorInfo {
  let cache: WeakRef<Uint8Array> | null = null;
  return Object.defineProperty({ ...base } as TensorInfo, "data", {
    enumerable: true,
    get(): Uint8Array {
      const hit = cache?.deref();
      if (hit !== undefined) return hit;
      const data = produce();
      cache = new WeakRef(data);
      return data;
    },
  });
}
