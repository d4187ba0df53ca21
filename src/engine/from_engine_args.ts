/** Builds a ready LLMEngine from EngineArgs: model directory → config, tokenizer, backend, weights, KV cache. */
import { type Backend, dtypeBytes } from "../backend/backend";
import { CudaBackend } from "../backend/cuda/cuda_backend";
import { kvCacheBlocksFor, measureKvCacheBudget } from "../backend/cuda/memory_profiler";
import { createBackend } from "../backend/select";
import type { EngineArgs } from "../config/engine_args";
import { ensureDemoModel } from "../demo/demo_model";
import { openCheckpoint } from "../model_loader/checkpoint";
import { loadGenerationConfig, type GenerationConfig } from "../model_loader/generation_config";
import { loadModelConfig } from "../model_loader/hf_config";
import type { ModelConfig } from "../model_loader/model_config";
import { LlamaForCausalLM } from "../model/llama";
import { ModelRunner } from "../runner/model_runner";
import { profileRun } from "../runner/profile_run";
import { Tokenizer } from "../tokenizer/tokenizer";
import { StructuredOutputManager } from "../structured_output/structured_output_manager";
import { KVCacheManager } from "./kv_cache_manager";
import { LLMEngine } from "./llm_engine";
import { Scheduler } from "./scheduler";

export interface LoadedEngine {
  engine: LLMEngine;
  modelDir: string;
  modelConfig: ModelConfig;
  generationConfig: GenerationConfig | null;
  tokenizer: Tokenizer;
  backend: Backend;
  maxModelLen: number;
  numBlocks: number;
}

export function createEngine(args: EngineArgs, log: (line: string) => void = () => {}): LoadedEngine {
  const modelDir = args.model === "demo" ? ensureDemoModel() : args.model;
  const t0 = performance.now();
  const modelConfig = loadModelConfig(modelDir);
  const generationConfig = loadGenerationConfig(modelDir);
  const tokenizer = Tokenizer.fromDir(modelDir);
  const maxModelLen = args.maxModelLen ?? modelConfig.maxPositionEmbeddings;
  if (args.maxModelLen !== null && args.maxModelLen > modelConfig.maxPositionEmbeddings)
    throw new Error(`--max-model-len ${args.maxModelLen} exceeds the model's max_position_embeddings (${modelConfig.maxPositionEmbeddings}) in ${modelDir}/config.json`);

  const { backend, reason } = createBackend(args.device ?? "cpu", { cpuThreads: args.cpuThreads });
  log(`backend: ${backend.description} (${reason})`);
  const maxNumTokens = args.maxNumBatchedTokens;
  const model = new LlamaForCausalLM(modelConfig, backend, openCheckpoint(modelDir), maxNumTokens, args.maxNumSeqs);
  log(`loaded ${modelConfig.architecture} from ${modelDir} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const numBlocks = args.numGpuBlocksOverride
    ? overriddenKvCacheBlocks(args.numGpuBlocksOverride, args.blockSize, maxModelLen)
    : backend instanceof CudaBackend
      ? gpuKvCacheBlocks(args, model, backend, maxModelLen, log)
      : kvCacheBlocks(args, modelConfig, maxModelLen);
  const runner = new ModelRunner(model, backend, {
    maxNumBatchedTokens: maxNumTokens, maxNumSeqs: args.maxNumSeqs, maxModelLen, blockSize: args.blockSize, numBlocks, seed: args.seed,
  });
  log(`KV cache: ${numBlocks} blocks of ${args.blockSize} tokens (${numBlocks * args.blockSize} tokens)`);
  const kv = new KVCacheManager(numBlocks, args.blockSize, args.enablePrefixCaching);
  const scheduler = new Scheduler({
    maxNumBatchedTokens: maxNumTokens, maxNumSeqs: args.maxNumSeqs, maxModelLen, enableChunkedPrefill: args.enableChunkedPrefill,
  }, kv);
  const eos = generationConfig?.eosTokenIds.length ? generationConfig.eosTokenIds : modelConfig.eosTokenIds;
  const engine = new LLMEngine(scheduler, runner, tokenizer, eos, maxModelLen);
  // Structured outputs: nothing loads until the first constrained request.
  engine.structuredOutputManager = new StructuredOutputManager({
    modelDir, tokenizer, vocabSize: modelConfig.vocabSize, stopTokenIds: eos, maxNumSeqs: args.maxNumSeqs,
  });
  return { engine, modelDir, modelConfig, generationConfig, tokenizer, backend, maxModelLen, numBlocks };
}

// ---- CUDA: KV cache sized from --gpu-memory-utilization (src/backend/cuda/memory_profiler.ts) ----
function gpuKvCacheBlocks(args: EngineArgs, model: LlamaForCausalLM, backend: CudaBackend, maxModelLen: number, log: (line: string) => void): number {
  const c = model.config;
  const utilization = args.gpuMemoryUtilization ?? 0.9;
  const budget = measureKvCacheBudget(backend, utilization,
    () => profileRun(model, backend, args.maxNumBatchedTokens, args.maxNumSeqs, args.blockSize));
  const bytesPerBlock = 2 * c.numHiddenLayers * args.blockSize * c.numKeyValueHeads * c.headDim * dtypeBytes(backend.activationDtype);
  const blocksPerSeq = Math.ceil(maxModelLen / args.blockSize);
  const gib = (b: number) => (b / 2 ** 30).toFixed(2);
  log(`memory profiling: ${gib(budget.usedBytes)} GiB in use after a ${args.maxNumBatchedTokens}-token forward (${budget.profileSeconds.toFixed(2)} s); ` +
    `${gib(budget.kvCacheBytes)} GiB of ${gib(budget.totalBytes)} GiB left for the KV cache (--gpu-memory-utilization ${utilization})`);
  return kvCacheBlocksFor(budget, bytesPerBlock, blocksPerSeq, blocksPerSeq * args.maxNumSeqs);
}
// ---- end CUDA ----

/** --num-gpu-blocks-override: the count as given (no profiling), as long as one full sequence fits. */
function overriddenKvCacheBlocks(numBlocks: number, blockSize: number, maxModelLen: number): number {
  const blocksPerSeq = Math.ceil(maxModelLen / blockSize);
  if (numBlocks < blocksPerSeq)
    throw new Error(`--num-gpu-blocks-override ${numBlocks} is fewer blocks than one ${maxModelLen}-token sequence needs (${blocksPerSeq})`);
  return numBlocks;
}

/** Blocks that fit the KV memory budget, capped at what max_num_seqs full contexts could use. */
function kvCacheBlocks(args: EngineArgs, c: ModelConfig, maxModelLen: number): number {
  const bytesPerBlock = 2 * c.numHiddenLayers * args.blockSize * c.numKeyValueHeads * c.headDim * 4;
  const blocksPerSeq = Math.ceil(maxModelLen / args.blockSize);
  const numBlocks = Math.min(Math.floor(args.kvCacheMemory / bytesPerBlock), blocksPerSeq * args.maxNumSeqs);
  if (numBlocks < blocksPerSeq)
    throw new Error(`--kv-cache-memory ${args.kvCacheMemory} holds ${numBlocks} blocks, fewer than one ${maxModelLen}-token sequence needs (${blocksPerSeq}); raise --kv-cache-memory or lower --max-model-len`);
  return numBlocks;
}
