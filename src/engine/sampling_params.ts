/** SamplingParams: vLLM's per-request generation controls, validated once when a request arrives. */

export class SamplingParamsError extends Error {
  constructor(readonly param: string, message: string) {
    super(message);
  }
}

export interface SamplingParams {
  n: number;
  temperature: number;
  topP: number;
  topK: number; // 0 or -1 = off
  minP: number;
  repetitionPenalty: number;
  presencePenalty: number;
  frequencyPenalty: number;
  maxTokens: number;
  minTokens: number;
  stop: string[];
  stopTokenIds: number[];
  includeStopStrInOutput: boolean;
  ignoreEos: boolean;
  seed: number | null;
  logprobs: number | null; // top-K logprobs per generated token
  promptLogprobs: number | null;
  logitBias: Map<number, number> | null;
  /** bad_words as token id sequences: a sequence's last token is banned wherever the output ends with the rest. */
  badWordsTokenIds: number[][];
  skipSpecialTokens: boolean;
  // --- structured outputs ---
  structuredOutputs: StructuredOutputsParams | null;
}

/**
 * vLLM's `structured_outputs`: at most one constraint kind (json, regex, choice, grammar, json_object) per
 * request; the two flags only shape a JSON constraint.
 */
export interface StructuredOutputsParams {
  json?: object | string;
  regex?: string;
  choice?: string[];
  grammar?: string;
  jsonObject?: boolean;
  disableAnyWhitespace?: boolean;
  disableAdditionalProperties?: boolean;
}

/** Engine-wide bounds a request is checked against. */
export interface SamplingLimits {
  maxLogprobs: number; // --max-logprobs
  maxN: number;
  maxStopStrings: number;
  vocabSize: number;
}

export const DEFAULT_LIMITS: SamplingLimits = { maxLogprobs: 20, maxN: 128, maxStopStrings: 64, vocabSize: Infinity };

export const DEFAULT_SAMPLING_PARAMS: SamplingParams = {
  n: 1, temperature: 1, topP: 1, topK: 0, minP: 0, repetitionPenalty: 1, presencePenalty: 0, frequencyPenalty: 0,
  maxTokens: 16, minTokens: 0, stop: [], stopTokenIds: [], includeStopStrInOutput: false, ignoreEos: false,
  seed: null, logprobs: null, promptLogprobs: null, logitBias: null, badWordsTokenIds: [], skipSpecialTokens: true, structuredOutputs: null,
};

/** bad_words bounds: sequences per request and tokens per sequence. */
export const MAX_BAD_WORDS = 128;
export const MAX_BAD_WORD_TOKENS = 64;

/** Fills defaults and validates every field; throws SamplingParamsError naming the field. */
export function makeSamplingParams(p: Partial<SamplingParams>, limits: SamplingLimits = DEFAULT_LIMITS): SamplingParams {
  const s: SamplingParams = { ...DEFAULT_SAMPLING_PARAMS, ...stripUndefined(p) };
  const bad = (param: string, why: string) => { throw new SamplingParamsError(param, `${param} ${why}`); };
  const num = (param: string, v: number) => { if (typeof v !== "number" || !Number.isFinite(v)) bad(param, `must be a finite number, got ${v}`); };
  const int = (param: string, v: number) => { if (!Number.isSafeInteger(v)) bad(param, `must be an integer, got ${v}`); };
  int("n", s.n); if (s.n < 1 || s.n > limits.maxN) bad("n", `must be between 1 and ${limits.maxN}, got ${s.n}`);
  num("temperature", s.temperature); if (s.temperature < 0) bad("temperature", `must be non-negative, got ${s.temperature}`);
  num("top_p", s.topP); if (!(s.topP > 0 && s.topP <= 1)) bad("top_p", `must be in (0, 1], got ${s.topP}`);
  int("top_k", s.topK); if (s.topK < -1) bad("top_k", `must be -1 (disable), 0 (disable) or at least 1, got ${s.topK}`);
  num("min_p", s.minP); if (s.minP < 0 || s.minP > 1) bad("min_p", `must be in [0, 1], got ${s.minP}`);
  num("repetition_penalty", s.repetitionPenalty); if (s.repetitionPenalty <= 0) bad("repetition_penalty", `must be greater than zero, got ${s.repetitionPenalty}`);
  num("presence_penalty", s.presencePenalty); if (Math.abs(s.presencePenalty) > 2) bad("presence_penalty", `must be in [-2, 2], got ${s.presencePenalty}`);
  num("frequency_penalty", s.frequencyPenalty); if (Math.abs(s.frequencyPenalty) > 2) bad("frequency_penalty", `must be in [-2, 2], got ${s.frequencyPenalty}`);
  int("max_tokens", s.maxTokens); if (s.maxTokens < 1) bad("max_tokens", `must be at least 1, got ${s.maxTokens}`);
  int("min_tokens", s.minTokens); if (s.minTokens < 0 || s.minTokens > s.maxTokens) bad("min_tokens", `must be in [0, max_tokens=${s.maxTokens}], got ${s.minTokens}`);
  if (!Array.isArray(s.stop) || s.stop.some((x) => typeof x !== "string" || x.length === 0)) bad("stop", "must be a list of non-empty strings");
  if (s.stop.length > limits.maxStopStrings) bad("stop", `has ${s.stop.length} strings; at most ${limits.maxStopStrings} are allowed`);
  if (!Array.isArray(s.stopTokenIds)) bad("stop_token_ids", "must be a list of token ids");
  for (const id of s.stopTokenIds) checkTokenId("stop_token_ids", id, limits.vocabSize);
  if (s.seed !== null) int("seed", s.seed);
  for (const [param, v] of [["logprobs", s.logprobs], ["prompt_logprobs", s.promptLogprobs]] as const) {
    if (v === null) continue;
    int(param, v);
    if (v < 0 || v > limits.maxLogprobs) bad(param, `must be in [0, ${limits.maxLogprobs}] (--max-logprobs), got ${v}`);
  }
  if (s.logitBias) {
    for (const [id, b] of s.logitBias) {
      checkTokenId("logit_bias", id, limits.vocabSize);
      num("logit_bias", b); if (Math.abs(b) > 100) bad("logit_bias", `values must be in [-100, 100], got ${b}`);
    }
  }
  if (!Array.isArray(s.badWordsTokenIds) || s.badWordsTokenIds.length > MAX_BAD_WORDS) bad("bad_words", `must be a list of at most ${MAX_BAD_WORDS} token sequences`);
  for (const seq of s.badWordsTokenIds) {
    if (!Array.isArray(seq) || seq.length === 0 || seq.length > MAX_BAD_WORD_TOKENS) bad("bad_words", `each word must be 1 to ${MAX_BAD_WORD_TOKENS} tokens`);
    for (const id of seq) checkTokenId("bad_words", id, limits.vocabSize);
  }
  if (s.structuredOutputs !== null) checkStructuredOutputs(s.structuredOutputs);
  return s;
}

// --- structured outputs ---
function checkStructuredOutputs(so: StructuredOutputsParams): void {
  const bad = (why: string) => { throw new SamplingParamsError("structured_outputs", `structured_outputs ${why}`); };
  if (typeof so !== "object" || so === null || Array.isArray(so)) bad("must be an object");
  const kinds = [
    so.json !== undefined && so.json !== null && "json",
    so.regex !== undefined && so.regex !== null && "regex",
    so.choice !== undefined && so.choice !== null && "choice",
    so.grammar !== undefined && so.grammar !== null && "grammar",
    so.jsonObject === true && "json_object",
  ].filter((k): k is string => typeof k === "string");
  if (kinds.length === 0) bad("must set one of json, regex, choice, grammar or json_object");
  if (kinds.length > 1) bad(`may set only one constraint, got ${kinds.join(", ")}`);
  if (so.json !== undefined && so.json !== null && typeof so.json !== "string" && (typeof so.json !== "object" || Array.isArray(so.json))) bad("json must be a JSON schema object or string");
  if (so.regex !== undefined && so.regex !== null && typeof so.regex !== "string") bad("regex must be a string");
  if (so.grammar !== undefined && so.grammar !== null && typeof so.grammar !== "string") bad("grammar must be a string");
  if (so.choice !== undefined && so.choice !== null && (!Array.isArray(so.choice) || so.choice.length === 0 || so.choice.some((c) => typeof c !== "string")))
    bad("choice must be a non-empty list of strings");
  const flags = [["jsonObject", "json_object"], ["disableAnyWhitespace", "disable_any_whitespace"], ["disableAdditionalProperties", "disable_additional_properties"]] as const;
  for (const [flag, name] of flags) if (so[flag] !== undefined && typeof so[flag] !== "boolean") bad(`${name} must be a boolean`);
}
// --- end structured outputs ---

function checkTokenId(param: string, id: number, vocab: number): void {
  if (!Number.isSafeInteger(id) || id < 0 || id >= vocab)
    throw new SamplingParamsError(param, `${param} contains token id ${id}, outside the vocabulary [0, ${vocab})`);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
