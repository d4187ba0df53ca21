/**
 * The request fields chat and completions share, their zod schema, and the mapping to the engine's
 * SamplingParams (with generation_config defaults, the context-length check and the request's constraint).
 */
import { z } from "zod";
import { MAX_BAD_WORD_TOKENS, MAX_BAD_WORDS, makeSamplingParams, type SamplingParams, type StructuredOutputsParams } from "../engine/sampling_params";
import type { Tokenizer } from "../tokenizer/tokenizer";
import { BadRequestError } from "./errors";
import type { ServerState } from "./state";
import { structuredOutputFields } from "./structured_outputs";

const num = z.number().nullish();
const int = z.number().int().nullish();
const bool = z.boolean().nullish();

/** Fields of both /v1/chat/completions and /v1/completions (OpenAI's plus vLLM's extras). */
export const samplingFields = {
  model: z.string().nullish(),
  n: int,
  temperature: num,
  top_p: num,
  presence_penalty: num,
  frequency_penalty: num,
  seed: int,
  stop: z.union([z.string(), z.array(z.string())]).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  stream: bool,
  stream_options: z.object({ include_usage: bool, continuous_usage_stats: bool }).nullish(),
  user: z.string().nullish(),
  top_k: int,
  min_p: num,
  repetition_penalty: num,
  min_tokens: int,
  ignore_eos: bool,
  stop_token_ids: z.array(z.number().int()).nullish(),
  include_stop_str_in_output: bool,
  skip_special_tokens: bool,
  prompt_logprobs: int,
  request_id: z.string().nullish(),
  // vLLM's prefix-cache salt: requests share cached blocks only when their salts match.
  cache_salt: z.string().min(1, "cache_salt must not be empty").max(1024, "cache_salt must be at most 1024 characters").nullish(),
  use_beam_search: bool,
  // vLLM's: a request's place in the queue under --scheduling-policy priority (lower runs first).
  priority: int,
  // Keep only the last k prompt tokens (-1: the last max_model_len).
  truncate_prompt_tokens: z.number().int().min(-1, "truncate_prompt_tokens must be at least -1").nullish(),
  // Only slow (Python) tokenizers read it in vLLM; every tokenizer here is a fast one, so it has no effect.
  spaces_between_special_tokens: bool,
  // Logprob tokens as "token_id:N" (for clients that re-tokenize nothing).
  return_tokens_as_token_ids: bool,
  // Words whose tokens may not be generated (vLLM's rule: see badWordsTokenIds); bounded per request.
  bad_words: z.array(z.string().min(1, "bad_words entries must not be empty").max(256, "bad_words entries must be at most 256 characters"))
    .max(MAX_BAD_WORDS / 2, `bad_words may hold at most ${MAX_BAD_WORDS / 2} words`).nullish(),
  // Refused (see rejectUnsupported) rather than silently ignored.
  allowed_token_ids: z.array(z.number().int()).nullish(),
  ...structuredOutputFields,
};

const samplingObject = z.object(samplingFields);
export type SamplingFields = z.infer<typeof samplingObject>;

/** Rejects request features this server does not implement yet, naming the field. */
export function rejectUnsupported(r: SamplingFields): void {
  if (r.use_beam_search) throw new BadRequestError("use_beam_search is not supported yet", "use_beam_search");
  // vLLM's check and message: a priority other than 0 needs --scheduling-policy priority, which is not built yet.
  if (r.priority !== null && r.priority !== undefined && r.priority !== 0)
    throw new BadRequestError(`Got priority ${r.priority} but Priority scheduling is not enabled.`, "priority");
  if (r.allowed_token_ids !== null && r.allowed_token_ids !== undefined) throw new BadRequestError("allowed_token_ids is not supported yet", "allowed_token_ids");
}

/**
 * truncate_prompt_tokens as vLLM applies it: the prompt keeps its last k tokens (-1: the last max_model_len);
 * k past max_model_len is a 400 with vLLM's message.
 */
export function truncatePrompt(state: ServerState, ids: number[], k: number | null | undefined): number[] {
  if (k === null || k === undefined) return ids;
  const keep = k === -1 ? state.maxModelLen : k;
  if (keep > state.maxModelLen)
    throw new BadRequestError(`truncate_prompt_tokens value (${keep}) is greater than max_model_len (${state.maxModelLen}). Please, select a smaller truncation size.`, "truncate_prompt_tokens");
  return ids.length > keep ? ids.slice(ids.length - keep) : ids;
}

/** What the endpoint knows besides the shared fields. */
export interface SamplingContext {
  promptLen: number;
  /** max_tokens as the client sent it (null = unset). */
  maxTokens: number | null;
  /** The endpoint's default when unset: 16 for completions, null (= the rest of the context) for chat. */
  defaultMaxTokens: number | null;
  logprobs: number | null;
  /** Prompt logprobs the endpoint needs itself (completions' echo with logprobs). */
  promptLogprobs?: number | null;
  /** Which request field holds the prompt, for error messages. */
  promptParam: "messages" | "prompt" | "input";
  /** The field that holds max_tokens (the Responses API calls it max_output_tokens), for error messages. */
  maxTokensParam?: string;
  /** The request's one constraint (see structured_outputs.ts). */
  structuredOutputs?: StructuredOutputsParams | null;
  /** Overrides skip_special_tokens (a tool parser whose markers are special tokens needs them kept). */
  skipSpecialTokens?: boolean;
}

/** Builds validated SamplingParams; throws a 400 (param set) for a bad value or a request over the context. */
export function toSamplingParams(state: ServerState, r: SamplingFields, ctx: SamplingContext): SamplingParams {
  const d = state.defaults;
  const maxTokens = resolveMaxTokens(state, ctx);
  return makeSamplingParams({
    n: r.n ?? undefined,
    temperature: r.temperature ?? d.temperature,
    topP: r.top_p ?? d.topP,
    topK: r.top_k ?? d.topK,
    minP: r.min_p ?? d.minP,
    repetitionPenalty: r.repetition_penalty ?? d.repetitionPenalty,
    presencePenalty: r.presence_penalty ?? undefined,
    frequencyPenalty: r.frequency_penalty ?? undefined,
    maxTokens,
    minTokens: r.min_tokens ?? undefined,
    stop: r.stop === null || r.stop === undefined ? undefined : typeof r.stop === "string" ? [r.stop] : r.stop,
    stopTokenIds: r.stop_token_ids ?? undefined,
    includeStopStrInOutput: r.include_stop_str_in_output ?? undefined,
    ignoreEos: r.ignore_eos ?? undefined,
    seed: r.seed ?? null,
    logprobs: ctx.logprobs,
    promptLogprobs: maxOrNull(r.prompt_logprobs, ctx.promptLogprobs),
    logitBias: logitBias(r.logit_bias),
    badWordsTokenIds: r.bad_words ? badWordsTokenIds(state.tokenizer, r.bad_words) : undefined,
    skipSpecialTokens: ctx.skipSpecialTokens ?? r.skip_special_tokens ?? undefined,
    structuredOutputs: ctx.structuredOutputs ?? null,
  }, state.limits);
}

/**
 * bad_words as vLLM tokenizes them: each word with its leading whitespace stripped, and again after one space
 * when that gives a different first token and the same number of tokens (so the word is also banned mid-text).
 */
export function badWordsTokenIds(tokenizer: Tokenizer, words: readonly string[]): number[][] {
  const out: number[][] = [];
  for (const word of words) {
    const bare = word.trimStart();
    const plain = tokenizer.encode(bare, { addSpecialTokens: false });
    if (plain.length === 0) throw new BadRequestError(`bad_words entry '${word}' has no tokens`, "bad_words");
    if (plain.length > MAX_BAD_WORD_TOKENS) throw new BadRequestError(`bad_words entries must be at most ${MAX_BAD_WORD_TOKENS} tokens`, "bad_words");
    out.push(plain);
    const spaced = tokenizer.encode(" " + bare, { addSpecialTokens: false });
    if (spaced.length === plain.length && spaced[0] !== plain[0]) out.push(spaced);
  }
  return out;
}

/** vLLM's rule: the smallest of what was asked, what the context has left, and generation_config's cap. */
function resolveMaxTokens(state: ServerState, ctx: SamplingContext): number {
  const limit = state.maxModelLen;
  if (ctx.promptLen >= limit)
    throw new BadRequestError(`This model's maximum context length is ${limit} tokens. However, your request has ${ctx.promptLen} input tokens. Please reduce the length of the input.`, ctx.promptParam);
  if (ctx.maxTokens !== null && ctx.maxTokens >= 1 && ctx.promptLen + ctx.maxTokens > limit)
    throw new BadRequestError(`This model's maximum context length is ${limit} tokens. However, you requested ${ctx.promptLen + ctx.maxTokens} tokens (${ctx.promptLen} in the ${ctx.promptParam}, ${ctx.maxTokens} in the completion). Please reduce the length of the ${ctx.promptParam} or completion.`, ctx.maxTokensParam ?? "max_tokens");
  const left = limit - ctx.promptLen;
  const asked = ctx.maxTokens ?? ctx.defaultMaxTokens ?? left;
  return Math.min(asked, left, state.defaults.maxTokens ?? Infinity);
}

function maxOrNull(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined) return b ?? null;
  return b === null || b === undefined ? a : Math.max(a, b);
}

function logitBias(bias: Record<string, number> | null | undefined): Map<number, number> | null {
  if (!bias) return null;
  const out = new Map<number, number>();
  for (const [key, value] of Object.entries(bias)) {
    if (!/^\d+$/.test(key)) throw new BadRequestError(`logit_bias keys must be token ids, got '${key}'`, "logit_bias");
    out.set(Number(key), value);
  }
  return out;
}

/** Parses a JSON body with a zod schema; a mismatch is a 400 naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue.path.map(String).join(".");
  const message = path === "" ? `request body: ${issue.message}` : `${path}: ${issue.message}`;
  throw new BadRequestError(message, path === "" ? null : path);
}
