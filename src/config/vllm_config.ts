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

export function createVllmConfig(args: EngineArgs, modelDir: string, model: ModelConfig): VllmConfig {
  const maxModelLen = args.maxModelLen ?? model.maxPositionEmbeddings;
  if (maxModelLen > model.maxPositionEmbeddings)
    throw new ArgError(`argument --max-model-len: ${maxModelLen} exceeds the model's max_position_embeddings (${model.maxPositionEmbeddings}) of ${modelDir}`);
  if (!args.enableChunkedPrefill && maxModelLen > args.maxNumBatchedTokens)
    throw new ArgError(`argument --max-num-batched-tokens: ${args.maxNumBatchedTokens} is smaller than the context length ${maxModelLen}; enable chunked prefill or raise it`);
  const scheduler: SchedulerLimits = {
    maxNumSeqs: args.maxNumSeqs, maxNumBatchedTokens: args.maxNumBatchedTokens, maxModelLen, enableChunkedPrefill: args.enableChunkedPrefill,
    maxNumLogitsRows: Math.max(args.maxNumSeqs, Math.min(args.maxNumBatchedTokens, MIN_PROMPT_LOGPROB_ROWS)),
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
