// generation_config.json: the model author's default sampling settings and stop tokens. Values are checked
// at load with SamplingParams' own rules, so a bad default is a startup error naming this file and the field,
// never a 400 on every request blaming a field the client did not send.
import { join } from "node:path";
import { makeSamplingParams, SamplingParamsError } from "../engine/sampling_params";
import { ModelLoadError } from "./errors";
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

/**
 * Reads `<dir>/generation_config.json`; null when the file is absent. Token ids must lie in the vocabulary
 * of `<dir>/config.json` (or of `vocabSize` when given).
 */
export function loadGenerationConfig(dir: string, vocabSize: number | null = vocabSizeOf(dir)): GenerationConfig | null {
  const path = join(dir, GENERATION_CONFIG_FILE);
  const json = readJsonFile(path);
  return json === undefined ? null : parseGenerationConfig(json, path, vocabSize);
}

/** Validates a parsed generation_config.json; `source` names the file in errors. */
export function parseGenerationConfig(json: unknown, source: string, vocabSize: number | null = null): GenerationConfig {
  const f = ConfigFields.of(json, source);
  const g: GenerationConfig = {
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
  if (vocabSize !== null) checkTokenIds(g, source, vocabSize);
  checkSamplingDefaults(g, source);
  return g;
}

function checkTokenIds(g: GenerationConfig, source: string, vocabSize: number): void {
  const ids: [string, number | null][] = [...g.eosTokenIds.map((id): [string, number] => ["eos_token_id", id]), ["bos_token_id", g.bosTokenId], ["pad_token_id", g.padTokenId]];
  for (const [field, id] of ids) {
    if (id !== null && id >= vocabSize) throw new ModelLoadError(source, `field '${field}' holds token id ${id}, outside the vocabulary [0, ${vocabSize}) of config.json`);
  }
}

// HF names → SamplingParams names; the error names the file's field, not the request's.
const FIELD_NAMES: Record<string, string> = { max_tokens: "max_new_tokens" };

function checkSamplingDefaults(g: GenerationConfig, source: string): void {
  try {
    makeSamplingParams({
      temperature: g.temperature ?? undefined, topP: g.topP ?? undefined, topK: g.topK ?? undefined, minP: g.minP ?? undefined,
      repetitionPenalty: g.repetitionPenalty ?? undefined, maxTokens: g.maxNewTokens ?? undefined,
    });
  } catch (e) {
    if (!(e instanceof SamplingParamsError)) throw e;
    const field = FIELD_NAMES[e.param] ?? e.param;
    throw new ModelLoadError(source, `field '${field}' is not a valid default: ${e.message.replace(e.param, field)}`);
  }
}

// The vocabulary comes from the sibling config.json, which the engine loads first; without one, ids go unchecked here.
function vocabSizeOf(dir: string): number | null {
  const config = readJsonFile(join(dir, "config.json"));
  const v = typeof config === "object" && config !== null ? (config as Record<string, unknown>).vocab_size : undefined;
  return Number.isSafeInteger(v) && (v as number) > 0 ? (v as number) : null;
}

/** The sampling fields of generation_config.json (HF names), the ones that become request defaults. */
export const SAMPLING_DEFAULT_FIELDS = ["temperature", "top_p", "top_k", "min_p", "repetition_penalty", "max_new_tokens"] as const;

/** generation_config.json values merged over a loaded one, as --override-generation-config gives them. */
export interface GenerationConfigOverride {
  config: Partial<Pick<GenerationConfig, "temperature" | "topP" | "topK" | "minP" | "repetitionPenalty" | "maxNewTokens">>;
  /** Keys of the override that are not sampling defaults, so change nothing. */
  ignoredKeys: string[];
}

/** Validates an override object (HF field names) with the file's own rules; `source` names it in errors. */
export function parseGenerationConfigOverride(json: unknown, source: string): GenerationConfigOverride {
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ModelLoadError(source, "must be a JSON object of generation_config.json fields");
  const g = parseGenerationConfig(json, source);
  const set = Object.keys(json);
  const config: GenerationConfigOverride["config"] = {};
  if (g.temperature !== null) config.temperature = g.temperature;
  if (g.topP !== null) config.topP = g.topP;
  if (g.topK !== null) config.topK = g.topK;
  if (g.minP !== null) config.minP = g.minP;
  if (g.repetitionPenalty !== null) config.repetitionPenalty = g.repetitionPenalty;
  if (g.maxNewTokens !== null) config.maxNewTokens = g.maxNewTokens;
  return { config, ignoredKeys: set.filter((k) => !(SAMPLING_DEFAULT_FIELDS as readonly string[]).includes(k)) };
}
