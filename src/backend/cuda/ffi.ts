// The CUDA kernel library's bun:ffi symbol table (native/include/vk_core.h and vk_device.h) and thin
// typed wrappers. Pointers other than host buffers are device pointers.
import { dlopen, FFIType, type Pointer, ptr as ptrOf } from "bun:ffi";
import { CORE_SYMBOLS, type CoreKernels, coreKernels } from "../kernel_abi";

const { ptr, i32, i64, f32, void: v } = FFIType;

/** vk_device.h: what only a GPU library exports. */
export const DEVICE_SYMBOLS = {
  vk_device_count: { args: [], returns: i32 },
  vk_mem_get_info: { args: [ptr, ptr], returns: i32 },
  vk_memcpy_h2d: { args: [ptr, ptr, i64], returns: v },
  vk_memcpy_d2h: { args: [ptr, ptr, i64], returns: v },
  vk_memcpy_d2d: { args: [ptr, ptr, i64], returns: v },
  vk_synchronize: { args: [], returns: v },
  vk_convert: { args: [ptr, i32, ptr, i32, i64], returns: v },
  vk_matmul_f32: { args: [ptr, ptr, ptr, i32, ptr, i32, i32, i32], returns: v },
  vk_rope_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
  vk_qkv_rope_and_cache: { args: [ptr, ptr, ptr, ptr, ptr, ptr, i32, f32, ptr, ptr, ptr, i32, i32, i32, i32], returns: v },
} as const;

/**
 * One loaded CUDA kernel library. Methods mirror the C functions one to one (same parameter order).
 * Work is queued on the library's stream; failures (bad ids found by kernels included) are recorded
 * for `lastError()`, never thrown here, and show once the device has run the op.
 */
export interface CudaKernels extends CoreKernels {
  /** Usable devices; 0 when there is no driver or device. */
  deviceCount(): number;
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
  ropeAndCache(q: Pointer, k: Pointer, kCache: Pointer, vCache: Pointer, v: Pointer, positions: Pointer,
    slotMapping: Pointer, invFreq: Pointer, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;
  /** Optional q/k norms, rope, q out and k/v to the caches, from one fused qkv projection (vk_device.h). */
  qkvRopeAndCache(qOut: Pointer, kCache: Pointer, vCache: Pointer, qkv: Pointer, qNorm: Pointer | null,
    kNorm: Pointer | null, normDtype: number, eps: number, positions: Pointer, slotMapping: Pointer, invFreq: Pointer,
    nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void;
}

/** dlopens the CUDA kernel library at `path`; throws (dlopen's message) when it or its CUDA libraries are missing. */
export function openCudaKernels(path: string): CudaKernels {
  const s = dlopen(path, { ...CORE_SYMBOLS, ...DEVICE_SYMBOLS }).symbols;
  const info = new BigInt64Array(2);
  return {
    ...coreKernels(s),
    deviceCount: s.vk_device_count,
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
    qkvRopeAndCache: s.vk_qkv_rope_and_cache,
  };
}
