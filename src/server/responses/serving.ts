/**
 * Serving POST /v1/responses: one engine request, answered as one Response object, or streamed as the
 * Responses API's typed events (response.created … response.output_text.delta … response.completed).
 */
import { randomUUID } from "node:crypto";
import type { CompletionOutput, RequestOutput } from "../../engine/outputs";
import { toOpenAIError } from "../errors";
import { type HttpContext, resolveRequestId } from "../http_context";
import { chatLogprobs } from "../logprobs";
import { collectOutputs, logReceived } from "../output_utils";
import { RequestScope } from "../request_scope";
import { checkSequenceCount } from "../request_limits";
import { parseBody } from "../sampling";
import type { ServerState } from "../state";
import { namedEvents, sseResponse } from "../streams";
import { prepareConstraint } from "../structured_outputs";
import { type PreparedResponse, prepareResponse } from "./input";
import { type OutputMessage, type OutputText, type ResponsesRequest, responsesRequestSchema, type ResponsesResponse, type ResponseUsage } from "./protocol";

/** Handles one Responses request; returns the Response object, or an SSE Response when streaming. */
export async function createResponse(state: ServerState, ctx: HttpContext): Promise<ResponsesResponse | Response> {
  const req = parseBody(responsesRequestSchema, await state.readBody(ctx.request));
  const requestId = resolveRequestId(ctx, req.request_id);
  checkSequenceCount(1, 1, state.maxSeqsPerRequest);
  const p = await prepareResponse(state, req);
  state.checkAdmission(1);
  await prepareConstraint(state, [p.params], p.constraint);
  const scope = new RequestScope(state, requestId, `resp_${requestId}`, ctx.request, 1);
  logReceived(state, requestId, p.promptTokenIds, p.params);
  const outputs = scope.generate({ promptTokenIds: p.promptTokenIds, cacheSalt: req.cache_salt ?? null }, p.params);
  const shell = responseShell(scope.responseId, req, p);
  if (req.stream) return sseResponse(streamEvents(state, p, shell, outputs), { onCancel: () => scope.abort(), onClose: () => scope.close() }, RESPONSES_SSE);
  try {
    const { final, byIndex } = await collectOutputs(outputs);
    const o = byIndex[0];
    const text = o.text === "" ? [] : [outputMessage(`msg_${randomUUID().replaceAll("-", "")}`, "completed", [outputText(state, p, o.text, o)])];
    return finished(shell, o, text, usage(final, o));
  } finally {
    scope.close();
  }
}

/** A stream that fails mid-way ends with the API's `error` event. */
const RESPONSES_SSE = namedEvents((e) => {
  const err = toOpenAIError(e);
  return { type: "error", code: err.type, message: err.message, param: err.param, sequence_number: -1 };
});

/** The Response as it stands before any output: every request setting echoed back, as OpenAI does. */
function responseShell(id: string, req: ResponsesRequest, p: PreparedResponse): ResponsesResponse {
  return {
    id, object: "response", created_at: Math.floor(Date.now() / 1000), status: "in_progress", incomplete_details: null, error: null,
    model: p.model, instructions: req.instructions ?? null, output: [], max_output_tokens: req.max_output_tokens ?? null,
    temperature: p.params.temperature, top_p: p.params.topP, top_logprobs: req.top_logprobs ?? 0,
    parallel_tool_calls: req.parallel_tool_calls ?? true, tool_choice: req.tool_choice ?? "auto", tools: [],
    text: { format: req.text?.format ?? { type: "text" } }, previous_response_id: null, store: false, background: false,
    truncation: req.truncation ?? "disabled", metadata: req.metadata ?? null, user: req.user ?? null, usage: null,
  };
}

// Cut off by max_output_tokens (or the context) is "incomplete", as OpenAI reports it.
function finished(shell: ResponsesResponse, o: CompletionOutput, output: OutputMessage[], u: ResponseUsage): ResponsesResponse {
  const cut = o.finishReason === "length";
  return {
    ...shell, status: cut ? "incomplete" : "completed", incomplete_details: cut ? { reason: "max_output_tokens" } : null,
    output: output.map((m) => ({ ...m, status: cut ? "incomplete" : "completed" })), usage: u,
  };
}

function outputMessage(id: string, status: OutputMessage["status"], content: OutputText[]): OutputMessage {
  return { id, type: "message", role: "assistant", status, content };
}

function outputText(state: ServerState, p: PreparedResponse, text: string, o: CompletionOutput | null): OutputText {
  const logprobs = p.topLogprobs === null ? null : o?.logprobs ? chatLogprobs(state, o.logprobs, p.topLogprobs) : [];
  return { type: "output_text", text, annotations: [], logprobs };
}

function usage(out: RequestOutput, o: CompletionOutput): ResponseUsage {
  const input = out.promptTokenIds.length, output = o.tokenIds.length;
  return {
    input_tokens: input, input_tokens_details: { cached_tokens: out.metrics.numCachedTokens },
    output_tokens: output, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: input + output,
  };
}

/**
 * The event sequence of one text answer: created, in_progress; then, once there is text, the message item and
 * its output_text part are added and the text arrives as deltas; at the end the text, part and item are done,
 * and response.completed (or response.incomplete) carries the whole Response with its usage.
 */
async function* streamEvents(state: ServerState, p: PreparedResponse, shell: ResponsesResponse, outputs: AsyncGenerator<RequestOutput>): AsyncGenerator<object> {
  let seq = 0;
  const ev = <T extends object>(e: T) => ({ ...e, sequence_number: seq++ });
  const itemId = `msg_${randomUUID().replaceAll("-", "")}`;
  const at = { item_id: itemId, output_index: 0, content_index: 0 };
  yield ev({ type: "response.created", response: shell });
  yield ev({ type: "response.in_progress", response: shell });
  let last: RequestOutput | null = null;
  let started = false;
  try {
    for await (const out of outputs) {
      last = out;
      const o = out.outputs[0];
      if (o.textDelta === "") continue;
      if (!started) {
        started = true;
        yield ev({ type: "response.output_item.added", output_index: 0, item: outputMessage(itemId, "in_progress", []) });
        yield ev({ type: "response.content_part.added", ...at, part: outputText(state, p, "", null) });
      }
      const logprobs = p.topLogprobs !== null && o.newLogprobs ? streamLogprobs(chatLogprobs(state, o.newLogprobs, p.topLogprobs)) : [];
      yield ev({ type: "response.output_text.delta", ...at, delta: o.textDelta, logprobs });
    }
  } catch (e) {
    const err = toOpenAIError(e);
    yield ev({ type: "error", code: err.type, message: err.message, param: err.param });
    return;
  }
  if (last === null) return;
  const o = last.outputs[0];
  const content = started ? [outputText(state, p, o.text, o)] : [];
  const final = finished(shell, o, started ? [outputMessage(itemId, "completed", content)] : [], usage(last, o));
  if (started) {
    yield ev({ type: "response.output_text.done", ...at, text: o.text, logprobs: streamLogprobs(content[0].logprobs ?? []) });
    yield ev({ type: "response.content_part.done", ...at, part: content[0] });
    yield ev({ type: "response.output_item.done", output_index: 0, item: final.output[0] });
  }
  yield ev({ type: final.status === "completed" ? "response.completed" : "response.incomplete", response: final });
}

// Stream events carry logprobs without bytes, as the API's delta events define them.
function streamLogprobs(lps: NonNullable<OutputText["logprobs"]>) {
  return lps.map((l) => ({ token: l.token, logprob: l.logprob, top_logprobs: l.top_logprobs.map((t) => ({ token: t.token, logprob: t.logprob })) }));
}
