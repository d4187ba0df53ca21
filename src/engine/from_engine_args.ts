/** Builds a ready LLMEngine from EngineArgs: model directory → config, tokenizer, backend, weights, KV cache. */
import { CpuBackend } from "../backend/cpu/cpu_backend";
import type { Backend } from "../backend/backend";
import type { EngineArgs } from "../config/engine_args";
import { ensureDemoModel } from "../demo/demo_model";
import { openCheckpoint } from "../model_loader/checkpoint";
import { loadGenerationConfig, type GenerationConfig } from "../model_loader/generation_config";
import { loadModelConfig } from "../model_loader/hf_config";
import type { ModelConfig } from "../model_loader/model_config";
import { LlamaForCausalLM } from "../model/llama";
import { ModelRunner } from "../runner/model_runner";
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

  const backend = new CpuBackend({ numThreads: args.cpuThreads ?? undefined });
  log(`backend: ${backend.description}`);
  const maxNumTokens = args.maxNumBatchedTokens;
  const model = new LlamaForCausalLM(modelConfig, backend, openCheckpoint(modelDir), maxNumTokens, args.maxNumSeqs);
  log(`loaded ${modelConfig.architecture} from ${modelDir} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

  const numBlocks = kvCacheBlocks(args, modelConfig, maxModelLen);
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

/** Blocks that fit the KV memory budget, capped at what max_num_seqs full contexts could use. */
function kvCacheBlocks(args: EngineArgs, c: ModelConfig, maxModelLen: number): number {
  const bytesPerBlock = 2 * c.numHiddenLayers * args.blockSize * c.numKeyValueHeads * c.headDim * 4;
  const blocksPerSeq = Math.ceil(maxModelLen / args.blockSize);
  const numBlocks = Math.min(Math.floor(args.kvCacheMemory / bytesPerBlock), blocksPerSeq * args.maxNumSeqs);
  if (numBlocks < blocksPerSeq)
    throw new Error(`--kv-cache-memory ${args.kvCacheMemory} holds ${numBlocks} blocks, fewer than one ${maxModelLen}-token sequence needs (${blocksPerSeq}); raise --kv-cache-memory or lower --max-model-len`);
  return numBlocks;
}
