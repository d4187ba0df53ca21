// generation_config.json: the model author's default sampling settings and stop tokens.
// Only types are checked here; value ranges are SamplingParams' job once defaults are merged.
import { join } from "node:path";
import { ConfigFields, readJsonFile } from "./hf_config";

/** Fields of generation_config.json the engine uses; null where the file leaves them unset. */
export interface GenerationConfig {
  eosTokenIds: number[];
  bosTokenId: number | null;
  padTokenId: number | null;
  doSample: boolean | null;
  temperature: number | null;
  topP: number | null;
  topK: number | null;
  minP: number | null;
  repetitionPenalty: number | null;
  maxNewTokens: number | null;
}

export const GENERATION_CONFIG_FILE = "generation_config.json";

/** Reads `<dir>/generation_config.json`; null when the file is absent. */
export function loadGenerationConfig(dir: string): GenerationConfig | null {
  const path = join(dir, GENERATION_CONFIG_FILE);
  const json = readJsonFile(path);
  return json === undefined ? null : parseGenerationConfig(json, path);
}

/** Validates a parsed generation_config.json; `source` names the file in errors. */
export function parseGenerationConfig(json: unknown, source: string): GenerationConfig {
  const f = ConfigFields.of(json, source);
  return {
    eosTokenIds: f.tokenIds("eos_token_id"),
    bosTokenId: f.tokenId("bos_token_id"),
    padTokenId: f.tokenId("pad_token_id"),
    doSample: f.bool("do_sample"),
    temperature: f.number("temperature"),
    topP: f.number("top_p"),
    topK: f.int("top_k"),
    minP: f.number("min_p"),
    repetitionPenalty: f.number("repetition_penalty"),
    maxNewTokens: f.int("max_new_tokens"),
  };
}
