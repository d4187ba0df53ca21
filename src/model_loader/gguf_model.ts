// One GGUF file as a model source: the same config, tokenizer and checkpoint objects the Hugging Face
// directory path builds (hf_config.ts, Tokenizer.fromDir, openCheckpoint), so the engine is built the same way.
import { ggufTokenizerFiles } from "../tokenizer/gguf_tokenizer";
import { Tokenizer } from "../tokenizer/tokenizer";
import type { Checkpoint } from "./checkpoint";
import { openGguf } from "./gguf";
import { ggufCheckpoint } from "./gguf_checkpoint";
import { ggufModelConfig } from "./gguf_config";
import type { GenerationConfig } from "./generation_config";
import type { ModelConfig } from "./model_config";

export interface GgufModel {
  path: string;
  modelConfig: ModelConfig;
  /** GGUF carries no generation_config.json; stop ids are in modelConfig.eosTokenIds. */
  generationConfig: GenerationConfig | null;
  tokenizer: Tokenizer;
  /** The tokenizer.json equivalent (structured outputs read the vocabulary's encoding from it). */
  tokenizerJson: Record<string, unknown>;
  checkpoint: Checkpoint;
}

/** Whether a --model value names a GGUF file (chosen by extension, as vLLM does). */
export function isGgufPath(model: string): boolean {
  return model.toLowerCase().endsWith(".gguf");
}

export function loadGgufModel(path: string): GgufModel {
  const file = openGguf(path);
  const modelConfig = ggufModelConfig(file);
  const { tokenizerJson, tokenizerConfig } = ggufTokenizerFiles(file);
  const tokenizer = Tokenizer.fromJson(tokenizerJson, tokenizerConfig, path);
  return { path, modelConfig, generationConfig: null, tokenizer, tokenizerJson, checkpoint: ggufCheckpoint(file, modelConfig) };
}
