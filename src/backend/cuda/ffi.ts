// The CUDA kernel library's bun:ffi symbol table (native/include/vllm_kernels.h, the (optional)
// section included) and thin typed wrappers. Pointers other than host buffers are device pointers.
import { CString, dlopen, FFIType, type Pointer, ptr as ptrOf } from "bun:ffi";
import { CORE_SYMBOLS, type CoreKernels, coreKernels } from "../kernel_abi";

const { ptr, i32, i64, void: v } = FFIType;

const SYMBOLS = {
  ...CORE_SYMBOLS,
  vk_activation_dtype: { args: [], returns: i32 },
  vk_device_count: { args: [], returns: i32 },
  vk_last_error: { args: [], returns: ptr },
  vk_clear_error: { args: [], returns: v },
  vk_mem_get_info: { args: [ptr, ptr], returns: i32 },
  vk_memcpy_h2d: { args: [ptr, ptr, i64], returns: v },
  vk_memcpy_d2h: { args: [ptr, ptr, i64], returns: v },
  vk_memcpy_d2d: { args: [ptr, ptr, i64], returns: v },
  vk_synchronize: { args: [], returns: v },
  vk_convert: { args: [ptr, i32, ptr, i32, i64], returns: v },
  vk_matmul_f32: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v },
  vk_rope_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_sample: {
    args: [ptr, ptr, ptr, ptr, ptr, ptr, i32, ptr, i32, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32],
    returns: v,
  },
} as const;

/**
 * One loaded CUDA kernel library. Methods mirror the C functions one to one (same parameter order).
 * Work is queued on the library's stream; failures are recorded for `lastError()`, never thrown here.
 */
export interface CudaKernels extends CoreKernels {
  /** VK_BF16 for this library. */
  activationDtype(): number;
  /** Usable devices; 0 when there is no driver or device. */
  deviceCount(): number;
  /** The first failure since `clearError()`, or null. */
  lastError(): string | null;
  clearError(): void;
  /** Free and total device memory in bytes, or null on failure. */
  memGetInfo(): { free: number; total: number } | null;
  memcpyH2D(dst: Pointer, src: Pointer, nbytes: number): void;
  /** Waits for the queued work, then copies. */
  memcpyD2H(dst: Pointer, src: Pointer, nbytes: number): void;
  memcpyD2D(dst: Pointer, src: Pointer, nbytes: number): void;
  synchronize(): void;
  convert(dst: Pointer, dstDtype: number, src: Pointer, srcDtype: number, n: number): void;
  /** matmul with an f32 output (logits). */
  matmulF32(out: Pointer, x: Pointer, w: Pointer, wdtype: number, bias: Pointer | null, m: number, n: number,
    k: number): void;
  /** rope, then reshapeAndCache of the rotated k and v, in one launch. */
  ropeAndCache(q: Pointer, k: Pointer, v: Pointer, kCache: Pointer, vCache: Pointer, positions: Pointer,
    slotMapping: Pointer, invFreq: Pointer, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;
  sample(outTokens: Pointer, outLogprobs: Pointer, outRanks: Pointer, outTopIds: Pointer, outTopLogprobs: Pointer,
    logits: Pointer, vocab: number, rows: Pointer, nRows: number, fparams: Pointer, iparams: Pointer, opStarts: Pointer,
    opTokens: Pointer, opParams: Pointer, opSaved: Pointer, bitmasks: Pointer, bitmaskWords: number): void;
}

/** dlopens the CUDA kernel library at `path`; throws (dlopen's message) when it or its CUDA libraries are missing. */
export function openCudaKernels(path: string): CudaKernels {
  const s = dlopen(path, SYMBOLS).symbols;
  const info = new BigInt64Array(2);
  return {
    ...coreKernels(s),
    activationDtype: s.vk_activation_dtype,
    deviceCount: s.vk_device_count,
    lastError: () => {
      const p = s.vk_last_error();
      return p ? String(new CString(p)) : null;
    },
    clearError: s.vk_clear_error,
    memGetInfo: () => {
      if (s.vk_mem_get_info(ptrOf(info.subarray(0, 1)), ptrOf(info.subarray(1, 2))) !== 0) return null;
      return { free: Number(info[0]), total: Number(info[1]) };
    },
    memcpyH2D: s.vk_memcpy_h2d,
    memcpyD2H: s.vk_memcpy_d2h,
    memcpyD2D: s.vk_memcpy_d2d,
    synchronize: s.vk_synchronize,
    convert: s.vk_convert,
    matmulF32: s.vk_matmul_f32,
    ropeAndCache: s.vk_rope_and_cache,
    sample: s.vk_sample,
  };
}
