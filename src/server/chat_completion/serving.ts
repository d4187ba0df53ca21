/** Serving /v1/chat/completions: messages → chat template → tokens → engine → one response or SSE chunks. */
import type { CompletionOutput, RequestOutput } from "../../engine/outputs";
import type { SamplingParams } from "../../engine/sampling_params";
import type { RequestReasoning } from "../../reasoning/reasoning_parser";
import { BadRequestError } from "../errors";
import { type HttpContext, resolveRequestId } from "../http_context";
import { chatLogprobs } from "../logprobs";
import { collectOutputs, logReceived, promptLogprobsJson, usage } from "../output_utils";
import { RequestScope } from "../request_scope";
import { checkSequenceCount } from "../request_limits";
import { parseBody, rejectUnsupported, toSamplingParams, truncatePrompt } from "../sampling";
import type { ServerState } from "../state";
import { sseResponse } from "../streams";
import { type Constraint, prepareConstraint, resolveConstraint } from "../structured_outputs";
import { chatPromptTokenIds } from "./messages";
import {
  type ChatChoice, type ChatCompletionChunk, type ChatCompletionRequest, type ChatCompletionResponse,
  chatCompletionRequestSchema, type ChatStreamChoice,
} from "./protocol";
import { ChoiceReasoningStream, reasoningFields, requestReasoning } from "./reasoning_output";
import { ChoiceToolStream, choiceMessage } from "./tool_output";
import { resolveToolMode, type ToolMode } from "./tools";

interface Prepared {
  req: ChatCompletionRequest;
  model: string;
  promptTokenIds: number[];
  params: SamplingParams;
  topLogprobs: number;
  tools: ToolMode;
  constraint: Constraint | null;
  /** How the output splits into reasoning and answer (--reasoning-parser); null without one. */
  reasoning: RequestReasoning | null;
}

/** Handles one chat completion request; returns the JSON body, or an SSE Response when streaming. */
export async function createChatCompletion(state: ServerState, ctx: HttpContext): Promise<ChatCompletionResponse | Response> {
  const body = await state.readBody(ctx.request);
  const req = parseBody(chatCompletionRequestSchema, body);
  const requestId = resolveRequestId(ctx, req.request_id);
  const p = await prepare(state, req);
  state.checkAdmission(p.params.n);
  await prepareConstraint(state, [p.params], p.constraint);
  const scope = new RequestScope(state, requestId, `chatcmpl-${requestId}`, ctx.request, p.params.n);
  logReceived(state, requestId, p.promptTokenIds, p.params);
  const outputs = scope.generate({ promptTokenIds: p.promptTokenIds, cacheSalt: req.cache_salt ?? null }, p.params);
  const created = Math.floor(Date.now() / 1000);
  const head = <O extends string>(object: O) => ({ id: scope.responseId, object, created, model: p.model });
  if (p.req.stream) return sseResponse(streamChunks(state, p, head("chat.completion.chunk"), outputs), { onCancel: () => scope.abort(), onClose: () => scope.close() });
  try {
    const { final, byIndex } = await collectOutputs(outputs);
    const choices: ChatChoice[] = byIndex.map((o) => {
      const split = p.reasoning?.extract(o.text) ?? null;
      const m = choiceMessage(p.tools, o, split ? split.content : o.text);
      const reasoning = split ? reasoningFields(split.reasoning, p.req.include_reasoning !== false) : {};
      return {
        index: o.index,
        message: { role: "assistant", content: m.content, ...reasoning, tool_calls: m.toolCalls },
        logprobs: o.logprobs ? { content: chatLogprobs(state, o.logprobs, p.topLogprobs, p.req.return_tokens_as_token_ids === true) } : null,
        finish_reason: m.finishReason,
        stop_reason: o.stopReason,
      };
    });
    return {
      ...head("chat.completion"), choices, usage: usage(p.promptTokenIds.length, byIndex),
      prompt_logprobs: promptLogprobsJson(state, final),
    };
  } finally {
    scope.close();
  }
}

async function prepare(state: ServerState, req: ChatCompletionRequest): Promise<Prepared> {
  const model = state.resolveModel(req.model);
  rejectUnsupported(req);
  checkSequenceCount(1, req.n ?? 1, state.maxSeqsPerRequest);
  if (req.top_logprobs !== null && req.top_logprobs !== undefined && !req.logprobs)
    throw new BadRequestError("when using `top_logprobs`, `logprobs` must be set to true", "top_logprobs");
  const topLogprobs = req.top_logprobs ?? 0;
  if (topLogprobs < 0 || topLogprobs > state.limits.maxLogprobs)
    throw new BadRequestError(`top_logprobs must be in [0, ${state.limits.maxLogprobs}] (--max-logprobs), got ${topLogprobs}`, "top_logprobs");
  const tools = resolveToolMode(state, req);
  const constraint = resolveConstraint(req, tools.schema);
  const promptTokenIds = truncatePrompt(state, await chatPromptTokenIds(state, { ...req, tools: tools.tools }), req.truncate_prompt_tokens);
  if (promptTokenIds.length === 0) throw new BadRequestError("the chat template rendered an empty prompt", "messages");
  const params = toSamplingParams(state, req, {
    promptLen: promptTokenIds.length,
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? null,
    defaultMaxTokens: null,
    logprobs: req.logprobs ? topLogprobs : null,
    promptParam: "messages",
    structuredOutputs: constraint?.params ?? null,
    // A parser whose call markers are special tokens must see them in the text.
    skipSpecialTokens: tools.parser?.needsSpecialTokens ? false : undefined,
  });
  return { req, model, promptTokenIds, params, topLogprobs, tools, constraint, reasoning: requestReasoning(state, req, promptTokenIds) };
}

interface ChunkMeta { id: string; object: "chat.completion.chunk"; created: number; model: string }

async function* streamChunks(state: ServerState, p: Prepared, meta: ChunkMeta, outputs: AsyncGenerator<RequestOutput>): AsyncGenerator<ChatCompletionChunk> {
  const opts = p.req.stream_options;
  const includeUsage = opts?.include_usage === true;
  const continuous = includeUsage && opts?.continuous_usage_stats === true;
  const promptLen = p.promptTokenIds.length;
  const latest: CompletionOutput[] = [];
  const parser = p.tools.parser;
  const toolStreams = Array.from({ length: p.params.n }, () => (parser ? new ChoiceToolStream(parser, p.tools.parallel) : null));
  const reasoningStreams = Array.from({ length: p.params.n }, () => (p.reasoning ? new ChoiceReasoningStream(p.reasoning) : null));
  const includeReasoning = p.req.include_reasoning !== false;
  const chunk = (choice: ChatStreamChoice | null, o?: CompletionOutput): ChatCompletionChunk => ({
    ...meta, choices: choice ? [choice] : [],
    ...(includeUsage ? { usage: continuous && o ? usage(promptLen, [o]) : null } : {}),
  });
  for (let i = 0; i < p.params.n; i++) yield chunk({ index: i, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null });
  for await (const out of outputs) {
    for (const o of out.outputs) {
      latest[o.index] = o;
      const newLogprobs = o.newLogprobs && o.newLogprobs.length > 0 ? o.newLogprobs : null;
      const final = o.finishReason !== null;
      const reasoningStream = reasoningStreams[o.index];
      const split = reasoningStream?.step(o.textDelta, final) ?? { reasoning: null, content: o.textDelta };
      const tools = toolStreams[o.index];
      const delta: ChatStreamChoice["delta"] = tools ? toolDelta(tools, split.content ?? "", final)
        : reasoningStream && split.content === null ? {} : { content: split.content ?? "" };
      if (split.reasoning !== null && includeReasoning) Object.assign(delta, reasoningFields(split.reasoning, true));
      // A step whose text is held back (a possible stop string, tag or tool-call marker) sends nothing yet.
      if (!delta.content && !delta.reasoning && delta.tool_calls === undefined && !final && newLogprobs === null) continue;
      const finishReason = tools ? tools.finishReason(o.finishReason) : o.finishReason;
      yield chunk({
        index: o.index,
        delta,
        logprobs: newLogprobs ? { content: chatLogprobs(state, newLogprobs, p.topLogprobs, p.req.return_tokens_as_token_ids === true) } : null,
        finish_reason: finishReason,
        ...(finishReason !== null ? { stop_reason: o.stopReason } : {}),
      }, o);
    }
  }
  if (includeUsage) yield { ...chunk(null), usage: usage(promptLen, latest.filter(Boolean)) };
}

function toolDelta(tools: ChoiceToolStream, content: string, final: boolean): ChatStreamChoice["delta"] {
  const d = tools.step(content, final);
  const delta: ChatStreamChoice["delta"] = {};
  if (d.content !== null) delta.content = d.content;
  if (d.toolCalls.length > 0) delta.tool_calls = d.toolCalls;
  return delta;
}
