/**
 * An LLMEngine over a GGUF file, wired line for line as src/entrypoints/from_engine_args.ts wires one over a
 * model directory, with loadGgufModel() as the model source. Kept here until the composition root picks
 * the source by extension itself; keep the two in step.
 */
import { createBackend } from "../../src/backend/select";
import type { EngineArgs } from "../../src/config/engine_args";
import { createVllmConfig } from "../../src/config/vllm_config";
import { EngineCore } from "../../src/engine/core";
import { KVCacheManager } from "../../src/engine/kv_cache_manager";
import { LLMEngine } from "../../src/engine/llm_engine";
import { Scheduler } from "../../src/engine/scheduler";
import { loadGgufModel, type GgufModel } from "../../src/model_loader/gguf_model";
import { LlamaForCausalLM } from "../../src/model/llama";
import { kvCacheBlocks } from "../../src/runner/kv_cache_sizing";
import { ModelRunner } from "../../src/runner/model_runner";
import { profileRun } from "../../src/runner/profile_run";
import { StructuredOutputManager } from "../../src/structured_output/structured_output_manager";

export function createGgufEngine(args: EngineArgs): { engine: LLMEngine; gguf: GgufModel } {
  const gguf = loadGgufModel(args.model);
  const { modelConfig, generationConfig, tokenizer } = gguf;
  const config = createVllmConfig(args, gguf.path, modelConfig);
  const { backend } = createBackend(config.device, { cpuThreads: config.cpuThreads });
  const s = config.scheduler, c = config.cache;
  const model = new LlamaForCausalLM(modelConfig, backend, gguf.checkpoint, s.maxNumBatchedTokens, s.maxNumLogitsRows);
  const kv = kvCacheBlocks({ ...c, maxModelLen: config.maxModelLen, maxNumSeqs: s.maxNumSeqs, kvCacheMemoryBytes: c.kvCacheMemoryBytes }, modelConfig, backend,
    () => profileRun(model, backend, s.maxNumBatchedTokens, s.maxNumSeqs, c.blockSize));
  const runner = new ModelRunner(model, backend, {
    maxNumBatchedTokens: s.maxNumBatchedTokens, maxNumSeqs: s.maxNumSeqs, maxNumLogitsRows: s.maxNumLogitsRows, maxModelLen: config.maxModelLen,
    blockSize: c.blockSize, numBlocks: kv.numBlocks, seed: config.seed,
  });
  const eos = generationConfig?.eosTokenIds.length ? generationConfig.eosTokenIds : modelConfig.eosTokenIds;
  const structuredOutput = new StructuredOutputManager({ modelDir: gguf.path, tokenizer, vocabSize: modelConfig.vocabSize, stopTokenIds: eos, maxNumSeqs: s.maxNumSeqs });
  const cap = runner.capacity;
  const scheduler = new Scheduler({
    maxNumBatchedTokens: cap.maxNumTokens, maxNumSeqs: cap.maxNumSeqs, maxNumLogitsRows: cap.maxNumLogitsRows,
    maxModelLen: config.maxModelLen, enableChunkedPrefill: s.enableChunkedPrefill,
  }, new KVCacheManager(kv.numBlocks, c.blockSize, c.enablePrefixCaching), structuredOutput);
  const core = new EngineCore(scheduler, runner, structuredOutput);
  const engine = new LLMEngine(core, tokenizer, eos, {
    maxModelLen: config.maxModelLen, maxNumBatchedTokens: cap.maxNumTokens, enableChunkedPrefill: s.enableChunkedPrefill, kvCacheTokens: kv.numBlocks * c.blockSize,
  }, structuredOutput);
  return { engine, gguf };
}
