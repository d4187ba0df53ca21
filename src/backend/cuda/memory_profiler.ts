/**
 * KV cache sizing from --gpu-memory-utilization, as vLLM does it: the engine may use that fraction
 * of the device's memory; what the weights and a profiling forward at the largest batch leave of it
 * goes to the KV cache. The library's buffers (activations, attention and GEMM workspaces) only
 * grow and stay, so the memory in use after the profiling forward is the peak.
 */
import type { CudaBackend } from "./cuda_backend";

export interface KvCacheBudget {
  /** Bytes the KV cache may take. */
  kvCacheBytes: number;
  totalBytes: number;
  /** In use on the device after the profiling forward (this process and any other). */
  usedBytes: number;
  /** Seconds the profiling forward took (the first forward also warms up kernels and GEMM plans). */
  profileSeconds: number;
}

/** Runs `profile` (a forward at max_num_batched_tokens), then measures what is left for the KV cache. */
export function measureKvCacheBudget(backend: CudaBackend, utilization: number, profile: () => void): KvCacheBudget {
  if (!(utilization > 0 && utilization <= 1)) throw new Error(`--gpu-memory-utilization must be in (0, 1], got ${utilization}`);
  const t0 = performance.now();
  profile();
  backend.synchronize();
  const profileSeconds = (performance.now() - t0) / 1000;
  const { free, total } = backend.memoryInfo();
  const usedBytes = total - free;
  const kvCacheBytes = Math.floor(total * utilization) - usedBytes;
  if (kvCacheBytes <= 0) {
    throw new Error(`--gpu-memory-utilization ${utilization} allows ${gib(total * utilization)} of ${gib(total)}, but ` +
      `${gib(usedBytes)} is already in use after loading the weights and a profiling forward: no memory is left for ` +
      "the KV cache; raise --gpu-memory-utilization or lower --max-num-batched-tokens");
  }
  return { kvCacheBytes, totalBytes: total, usedBytes, profileSeconds };
}

/** KV blocks that fit `budget`, capped at `maxBlocks`; throws when fewer than `minBlocks` (one full sequence) fit. */
export function kvCacheBlocksFor(budget: KvCacheBudget, bytesPerBlock: number, minBlocks: number, maxBlocks: number): number {
  const numBlocks = Math.min(Math.floor(budget.kvCacheBytes / bytesPerBlock), maxBlocks);
  if (numBlocks < minBlocks) {
    throw new Error(`the KV cache gets ${gib(budget.kvCacheBytes)}: ${numBlocks} blocks, fewer than one full-length ` +
      `sequence needs (${minBlocks}); raise --gpu-memory-utilization or lower --max-model-len`);
  }
  return numBlocks;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
