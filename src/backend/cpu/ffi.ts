// The CPU kernel library's bun:ffi symbol table (native/include/vk_core.h and vk_cpu.h) and thin typed wrappers.
import { dlopen, FFIType } from "bun:ffi";
import { CORE_SYMBOLS, type CoreKernels, coreKernels } from "../kernel_abi";

export { VK_BF16, VK_F16, VK_F32, type VkDtype } from "../kernel_abi";

/** CPU feature bits returned by `cpuFeatures()`. */
export const VK_CPU_AVX2 = 1;
export const VK_CPU_FMA = 2;
export const VK_CPU_AVX512F = 4;
export const VK_CPU_AVX512BW = 8;
export const VK_CPU_F16C = 16;
export const VK_CPU_AVX512BF16 = 32;
export const VK_CPU_AVX512VNNI = 64;

const { i32 } = FFIType;

/** vk_cpu.h: what only the CPU library exports. */
export const CPU_SYMBOLS = {
  vk_cpu_features: { args: [], returns: i32 },
  vk_set_num_threads: { args: [i32], returns: i32 },
  vk_num_threads: { args: [], returns: i32 },
} as const;

/**
 * One loaded CPU kernel library. Methods mirror the C functions one to one (same parameter order);
 * pointers are addresses from `alloc()` or bun:ffi `ptr()`. All activations are f32. Ops run
 * synchronously; one that fails (a bad id) has recorded why in `lastError()` when it returns.
 */
export interface CpuKernels extends CoreKernels {
  /** Bitmask of VK_CPU_* the running CPU (and OS) supports. */
  cpuFeatures(): number;
  /** Sets the worker pool size (caller thread included); returns the size in use. */
  setNumThreads(n: number): number;
  /** The worker pool size in use (starts the pool on first call). */
  numThreads(): number;
  /** dlcloses the library (its worker threads exit first); every pointer from it must be freed before. */
  close(): void;
}

/** dlopens one variant of the CPU kernel library at `path`. */
export function openCpuKernels(path: string): CpuKernels {
  const lib = dlopen(path, { ...CORE_SYMBOLS, ...CPU_SYMBOLS });
  const s = lib.symbols;
  return {
    ...coreKernels(s),
    cpuFeatures: s.vk_cpu_features,
    setNumThreads: s.vk_set_num_threads,
    numThreads: s.vk_num_threads,
    close: () => lib.close(),
  };
}
