/** Backend selection for `--device`: auto picks CUDA when its runtime and a device are present, else the CPU. */
import type { Backend } from "./backend";
import { CpuBackend } from "./cpu/cpu_backend";
import { CudaBackend } from "./cuda/cuda_backend";
import { probeCuda } from "./cuda/cuda_library";

export type Device = "auto" | "cpu" | "cuda";
export const DEVICES: readonly Device[] = ["auto", "cpu", "cuda"];

export interface BackendOptions {
  /** Kernel threads for the CPU backend (`--cpu-threads`); null: all CPUs. */
  cpuThreads?: number | null;
}

/** The backend and why it was chosen, for the startup log line. */
export interface BackendChoice {
  backend: Backend;
  reason: string;
}

/** Creates the backend `device` asks for. `cuda` throws with the reason when CUDA is unusable; `auto` falls back. */
export function createBackend(device: Device, opts: BackendOptions = {}): BackendChoice {
  const cpu = () => new CpuBackend({ numThreads: opts.cpuThreads ?? undefined });
  if (device === "cpu") return { backend: cpu(), reason: "--device cpu" };
  const probe = probeCuda();
  if (probe.ok) return { backend: new CudaBackend(probe.kernels), reason: `--device ${device}: CUDA device found` };
  if (device === "cuda") throw new Error(`--device cuda: ${probe.reason}`);
  return { backend: cpu(), reason: `--device auto: using the CPU because ${probe.reason}` };
}

/** Whether CUDA is usable here (library, runtime and a device), without creating a backend. */
export function cudaAvailable(): boolean {
  return probeCuda().ok;
}
