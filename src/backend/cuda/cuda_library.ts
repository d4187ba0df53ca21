// Finds and loads the CUDA kernel library, or says why it cannot: no library in this build, no CUDA
// runtime or cuBLAS on the machine (dlopen fails), or no device.
import { existsSync } from "node:fs";
import { locateLibrary } from "../native_library";
import { type CudaKernels, openCudaKernels } from "./ffi";

export const CUDA_LIBRARY = "libvk_cuda.so";

export type CudaProbe = { ok: true; kernels: CudaKernels; path: string } | { ok: false; reason: string };

let probed: CudaProbe | null = null;

/**
 * Loads the CUDA library once per process: $VLLM_CUDA_LIBRARY when set, else the embedded or built
 * build/native/libvk_cuda.so. `ok: false` carries a one-line reason for the startup log.
 */
export function probeCuda(): CudaProbe {
  probed ??= probe();
  return probed;
}

function probe(): CudaProbe {
  const override = process.env.VLLM_CUDA_LIBRARY;
  if (override && !existsSync(override)) return { ok: false, reason: `VLLM_CUDA_LIBRARY=${override} does not exist` };
  const path = override || locateLibrary(CUDA_LIBRARY);
  if (!path) return { ok: false, reason: `this build has no CUDA kernel library (${CUDA_LIBRARY}; see scripts/build-cuda.mjs)` };
  let kernels: CudaKernels;
  try {
    kernels = openCudaKernels(path);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { ok: false, reason: `the CUDA runtime or cuBLAS could not be loaded (${msg.split("\n")[0]})` };
  }
  const devices = kernels.deviceCount();
  if (devices < 1) return { ok: false, reason: "no CUDA device is visible (driver missing or CUDA_VISIBLE_DEVICES empty)" };
  return { ok: true, kernels, path };
}
