/** Serving /v1/completions: one engine request per prompt, merged into one response or one SSE stream. */
import type { CompletionOutput, RequestOutput } from "../../engine/outputs";
import type { SamplingParams } from "../../engine/sampling_params";
import { BadRequestError } from "../errors";
import { type HttpContext, resolveRequestId } from "../http_context";
import { type CompletionLogprobs, completionLogprobs } from "../logprobs";
import { collectOutputs, logReceived, promptLogprobsJson, usage } from "../output_utils";
import { RequestScope } from "../request_scope";
import { checkPromptChars, checkSequenceCount } from "../request_limits";
import { parseBody, rejectUnsupported, toSamplingParams, truncatePrompt } from "../sampling";
import type { ServerState } from "../state";
import { mergeStreams, sseResponse } from "../streams";
import { type Constraint, prepareConstraint, resolveConstraint } from "../structured_outputs";
import { type CompletionChoice, type CompletionRequest, completionRequestSchema, type CompletionResponse } from "./protocol";

interface PreparedPrompt {
  ids: number[];
  text: string; // what echo prepends
  params: SamplingParams;
}

interface Prepared {
  req: CompletionRequest;
  model: string;
  prompts: PreparedPrompt[];
  n: number;
  constraint: Constraint | null;
  /** max_tokens 0 with echo: the answer holds the prompt only. */
  echoOnly: boolean;
}

/** Handles one completion request; returns the JSON body, or an SSE Response when streaming. */
export async function createCompletion(state: ServerState, ctx: HttpContext): Promise<CompletionResponse | Response> {
  const body = await state.readBody(ctx.request);
  const req = parseBody(completionRequestSchema, body);
  const requestId = resolveRequestId(ctx, req.request_id);
  const p = await prepare(state, req);
  const numSeqs = p.prompts.length * p.n;
  state.checkAdmission(numSeqs);
  await prepareConstraint(state, p.prompts.map((pr) => pr.params), p.constraint);
  const scope = new RequestScope(state, requestId, `cmpl-${requestId}`, ctx.request, numSeqs);
  for (const pr of p.prompts) logReceived(state, requestId, pr.ids, pr.params);
  const cacheSalt = req.cache_salt ?? null;
  const streams = p.prompts.map((pr) => scope.generate({ promptTokenIds: pr.ids, cacheSalt }, pr.params));
  const meta = { id: scope.responseId, object: "text_completion" as const, created: Math.floor(Date.now() / 1000), model: p.model };
  if (p.req.stream) return sseResponse(streamChunks(state, p, meta, streams), { onCancel: () => scope.abort(), onClose: () => scope.close() });
  try {
    const results = (await Promise.all(streams.map(collectOutputs))).map((r) => (p.echoOnly ? { ...r, byIndex: r.byIndex.map(promptOnly) } : r));
    const choices = results.flatMap(({ final, byIndex }, i) => byIndex.map((o) => choice(state, p, i, final, o)));
    const promptTokens = p.prompts.reduce((sum, pr) => sum + pr.ids.length, 0);
    return { ...meta, choices, usage: usage(promptTokens, results.flatMap((r) => r.byIndex)) };
  } finally {
    scope.close();
  }
}

async function prepare(state: ServerState, req: CompletionRequest): Promise<Prepared> {
  const model = state.resolveModel(req.model);
  rejectUnsupported(req);
  if (req.suffix !== null && req.suffix !== undefined) throw new BadRequestError("suffix is not supported", "suffix");
  const n = req.n ?? 1;
  if (req.best_of !== null && req.best_of !== undefined && req.best_of !== n)
    throw new BadRequestError("best_of is not supported; leave it unset or equal to n", "best_of");
  // Fan-out is bounded before any prompt is tokenized.
  checkSequenceCount(promptCount(req.prompt), n, state.maxSeqsPerRequest);
  const echoLogprobs = req.echo && req.logprobs !== null && req.logprobs !== undefined ? req.logprobs : null;
  // max_tokens 0 with echo scores the prompt without generating (older scoring clients send it): one token is
  // computed and then left out of the answer.
  const echoOnly = req.max_tokens === 0 && req.echo === true;
  if (echoOnly && req.stream) throw new BadRequestError("max_tokens 0 (echo only) is supported without stream", "max_tokens");
  const constraint = resolveConstraint(req);
  const prompts = (await promptInputs(state, req)).map(({ ids, text }) => ({
    ids, text,
    params: toSamplingParams(state, req, {
      promptLen: ids.length, maxTokens: echoOnly ? 1 : req.max_tokens ?? null, defaultMaxTokens: 16,
      logprobs: req.logprobs ?? null, promptLogprobs: echoLogprobs, promptParam: "prompt",
      structuredOutputs: constraint?.params ?? null,
    }),
  }));
  return { req, model, prompts, n, constraint, echoOnly };
}

/** The output with its generated part left out (max_tokens 0 with echo). */
function promptOnly(o: CompletionOutput): CompletionOutput {
  return { ...o, text: "", textDelta: "", tokenIds: [], newTokenIds: [], logprobs: o.logprobs ? [] : null, newLogprobs: o.newLogprobs ? [] : null, cumulativeLogprob: o.logprobs ? 0 : null, finishReason: "length", stopReason: null };
}

function promptCount(p: CompletionRequest["prompt"]): number {
  return typeof p === "string" || (p.length > 0 && typeof p[0] === "number") ? 1 : p.length;
}

/** Each prompt as token ids (tokenized in the pool), plus the text echo shows for it. */
async function promptInputs(state: ServerState, req: CompletionRequest): Promise<{ ids: number[]; text: string }[]> {
  const p = req.prompt;
  const addSpecialTokens = req.add_special_tokens ?? true;
  const truncate = (ids: number[]) => truncatePrompt(state, ids, req.truncate_prompt_tokens);
  const fromText = async (text: string) => {
    checkPromptChars(text.length, state.maxModelLen, "prompt");
    const all = await state.tokenizers.encode(text, addSpecialTokens);
    const ids = truncate(all);
    // A truncated prompt echoes what the model saw.
    return { ids, text: ids.length === all.length ? text : await state.tokenizers.decode(ids, false) };
  };
  const fromIds = async (all: number[], i: number) => {
    const vocab = state.modelConfig.vocabSize;
    const bad = all.find((id) => id < 0 || id >= vocab);
    if (bad !== undefined) throw new BadRequestError(`prompt ${i} holds token id ${bad}, outside the vocabulary [0, ${vocab})`, "prompt");
    const ids = truncate(all);
    if (ids.length > state.maxModelLen) return { ids, text: "" }; // refused for its length once its params are built
    // Echo keeps special tokens, as vLLM decodes them, so text_offset points into the text.
    return { ids, text: await state.tokenizers.decode(ids, false) };
  };
  let out: { ids: number[]; text: string }[];
  if (typeof p === "string") out = [await fromText(p)];
  else if (p.length === 0) out = [];
  else if (typeof p[0] === "string") out = await Promise.all((p as string[]).map(fromText));
  else if (typeof p[0] === "number") out = [await fromIds(p as number[], 0)];
  else out = await Promise.all((p as number[][]).map(fromIds));
  if (out.length === 0) throw new BadRequestError("prompt must not be empty", "prompt");
  out.forEach((x, i) => { if (x.ids.length === 0) throw new BadRequestError(`prompt ${i} is empty`, "prompt"); });
  return out;
}

function choice(state: ServerState, p: Prepared, promptIndex: number, final: RequestOutput, o: CompletionOutput): CompletionChoice {
  const pr = p.prompts[promptIndex];
  const echo = p.req.echo === true;
  return {
    index: promptIndex * p.n + o.index,
    text: echo ? pr.text + o.text : o.text,
    logprobs: o.logprobs ? logprobsFor(state, pr, final, o.tokenIds, o.logprobs, echo, 0, p.req.return_tokens_as_token_ids === true) : null,
    finish_reason: o.finishReason,
    stop_reason: o.stopReason,
    ...(p.req.prompt_logprobs !== null && p.req.prompt_logprobs !== undefined ? { prompt_logprobs: promptLogprobsJson(state, final) } : {}),
  };
}

function logprobsFor(
  state: ServerState, pr: PreparedPrompt, out: RequestOutput, ids: number[], lps: NonNullable<CompletionOutput["logprobs"]>,
  withPrompt: boolean, offset: number, asIds: boolean,
): CompletionLogprobs {
  if (!withPrompt) return completionLogprobs(state, ids, lps, offset, asIds);
  const promptLps = pr.ids.map((_, i) => out.promptLogprobs?.[i] ?? null);
  return completionLogprobs(state, [...pr.ids, ...ids], [...promptLps, ...lps], offset, asIds);
}

interface ChunkMeta { id: string; object: "text_completion"; created: number; model: string }

async function* streamChunks(state: ServerState, p: Prepared, meta: ChunkMeta, streams: AsyncGenerator<RequestOutput>[]): AsyncGenerator<CompletionResponse> {
  const opts = p.req.stream_options;
  const includeUsage = opts?.include_usage === true;
  const continuous = includeUsage && opts?.continuous_usage_stats === true;
  const echo = p.req.echo === true;
  const sentChars = new Map<number, number>(); // choice index → characters sent, for text_offset
  const latest = new Map<number, CompletionOutput>();
  for await (const [i, out] of mergeStreams(streams)) {
    const pr = p.prompts[i];
    for (const o of out.outputs) {
      const index = i * p.n + o.index;
      latest.set(index, o);
      const first = !sentChars.has(index);
      const newLps = o.newLogprobs && o.newLogprobs.length > 0 ? o.newLogprobs : null;
      if (!first && o.textDelta === "" && o.finishReason === null && newLps === null) continue;
      const text = first && echo ? pr.text + o.textDelta : o.textDelta;
      const offset = sentChars.get(index) ?? 0;
      const logprobs = o.newLogprobs ? logprobsFor(state, pr, out, o.newTokenIds, o.newLogprobs, first && echo, offset, p.req.return_tokens_as_token_ids === true) : null;
      sentChars.set(index, offset + text.length);
      yield {
        ...meta,
        choices: [{ index, text, logprobs, finish_reason: o.finishReason, stop_reason: o.stopReason }],
        ...(includeUsage ? { usage: continuous ? usage(pr.ids.length, [o]) : null } : {}),
      };
    }
  }
  if (includeUsage) {
    const promptTokens = p.prompts.reduce((sum, pr) => sum + pr.ids.length, 0);
    yield { ...meta, choices: [], usage: usage(promptTokens, [...latest.values()]) };
  }
}
