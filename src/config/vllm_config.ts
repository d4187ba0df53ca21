/**
 * VllmConfig: the one frozen configuration of an engine (vLLM's name), built once from EngineArgs and the
 * model's config.json. Every derived limit is computed here, so each has one value and one owner.
 */
import { ArgError } from "../cli/arg_parser";
import type { ModelConfig } from "../model_loader/model_config";
import type { EngineArgs } from "./engine_args";

export interface SchedulerLimits {
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  /** Logits rows one step may use (sampling rows plus prompt-logprob rows); never fewer than maxNumSeqs. */
  readonly maxNumLogitsRows: number;
  readonly maxModelLen: number;
  readonly enableChunkedPrefill: boolean;
}

export interface CacheConfig {
  readonly blockSize: number;
  readonly enablePrefixCaching: boolean;
  readonly kvCacheMemoryBytes: number;
  readonly gpuMemoryUtilization: number;
  readonly numGpuBlocksOverride: number | null;
}

export interface VllmConfig {
  readonly modelDir: string;
  readonly model: ModelConfig;
  readonly maxModelLen: number;
  readonly scheduler: SchedulerLimits;
  readonly cache: CacheConfig;
  readonly device: EngineArgs["device"];
  readonly cpuThreads: number | null;
  readonly seed: number;
  readonly maxLogprobs: number;
  readonly structuredOutputsMaxWhitespace: number | null;
}

// Prompt-logprob scoring gets at least this many rows per step, so a 512-token prompt is scored in one step.
const MIN_PROMPT_LOGPROB_ROWS = 512;

/** What the defaults depend on: the device the engine runs on (null memory: the CPU). */
export interface DeviceFacts {
  readonly totalMemoryBytes: number | null;
  readonly name: string;
}

/**
 * vLLM's scheduler defaults when --max-num-seqs / --max-num-batched-tokens are not given: a GPU with at
 * least 70 GiB that is not an A100 (H100, H200, MI300X) gets 1024 sequences and 16384 tokens offline (8192
 * for the API server); other GPUs 256 and 8192 (2048 for the server). The CPU keeps 256 and 8192.
 */
export function schedulerDefaults(device: DeviceFacts, usage: "llm" | "server"): { maxNumSeqs: number; maxNumBatchedTokens: number } {
  if (device.totalMemoryBytes === null) return { maxNumSeqs: 256, maxNumBatchedTokens: 8192 };
  const large = device.totalMemoryBytes >= 70 * 1024 ** 3 && !/a100/i.test(device.name);
  if (large) return { maxNumSeqs: 1024, maxNumBatchedTokens: usage === "llm" ? 16384 : 8192 };
  return { maxNumSeqs: 256, maxNumBatchedTokens: usage === "llm" ? 8192 : 2048 };
}

export function createVllmConfig(args: EngineArgs, modelDir: string, model: ModelConfig, device: DeviceFacts = { totalMemoryBytes: null, name: "cpu" }): VllmConfig {
  const maxModelLen = args.maxModelLen ?? model.maxPositionEmbeddings;
  if (maxModelLen > model.maxPositionEmbeddings)
    throw new ArgError(`argument --max-model-len: ${maxModelLen} exceeds the model's max_position_embeddings (${model.maxPositionEmbeddings}) of ${modelDir}`);
  const defaults = schedulerDefaults(device, args.usageContext ?? "llm");
  const maxNumSeqs = args.maxNumSeqs ?? defaults.maxNumSeqs;
  let maxNumBatchedTokens = args.maxNumBatchedTokens ?? defaults.maxNumBatchedTokens;
  // As in vLLM: without chunked prefill a default budget grows to hold one whole prompt.
  if (!args.enableChunkedPrefill && args.maxNumBatchedTokens === null) maxNumBatchedTokens = Math.max(maxNumBatchedTokens, maxModelLen);
  if (!args.enableChunkedPrefill && maxModelLen > maxNumBatchedTokens)
    throw new ArgError(`argument --max-num-batched-tokens: ${maxNumBatchedTokens} is smaller than the context length ${maxModelLen}; enable chunked prefill or raise it`);
  const scheduler: SchedulerLimits = {
    maxNumSeqs, maxNumBatchedTokens, maxModelLen, enableChunkedPrefill: args.enableChunkedPrefill,
    maxNumLogitsRows: Math.max(maxNumSeqs, Math.min(maxNumBatchedTokens, MIN_PROMPT_LOGPROB_ROWS)),
  };
  const cache: CacheConfig = {
    blockSize: args.blockSize, enablePrefixCaching: args.enablePrefixCaching, kvCacheMemoryBytes: args.kvCacheMemory,
    gpuMemoryUtilization: args.gpuMemoryUtilization, numGpuBlocksOverride: args.numGpuBlocksOverride,
  };
  return deepFreeze({
    modelDir, model, maxModelLen, scheduler, cache, device: args.device, cpuThreads: args.cpuThreads, seed: args.seed, maxLogprobs: args.maxLogprobs,
    structuredOutputsMaxWhitespace: args.structuredOutputsMaxWhitespace,
  });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
