/**
 * The composition root: EngineArgs → a ready LLMEngine. It resolves the model directory, parses config.json
 * into the frozen VllmConfig, loads the tokenizer, picks the backend, maps the weights, sizes the KV cache and
 * wires scheduler, runner, structured outputs, EngineCore and the front end. Only this file knows every part.
 */
import type { Backend } from "../backend/backend";
import { createBackend } from "../backend/select";
import type { EngineArgs } from "../config/engine_args";
import { createVllmConfig, type VllmConfig } from "../config/vllm_config";
import { ensureDemoModel } from "../demo/demo_model";
import { EngineCore } from "../engine/core";
import { KVCacheManager } from "../engine/kv_cache_manager";
import { LLMEngine } from "../engine/llm_engine";
import { Scheduler } from "../engine/scheduler";
import { openCheckpoint } from "../model_loader/checkpoint";
import { type GenerationConfig, loadGenerationConfig } from "../model_loader/generation_config";
import { isGgufPath, loadGgufModel } from "../model_loader/gguf_model";
import { loadModelConfig } from "../model_loader/hf_config";
import type { ModelConfig } from "../model_loader/model_config";
import { createCausalLM } from "../model/causal_lm";
import { kvCacheBlocks } from "../runner/kv_cache_sizing";
import { withInjectedFault } from "./fault_injection";
import { ModelRunner } from "../runner/model_runner";
import { profileRun } from "../runner/profile_run";
import { StructuredOutputManager } from "../structured_output/structured_output_manager";
import { Tokenizer } from "../tokenizer/tokenizer";

export interface LoadedEngine {
  engine: LLMEngine;
  config: VllmConfig;
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
  // Two model sources: a Hugging Face directory, or one GGUF file (config, tokenizer and tensors inside).
  const gguf = isGgufPath(modelDir) ? loadGgufModel(modelDir) : null;
  const modelConfig = gguf?.modelConfig ?? loadModelConfig(modelDir);
  // The backend comes first: the scheduler defaults depend on the device (vLLM's large-GPU defaults).
  const { backend, reason } = createBackend(args.device, { cpuThreads: args.cpuThreads });
  const memory = backend.memoryInfo?.() ?? null;
  const config = createVllmConfig(args, modelDir, modelConfig, { totalMemoryBytes: memory?.total ?? null, name: backend.description });
  const generationConfig = gguf ? gguf.generationConfig : loadGenerationConfig(modelDir);
  const tokenizer = gguf?.tokenizer ?? Tokenizer.fromDir(modelDir);
  // A tokenizer with ids past the embedding table would index outside it: refuse the pair, as vLLM does.
  if (tokenizer.vocabSize > modelConfig.vocabSize)
    throw new Error(`${modelDir}: the tokenizer has ${tokenizer.vocabSize} tokens, more than config.json's vocab_size ${modelConfig.vocabSize}; the model cannot embed ids past ${modelConfig.vocabSize - 1}`);
  log(`backend: ${backend.description} (${reason})`);

  const s = config.scheduler, c = config.cache;
  const model = createCausalLM(modelConfig, backend, gguf?.checkpoint ?? openCheckpoint(modelDir),
    { maxNumTokens: s.maxNumBatchedTokens, maxNumLogits: s.maxNumLogitsRows, maxModelLen: config.maxModelLen });
  log(`loaded ${modelConfig.architecture} from ${modelDir} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  const kv = kvCacheBlocks({ ...c, maxModelLen: config.maxModelLen, maxNumSeqs: s.maxNumSeqs, kvCacheMemoryBytes: c.kvCacheMemoryBytes }, modelConfig, backend,
    () => profileRun(model, backend, s.maxNumBatchedTokens, s.maxNumSeqs, c.blockSize));
  log(`KV cache: ${kv.description}`);

  const runner = new ModelRunner(model, backend, {
    maxNumBatchedTokens: s.maxNumBatchedTokens, maxNumSeqs: s.maxNumSeqs, maxNumLogitsRows: s.maxNumLogitsRows, maxModelLen: config.maxModelLen,
    blockSize: c.blockSize, numBlocks: kv.numBlocks, seed: config.seed,
  });
  const eos = generationConfig?.eosTokenIds.length ? generationConfig.eosTokenIds : modelConfig.eosTokenIds;
  // Structured outputs: nothing loads until the first constrained request.
  const structuredOutput = new StructuredOutputManager({ modelDir, tokenizerJson: gguf?.tokenizerJson, tokenizer, vocabSize: modelConfig.vocabSize, stopTokenIds: eos, maxNumSeqs: s.maxNumSeqs, maxJsonWhitespace: config.structuredOutputsMaxWhitespace });
  const cap = runner.capacity;
  const scheduler = new Scheduler({
    maxNumBatchedTokens: cap.maxNumTokens, maxNumSeqs: cap.maxNumSeqs, maxNumLogitsRows: cap.maxNumLogitsRows,
    maxModelLen: config.maxModelLen, enableChunkedPrefill: s.enableChunkedPrefill,
  }, new KVCacheManager(kv.numBlocks, c.blockSize, c.enablePrefixCaching), structuredOutput);
  const core = new EngineCore(scheduler, withInjectedFault(runner), structuredOutput);
  const engine = new LLMEngine(core, tokenizer, eos, {
    maxModelLen: config.maxModelLen, maxNumBatchedTokens: cap.maxNumTokens, enableChunkedPrefill: s.enableChunkedPrefill, kvCacheTokens: kv.numBlocks * c.blockSize,
    vocabSize: modelConfig.vocabSize,
  }, structuredOutput, args.overlapOutputProcessing ?? backend.name === "cuda");
  return { engine, config, modelDir, modelConfig, generationConfig, tokenizer, backend, maxModelLen: config.maxModelLen, numBlocks: kv.numBlocks };
}
