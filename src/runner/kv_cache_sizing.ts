/**
 * How many KV cache blocks the engine gets, decided in one place. On a backend with a device memory budget
 * (CUDA), as vLLM does it: the engine may use --gpu-memory-utilization of the device; what the weights and a
 * profiling forward at the largest batch leave of it goes to the KV cache (the library's buffers only grow, so
 * the memory in use after the profiling forward is the peak). Elsewhere --kv-cache-memory is the budget.
 * --num-gpu-blocks-override replaces either. The result is capped at what max_num_seqs full contexts use.
 */
import { type Backend, type DType, dtypeBytes } from "../backend/backend";
import type { ModelConfig } from "../model_loader/model_config";

export interface KvCacheSizing {
  blockSize: number;
  maxModelLen: number;
  maxNumSeqs: number;
  kvCacheMemoryBytes: number;
  gpuMemoryUtilization: number;
  numGpuBlocksOverride: number | null;
}

export interface KvCacheBlocks {
  numBlocks: number;
  /** The startup log line that says where the number came from. */
  description: string;
}

/** Bytes of K and V for one block across all layers. */
export function kvBytesPerBlock(m: ModelConfig, blockSize: number, dtype: DType): number {
  return 2 * m.numHiddenLayers * blockSize * m.numKeyValueHeads * m.headDim * dtypeBytes(dtype);
}

/** `profile` runs a forward at the largest step; it is only called on a backend with a device memory budget. */
export function kvCacheBlocks(s: KvCacheSizing, m: ModelConfig, backend: Backend, profile: () => void): KvCacheBlocks {
  const blocksPerSeq = Math.ceil(s.maxModelLen / s.blockSize);
  const fewer = (n: number, what: string) => `${what} holds ${n} KV blocks, fewer than one ${s.maxModelLen}-token sequence needs (${blocksPerSeq})`;
  if (s.numGpuBlocksOverride !== null) {
    if (s.numGpuBlocksOverride < blocksPerSeq) throw new Error(fewer(s.numGpuBlocksOverride, `--num-gpu-blocks-override ${s.numGpuBlocksOverride}`));
    return { numBlocks: s.numGpuBlocksOverride, description: `${s.numGpuBlocksOverride} blocks (--num-gpu-blocks-override)` };
  }
  const bytesPerBlock = kvBytesPerBlock(m, s.blockSize, backend.activationDtype);
  const budget = backend.memoryInfo ? deviceBudget(backend, s.gpuMemoryUtilization, profile) : { bytes: s.kvCacheMemoryBytes, flag: `--kv-cache-memory ${s.kvCacheMemoryBytes}`, note: "" };
  const numBlocks = Math.min(Math.floor(budget.bytes / bytesPerBlock), blocksPerSeq * s.maxNumSeqs);
  if (numBlocks < blocksPerSeq) throw new Error(`${fewer(numBlocks, budget.flag)}; raise it or lower --max-model-len`);
  return { numBlocks, description: `${numBlocks} blocks of ${s.blockSize} tokens (${numBlocks * s.blockSize} tokens); ${gib(numBlocks * bytesPerBlock)} from ${budget.flag}${budget.note}` };
}

function deviceBudget(backend: Backend, utilization: number, profile: () => void): { bytes: number; flag: string; note: string } {
  const t0 = performance.now();
  profile();
  backend.synchronize?.();
  const seconds = (performance.now() - t0) / 1000;
  const { free, total } = backend.memoryInfo!();
  const used = total - free, bytes = Math.floor(total * utilization) - used;
  if (bytes <= 0)
    throw new Error(`--gpu-memory-utilization ${utilization} allows ${gib(total * utilization)} of ${gib(total)}, but ${gib(used)} is already in use after loading the weights and a profiling forward: no memory is left for the KV cache; raise --gpu-memory-utilization or lower --max-num-batched-tokens`);
  return { bytes, flag: `--gpu-memory-utilization ${utilization}`, note: `; ${gib(used)} in use after a ${seconds.toFixed(2)} s profiling forward` };
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}
