/**
 * The bun:ffi signatures of the core kernel ABI (native/include/vk_core.h), which every kernel library
 * exports. Each library's ffi module adds the symbols of its own part (vk_cpu.h, vk_device.h).
 */
import { CString, FFIType, type Library, type Pointer } from "bun:ffi";
import { type DType, numel, type Tensor } from "./backend";

const { ptr, i32, i64, i64_fast, f32, cstring, void: v } = FFIType;

export const CORE_SYMBOLS = {
  vk_variant: { args: [], returns: cstring },
  vk_activation_dtype: { args: [], returns: i32 },
  vk_alloc: { args: [i64], returns: ptr },
  vk_free: { args: [ptr], returns: v },
  vk_last_error: { args: [], returns: ptr },
  vk_clear_error: { args: [], returns: v },
  vk_embedding: { args: [ptr, ptr, i32, i32, ptr, i32, i32], returns: v },
  vk_rms_norm: { args: [ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_add_rms_norm: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_rope: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_silu_mul: { args: [ptr, ptr, i32, i32], returns: v },
  vk_matmul: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v },
  vk_reshape_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, i32, i32, i32], returns: v },
  vk_paged_attention: { args: [ptr, ptr, ptr, ptr, ptr, i32, ptr, ptr, i32, i32, i32, i32, i32, i32, f32, i32, f32], returns: v },
  vk_gelu_tanh_mul: { args: [ptr, ptr, i32, i32], returns: v },
  vk_soft_cap: { args: [ptr, i32, i32, f32], returns: v },
  vk_scale: { args: [ptr, i32, i32, f32], returns: v },
  vk_moe_route: { args: [ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_moe_workspace_bytes: { args: [i32, i32, i32, i32, i32], returns: i64_fast },
  vk_moe_experts: { args: [ptr, ptr, ptr, ptr, ptr, i32, ptr, ptr, i32, i32, i32, i32, i32], returns: v },
  vk_moe_shared_add: { args: [ptr, ptr, ptr, i32, i32], returns: v },
  vk_log_softmax: { args: [ptr, ptr, i32, i32], returns: v },
  vk_topk: { args: [ptr, ptr, ptr, i32, i32, i32], returns: v },
  vk_sample: {
    args: [ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32, ptr, i32, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32],
    returns: v,
  },
} as const;

/** Weight and activation dtype codes of the kernel ABI. */
export const VK_F32 = 0;
export const VK_F16 = 1;
export const VK_BF16 = 2;
export type VkDtype = typeof VK_F32 | typeof VK_F16 | typeof VK_BF16;
/** A tensor's dtype as the ABI's code (i32 tensors are never passed with a dtype). */
export const DTYPE_CODE: Record<DType, VkDtype> = { f32: VK_F32, f16: VK_F16, bf16: VK_BF16, i32: VK_F32 };

/** vk_embedding's n_rows for `table`: whole rows of `hidden` elements it holds (a row gather's table is a buffer). */
export function tableRows(table: Tensor, hidden: number): number {
  return hidden > 0 ? Math.floor(numel(table.shape) / hidden) : 0;
}

/** Typed wrappers of CORE_SYMBOLS, one per C function in the same parameter order (outputs first). */
export interface CoreKernels {
  /** Library identity: the CPU variant, or the CUDA device. */
  variant(): string;
  /** VK_F32 or VK_BF16: the element type of activations and the KV cache. */
  activationDtype(): number;
  /** Zero-filled memory (host for the CPU library, device for GPU ones); null on failure. */
  alloc(nbytes: number): Pointer | null;
  free(p: Pointer): void;
  /** The first failure since `clearError()` (a bad id, or a GPU runtime error), or null. */
  lastError(): string | null;
  clearError(): void;
  /** Fails (see lastError) on an id outside [0, nRows). */
  embedding(out: Pointer, table: Pointer, dtype: number, nRows: number, ids: Pointer, nTokens: number,
    hidden: number): void;
  rmsNorm(out: Pointer, x: Pointer, w: Pointer, wdtype: number, nRows: number, hidden: number, eps: number): void;
  addRmsNorm(out: Pointer, residual: Pointer, x: Pointer, w: Pointer, wdtype: number, nRows: number, hidden: number,
    eps: number): void;
  rope(q: Pointer, k: Pointer, positions: Pointer, invFreq: Pointer, nTokens: number, nQHeads: number,
    nKvHeads: number, headDim: number): void;
  siluMul(out: Pointer, gateUp: Pointer, nTokens: number, inter: number): void;
  matmul(out: Pointer, x: Pointer, w: Pointer, wdtype: number, bias: Pointer | null, m: number, n: number,
    k: number): void;
  reshapeAndCache(kCache: Pointer, vCache: Pointer, k: Pointer, v: Pointer, slotMapping: Pointer, nTokens: number,
    nKvHeads: number, headDim: number): void;
  pagedAttention(out: Pointer, q: Pointer, kCache: Pointer, vCache: Pointer, blockTables: Pointer,
    maxBlocksPerSeq: number, seqLens: Pointer, queryStartLoc: Pointer, nSeqs: number, maxQueryLen: number,
    nQHeads: number, nKvHeads: number, headDim: number, blockSize: number, scale: number, slidingWindow: number,
    softCap: number): void;
  geluTanhMul(out: Pointer, gateUp: Pointer, nTokens: number, inter: number): void;
  softCap(x: Pointer, nRows: number, nCols: number, cap: number): void;
  scale(x: Pointer, nRows: number, nCols: number, s: number): void;
  /** Softmax over router logits, top-k experts, optionally renormalised (vk_moe_route). */
  moeRoute(topkIds: Pointer, topkWeights: Pointer, routerLogits: Pointer, nTokens: number, nExperts: number, topK: number,
    renormalize: number): void;
  moeWorkspaceBytes(nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): number;
  /** The routed experts, grouped by expert (vk_moe_experts); fails on an expert id outside [0, nExperts). */
  moeExperts(out: Pointer, workspace: Pointer, x: Pointer, wGateUp: Pointer, wDown: Pointer, wdtype: number,
    topkIds: Pointer, topkWeights: Pointer, nTokens: number, hidden: number, inter: number, nExperts: number,
    topK: number): void;
  moeSharedAdd(out: Pointer, shared: Pointer, gateLogits: Pointer, nTokens: number, hidden: number): void;
  logSoftmax(out: Pointer, x: Pointer, nRows: number, nCols: number): void;
  topk(outIds: Pointer, outVals: Pointer, x: Pointer, nRows: number, nCols: number, k: number): void;
  /** Samples (or scores forced tokens of) logits rows; arguments from sampling_abi.ts. Fails on an id outside its table. */
  sample(outTokens: Pointer, outLogprobs: Pointer, outRanks: Pointer, outTopIds: Pointer, outTopLogprobs: Pointer,
    opSaved: Pointer, logits: Pointer, nLogitRows: number, vocab: number, rows: Pointer, nRows: number,
    fparams: Pointer, iparams: Pointer, opStarts: Pointer, opTokens: Pointer, opParams: Pointer, bitmasks: Pointer,
    nBitmaskRows: number, bitmaskWords: number): void;
}

/** The core wrappers over a loaded library's symbols (each library module adds its own on top). */
export function coreKernels(s: Library<typeof CORE_SYMBOLS>["symbols"]): CoreKernels {
  return {
    variant: () => String(s.vk_variant()),
    activationDtype: s.vk_activation_dtype,
    alloc: (nbytes) => s.vk_alloc(nbytes) as Pointer | null,
    free: s.vk_free,
    lastError: () => {
      const p = s.vk_last_error();
      return p ? String(new CString(p)) : null;
    },
    clearError: s.vk_clear_error,
    embedding: s.vk_embedding,
    rmsNorm: s.vk_rms_norm,
    addRmsNorm: s.vk_add_rms_norm,
    rope: s.vk_rope,
    siluMul: s.vk_silu_mul,
    matmul: s.vk_matmul,
    reshapeAndCache: s.vk_reshape_and_cache,
    pagedAttention: s.vk_paged_attention,
    geluTanhMul: s.vk_gelu_tanh_mul,
    softCap: s.vk_soft_cap,
    scale: s.vk_scale,
    moeRoute: s.vk_moe_route,
    moeWorkspaceBytes: (...a) => Number(s.vk_moe_workspace_bytes(...a)),
    moeExperts: s.vk_moe_experts,
    moeSharedAdd: s.vk_moe_shared_add,
    logSoftmax: s.vk_log_softmax,
    topk: s.vk_topk,
    sample: s.vk_sample,
  };
}
