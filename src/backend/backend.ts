/**
 * The Backend interface: tensors and the op set every kernel library provides (cpu now, cuda/rocm later).
 * Ops mirror the kernel ABI's ops (native/include/vk_core.h, vk_device.h) one to one; shapes are passed explicitly because buffers are
 * allocated once at their maximum size and each step uses a prefix of them.
 */
import type { TensorInfo } from "../model_loader/safetensors";

export type DType = "f32" | "f16" | "bf16" | "i32";

/** A buffer owned by a backend. `ptr` is a host pointer on cpu and a device pointer on gpu. */
export interface Tensor {
  readonly ptr: number;
  readonly dtype: DType;
  readonly shape: readonly number[];
  /** Keeps mmapped or host memory alive while the tensor is referenced (optional). */
  readonly owner?: unknown;
}

export interface Backend {
  readonly name: "cpu" | "cuda" | "rocm";
  /** Human-readable line for the startup log, e.g. "cpu (avx2, 2 threads)". */
  readonly description: string;
  /** Dtype activations and the KV cache use on this backend. */
  readonly activationDtype: DType;

  empty(shape: readonly number[], dtype: DType): Tensor;
  /** A weight from a checkpoint, zero-copy where the backend can read it in place. */
  weight(info: TensorInfo): Tensor;
  /** Rows of several weights stacked into one tensor (fused projections such as gate_up_proj). */
  concatRows(parts: readonly TensorInfo[]): Tensor;
  /** Copies host data into the first bytes of `dst`. */
  write(dst: Tensor, src: Int32Array | Float32Array): void;
  /** Copies the first `count` f32 elements of `src` to the host. */
  readF32(src: Tensor, count: number): Float32Array;
  free(t: Tensor): void;

  embedding(out: Tensor, table: Tensor, ids: Tensor, nTokens: number, hidden: number): void;
  rmsNorm(out: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void;
  addRmsNorm(out: Tensor, residual: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void;
  rope(q: Tensor, k: Tensor, positions: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;
  siluMul(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void;
  /** out[m, n] = x[m, k] @ w[n, k]^T (+ bias). */
  matmul(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null, m: number, n: number, k: number): void;
  reshapeAndCache(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, slotMapping: Tensor, nTokens: number, nKvHeads: number, headDim: number): void;
  /** Causal paged attention (vk_paged_attention); `layer` carries the per-layer sliding window and soft cap. */
  pagedAttention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, a: AttentionMetadata, nQHeads: number, nKvHeads: number, headDim: number, blockSize: number, scale: number, layer?: AttentionLayerOptions): void;
  logSoftmax(out: Tensor, x: Tensor, nRows: number, nCols: number): void;
  topk(outIds: Tensor, outVals: Tensor, x: Tensor, nRows: number, nCols: number, k: number): void;

  /**
   * (optional) rope, then reshapeAndCache of the rotated k and v, fused into one pass with the same results.
   * Backends without it (cpu) get the two calls.
   */
  ropeAndCache?(q: Tensor, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, positions: Tensor, slotMapping: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;

  /**
   * (optional) The step after one fused q|k|v projection (qkv [nTokens, nQHeads + 2 nKvHeads, headDim]): per-head
   * q/k RMSNorm when qNorm and kNorm are given, rope, q to qOut, k and v to the caches (vk_qkv_rope_and_cache).
   * Backends without it (cpu) keep q, k and v apart and make the separate calls.
   */
  qkvRopeAndCache?(qOut: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, qNorm: Tensor | null, kNorm: Tensor | null, eps: number, positions: Tensor, slotMapping: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;

  /** (optional) GeGLU: out = gelu_tanh(gate) * up over gateUp [nTokens, 2 * inter] = [gate | up] (Gemma's MLP). */
  geluTanhMul?(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void;
  /** (optional) x = cap * tanh(x / cap) in place over f32 [nRows, nCols] (Gemma 2's final logit soft-capping). */
  softCap?(x: Tensor, nRows: number, nCols: number, cap: number): void;
  /** (optional) x *= s in place over activations [nRows, nCols] (Gemma's embedding scale). */
  scale?(x: Tensor, nRows: number, nCols: number, s: number): void;

  /**
   * (optional) Mixture-of-experts routing (vk_moe_route): softmax over routerLogits [nTokens, nExperts] in f32,
   * the topK experts per token into topkIds (i32) and topkWeights (f32), renormalised to sum 1 when asked.
   */
  moeRoute?(topkIds: Tensor, topkWeights: Tensor, routerLogits: Tensor, nTokens: number, nExperts: number, topK: number, renormalize: boolean): void;
  /** (optional) Bytes of the workspace moeExperts needs for up to nTokens tokens. */
  moeWorkspaceBytes?(nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): number;
  /**
   * (optional) The routed experts (vk_moe_experts): out = sum of topkWeights * expert MLP(x) over each token's
   * experts, grouped by expert; wGateUp [nExperts * 2 * inter, hidden] (gate then up rows per expert), wDown
   * [nExperts * hidden, inter]. Throws on an expert id outside [0, nExperts).
   */
  moeExperts?(out: Tensor, workspace: Tensor, x: Tensor, wGateUp: Tensor, wDown: Tensor, topkIds: Tensor, topkWeights: Tensor, nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): void;
  /** (optional) out += sigmoid(gateLogits[t]) * shared[t] per token (Qwen2-MoE's gated shared expert). */
  moeSharedAdd?(out: Tensor, shared: Tensor, gateLogits: Tensor, nTokens: number, hidden: number): void;

  /**
   * (optional) Samples in the kernel library (vk_sample in the kernel ABI): one token per entry of `batch` from
   * the f32 logits [*, vocab], plus logprobs where asked; on a GPU only the results cross to the host. Backends
   * without it leave sampling to src/sample/sampler.ts.
   */
  sample?(logits: Tensor, vocab: number, batch: SamplingBatch): SamplingResult;

  /** (optional) Free and total bytes of device memory; backends with a memory budget (cuda) size the KV cache from it. */
  memoryInfo?(): { free: number; total: number };
  /** (optional) Waits for queued device work and surfaces its errors. */
  synchronize?(): void;
}

/** Most top logprobs Backend.sample returns per entry (VK_SAMPLE_MAX_LOGPROBS). */
export const MAX_SAMPLE_LOGPROBS = 20;

/** Inputs of Backend.sample, one element per entry (host data). Semantics: vk_sample in vk_core.h. */
export interface SamplingBatch {
  /** The logits row each entry reads; rows with logits processors must be distinct. */
  rows: Int32Array;
  temperature: Float64Array; // < 1e-5: greedy
  topP: Float64Array; // 1: off
  minP: Float64Array; // 0: off
  topK: Int32Array; // 0: off
  /** Uniform in [0, 1), drawn by the host; unused by greedy entries. */
  u: Float64Array;
  /** >= 0: score this token instead of sampling (prompt logprobs). */
  forcedToken: Int32Array;
  /** -1: no logprobs; else the token's logprob and rank plus this many top logprobs (<= MAX_SAMPLE_LOGPROBS). */
  numLogprobs: Int32Array;
  /** Entry r's logits processors are ops [opStarts[r], opStarts[r + 1]): opTokens, and opParams [add, repetition, subtract]. */
  opStarts: Int32Array;
  opTokens: Int32Array;
  opParams: Float64Array;
  /** Grammar bitmasks [*, bitmaskWords]; entry r uses row bitmaskRow[r] (-1: none). */
  bitmasks: Int32Array | null;
  bitmaskWords: number;
  bitmaskRow: Int32Array;
}

/** Outputs of Backend.sample; logprob fields are meaningful only for entries that asked for them. */
export interface SamplingResult {
  tokenIds: Int32Array;
  logprobs: Float32Array;
  ranks: Int32Array;
  /** [entries, MAX_SAMPLE_LOGPROBS], largest first. */
  topIds: Int32Array;
  topLogprobs: Float32Array;
}

/** Per-step attention layout of the flat batch (device tensors plus their sizes). */
export interface AttentionMetadata {
  blockTables: Tensor; // [numSeqs, maxBlocksPerSeq] i32
  maxBlocksPerSeq: number;
  seqLens: Tensor; // [numSeqs] i32, cached + new tokens
  queryStartLoc: Tensor; // [numSeqs + 1] i32
  numSeqs: number;
  /** Largest query length of the step (1: decode only). */
  maxQueryLen: number;
}

/** Per-layer attention variants; 0 turns each off (the default). */
export interface AttentionLayerOptions {
  /** Keys at positions <= query position - slidingWindow are not seen. */
  slidingWindow?: number;
  /** Scaled scores s become softCap * tanh(s / softCap) before the softmax. */
  softCap?: number;
}

/** Maps a safetensors dtype to a backend dtype, or throws naming the tensor. */
export function weightDtype(info: TensorInfo): DType {
  switch (info.dtype) {
    case "F32": return "f32";
    case "F16": return "f16";
    case "BF16": return "bf16";
    default:
      throw new Error(`${info.file}: tensor ${info.name} has dtype ${info.dtype}; only F32, F16 and BF16 weights are supported`);
  }
}

export function dtypeBytes(d: DType): number {
  return d === "f16" || d === "bf16" ? 2 : 4;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
