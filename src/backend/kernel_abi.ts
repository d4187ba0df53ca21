/**
 * The bun:ffi signatures of the ops every kernel library exports (native/include/vllm_kernels.h, outside
 * its "(optional)" section). Each library's ffi module adds its own extra symbols to these.
 */
import { FFIType, type Library, type Pointer } from "bun:ffi";

const { ptr, i32, i64, f32, cstring, void: v } = FFIType;

export const CORE_SYMBOLS = {
  vk_variant: { args: [], returns: cstring },
  vk_alloc: { args: [i64], returns: ptr },
  vk_free: { args: [ptr], returns: v },
  vk_embedding: { args: [ptr, ptr, i32, ptr, i32, i32], returns: v },
  vk_rms_norm: { args: [ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_add_rms_norm: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, f32], returns: v },
  vk_rope: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_silu_mul: { args: [ptr, ptr, i32, i32], returns: v },
  vk_matmul: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v },
  vk_reshape_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, i32, i32, i32], returns: v },
  vk_paged_attention: { args: [ptr, ptr, ptr, ptr, ptr, i32, ptr, ptr, i32, i32, i32, i32, i32, f32], returns: v },
  vk_log_softmax: { args: [ptr, ptr, i32, i32], returns: v },
  vk_topk: { args: [ptr, ptr, ptr, i32, i32, i32], returns: v },
} as const;

/** Typed wrappers of CORE_SYMBOLS, one per C function in the same parameter order. */
export interface CoreKernels {
  /** Library identity: the CPU variant, or the CUDA device. */
  variant(): string;
  /** Zero-filled memory (host for the CPU library, device for GPU ones); null on failure. */
  alloc(nbytes: number): Pointer | null;
  free(p: Pointer): void;
  embedding(out: Pointer, table: Pointer, dtype: number, ids: Pointer, nTokens: number, hidden: number): void;
  rmsNorm(out: Pointer, x: Pointer, w: Pointer, wdtype: number, nRows: number, hidden: number, eps: number): void;
  addRmsNorm(out: Pointer, residual: Pointer, x: Pointer, w: Pointer, wdtype: number, nRows: number, hidden: number,
    eps: number): void;
  rope(q: Pointer, k: Pointer, positions: Pointer, invFreq: Pointer, nTokens: number, nQHeads: number,
    nKvHeads: number, headDim: number): void;
  siluMul(out: Pointer, gateUp: Pointer, nTokens: number, inter: number): void;
  matmul(out: Pointer, x: Pointer, w: Pointer, wdtype: number, bias: Pointer | null, m: number, n: number,
    k: number): void;
  reshapeAndCache(k: Pointer, v: Pointer, kCache: Pointer, vCache: Pointer, slotMapping: Pointer, nTokens: number,
    nKvHeads: number, headDim: number): void;
  pagedAttention(out: Pointer, q: Pointer, kCache: Pointer, vCache: Pointer, blockTables: Pointer,
    maxBlocksPerSeq: number, seqLens: Pointer, queryStartLoc: Pointer, nSeqs: number, nQHeads: number,
    nKvHeads: number, headDim: number, blockSize: number, scale: number): void;
  logSoftmax(out: Pointer, x: Pointer, nRows: number, nCols: number): void;
  topk(outIds: Pointer, outVals: Pointer, x: Pointer, nRows: number, nCols: number, k: number): void;
}

/** The core wrappers over a loaded library's symbols (each library module adds its own on top). */
export function coreKernels(s: Library<typeof CORE_SYMBOLS>["symbols"]): CoreKernels {
  return {
    variant: () => String(s.vk_variant()),
    alloc: (nbytes) => s.vk_alloc(nbytes) as Pointer | null,
    free: s.vk_free,
    embedding: s.vk_embedding,
    rmsNorm: s.vk_rms_norm,
    addRmsNorm: s.vk_add_rms_norm,
    rope: s.vk_rope,
    siluMul: s.vk_silu_mul,
    matmul: s.vk_matmul,
    reshapeAndCache: s.vk_reshape_and_cache,
    pagedAttention: s.vk_paged_attention,
    logSoftmax: s.vk_log_softmax,
    topk: s.vk_topk,
  };
}
