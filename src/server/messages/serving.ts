/**
 * Serving POST /v1/messages (Anthropic's Messages API, as vLLM serves it): the system prompt and messages go
 * through the chat template, stop_sequences become stop strings, and the answer is one message or a stream of
 * Anthropic's events (message_start, content_block_start/delta/stop, message_delta, message_stop).
 */
import type { CompletionOutput, RequestOutput } from "../../engine/outputs";
import { chatPromptTokenIds } from "../chat_completion/messages";
import type { ChatMessageInput } from "../chat_completion/protocol";
import { BadRequestError } from "../errors";
import { type HttpContext, resolveRequestId } from "../http_context";
import { collectOutputs, logReceived } from "../output_utils";
import { RequestScope } from "../request_scope";
import { parseBody, toSamplingParams } from "../sampling";
import type { ServerState } from "../state";
import { namedEvents, sseResponse } from "../streams";
import { anthropicError } from "./errors";
import { type CountTokensRequest, countTokensRequestSchema, type MessagesRequest, messagesRequestSchema, type MessagesResponse, type StopReason } from "./protocol";

const ROLES = new Set(["user", "assistant"]);

export async function createMessage(state: ServerState, ctx: HttpContext): Promise<MessagesResponse | Response> {
  const req = parseBody(messagesRequestSchema, await state.readBody(ctx.request));
  const requestId = resolveRequestId(ctx);
  const model = state.resolveModel(req.model);
  const promptTokenIds = await promptIds(state, req);
  const params = toSamplingParams(state, { temperature: req.temperature, top_p: req.top_p, top_k: req.top_k, stop: req.stop_sequences }, {
    promptLen: promptTokenIds.length, maxTokens: req.max_tokens, defaultMaxTokens: null, logprobs: null, promptParam: "messages",
  });
  state.checkAdmission(1);
  const scope = new RequestScope(state, requestId, `msg_${requestId}`, ctx.request, 1);
  logReceived(state, requestId, promptTokenIds, params);
  const outputs = scope.generate({ promptTokenIds, cacheSalt: null }, params);
  const head = { id: scope.responseId, type: "message" as const, role: "assistant" as const, model };
  if (req.stream) return sseResponse(streamEvents(head, promptTokenIds.length, outputs), { onCancel: () => scope.abort(), onClose: () => scope.close() }, ANTHROPIC_SSE);
  try {
    const o = (await collectOutputs(outputs)).byIndex[0];
    return { ...head, content: [{ type: "text", text: o.text }], ...stop(o), usage: { input_tokens: promptTokenIds.length, output_tokens: o.tokenIds.length } };
  } finally {
    scope.close();
  }
}

/** POST /v1/messages/count_tokens: the prompt's size as the chat template renders it. */
export async function countTokens(state: ServerState, body: unknown): Promise<{ input_tokens: number }> {
  const req = parseBody(countTokensRequestSchema, body);
  state.resolveModel(req.model);
  return { input_tokens: (await promptIds(state, req)).length };
}

const ANTHROPIC_SSE = namedEvents((e) => anthropicError(e).body);

function promptIds(state: ServerState, req: CountTokensRequest): Promise<number[]> {
  if (req.tools && req.tools.length > 0) throw new BadRequestError("tools are not supported on /v1/messages yet", "tools");
  const messages: ChatMessageInput[] = [];
  if (req.system !== null && req.system !== undefined) messages.push({ role: "system", content: text(req.system, "system") });
  req.messages.forEach((m, i) => {
    if (!ROLES.has(m.role)) throw new BadRequestError(`messages.${i}.role: '${m.role}' is not supported; use user or assistant`, `messages.${i}.role`);
    messages.push({ role: m.role, content: text(m.content, `messages.${i}.content`) });
  });
  return chatPromptTokenIds(state, { messages });
}

// Text blocks join with newlines (as chat content parts do); other block kinds are refused by name.
function text(content: MessagesRequest["system"], param: string): string {
  if (typeof content === "string") return content;
  return (content ?? []).map((b, j) => {
    if (b.type !== "text" || typeof b.text !== "string")
      throw new BadRequestError(`${param}.${j}: content blocks of type '${b.type}' are not supported yet; only text blocks are`, `${param}.${j}`);
    return b.text;
  }).join("\n");
}

function stop(o: CompletionOutput): { stop_reason: StopReason; stop_sequence: string | null } {
  if (o.finishReason === "length") return { stop_reason: "max_tokens", stop_sequence: null };
  if (typeof o.stopReason === "string") return { stop_reason: "stop_sequence", stop_sequence: o.stopReason };
  return { stop_reason: "end_turn", stop_sequence: null };
}

type Head = Pick<MessagesResponse, "id" | "type" | "role" | "model">;

/** Anthropic's event sequence for one text block. */
async function* streamEvents(head: Head, inputTokens: number, outputs: AsyncGenerator<RequestOutput>): AsyncGenerator<object> {
  yield { type: "message_start", message: { ...head, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 0 } } };
  yield { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } };
  let last: CompletionOutput | null = null;
  for await (const out of outputs) {
    last = out.outputs[0];
    if (last.textDelta !== "") yield { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: last.textDelta } };
  }
  yield { type: "content_block_stop", index: 0 };
  if (last === null) return;
  yield { type: "message_delta", delta: stop(last), usage: { output_tokens: last.tokenIds.length } };
  yield { type: "message_stop" };
}
