/**
 * What the runner needs of a model, and the one place that picks the class for an architecture
 * (vLLM's model registry). Each class checks at load that the backend has every op it needs.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import type { ModelConfig } from "../model_loader/model_config";
import type { ForwardBatch, KVCache } from "./forward_batch";
import { Gemma2ForCausalLM } from "./gemma2";
import { LlamaForCausalLM } from "./llama";
import { MoeForCausalLM } from "./moe";
import { Phi3ForCausalLM } from "./phi3";

export interface CausalLM {
  readonly config: ModelConfig;
  readonly maxNumTokens: number;
  readonly maxNumLogits: number;
  /** Runs the flat batch and returns logits [batch.numLogits, vocab] for the rows in batch.logitsIndices. */
  forward(batch: ForwardBatch, kvCaches: readonly KVCache[]): Tensor;
}

export interface ModelOptions {
  maxNumTokens: number;
  maxNumLogits: number;
  /** The engine's max_model_len (decides longrope's factors); defaults to max_position_embeddings. */
  maxModelLen?: number;
}

export function createCausalLM(config: ModelConfig, backend: Backend, ckpt: Checkpoint, opts: ModelOptions): CausalLM {
  const args = [config, backend, ckpt, opts.maxNumTokens, opts.maxNumLogits, { maxModelLen: opts.maxModelLen }] as const;
  switch (config.architecture) {
    case "Gemma2ForCausalLM":
    case "Gemma3ForCausalLM":
      return new Gemma2ForCausalLM(...args);
    case "Phi3ForCausalLM":
      return new Phi3ForCausalLM(...args);
    case "MixtralForCausalLM":
    case "Qwen2MoeForCausalLM":
    case "Qwen3MoeForCausalLM":
      return new MoeForCausalLM(...args);
    default:
      return new LlamaForCausalLM(...args);
  }
}
