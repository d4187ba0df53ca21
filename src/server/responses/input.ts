/**
 * A Responses request → what the engine runs: `instructions` and `input` as chat messages, the prompt through
 * the chat template, SamplingParams (max_output_tokens, temperature, top_p, logprobs) and `text.format`'s
 * constraint. What vLLM refuses without its response store (background, previous_response_id) is refused the same way.
 */
import type { SamplingParams } from "../../engine/sampling_params";
import { chatPromptTokenIds } from "../chat_completion/messages";
import type { ChatMessageInput } from "../chat_completion/protocol";
import { BadRequestError, NotFoundError } from "../errors";
import { rejectUnsupported, type SamplingFields, toSamplingParams } from "../sampling";
import type { ServerState } from "../state";
import type { Constraint } from "../structured_outputs";
import type { ResponsesInputItem, ResponsesRequest } from "./protocol";

const ROLES = new Set(["user", "system", "developer", "assistant"]);
const TEXT_PARTS = new Set(["input_text", "output_text", "text"]);
export const OUTPUT_LOGPROBS = "message.output_text.logprobs";

export interface PreparedResponse {
  model: string;
  promptTokenIds: number[];
  params: SamplingParams;
  /** top_logprobs when `include` asks for output logprobs, else null. */
  topLogprobs: number | null;
  constraint: Constraint | null;
}

export async function prepareResponse(state: ServerState, req: ResponsesRequest): Promise<PreparedResponse> {
  const model = state.resolveModel(req.model);
  rejectRefused(req);
  rejectUnsupported({ priority: req.priority } as SamplingFields);
  const messages = inputMessages(req);
  const topLogprobs = req.include?.includes(OUTPUT_LOGPROBS) ? req.top_logprobs ?? 0 : null;
  if (req.top_logprobs !== null && req.top_logprobs !== undefined && (req.top_logprobs < 0 || req.top_logprobs > state.limits.maxLogprobs))
    throw new BadRequestError(`top_logprobs must be in [0, ${state.limits.maxLogprobs}] (--max-logprobs), got ${req.top_logprobs}`, "top_logprobs");
  const constraint = textFormatConstraint(req);
  const promptTokenIds = await chatPromptTokenIds(state, { messages });
  if (promptTokenIds.length === 0) throw new BadRequestError("the chat template rendered an empty prompt", "input");
  const fields: SamplingFields = {
    temperature: req.temperature, top_p: req.top_p, top_k: req.top_k, min_p: req.min_p, repetition_penalty: req.repetition_penalty, seed: req.seed,
  };
  const params = toSamplingParams(state, fields, {
    promptLen: promptTokenIds.length, maxTokens: req.max_output_tokens ?? null, defaultMaxTokens: null, logprobs: topLogprobs,
    promptParam: "input", maxTokensParam: "max_output_tokens", structuredOutputs: constraint?.params ?? null,
  });
  return { model, promptTokenIds, params, topLogprobs, constraint };
}

// vLLM's answers when its response store is off (its default): nothing was kept, so nothing can be continued.
function rejectRefused(req: ResponsesRequest): void {
  if (req.background)
    throw new BadRequestError("This vLLM engine does not support `store=True` and therefore does not support the background mode.", "background");
  if (req.previous_response_id !== null && req.previous_response_id !== undefined)
    throw new NotFoundError(`Response with id '${req.previous_response_id}' not found.`, "previous_response_id");
  if (req.tools && req.tools.length > 0) throw new BadRequestError("tools are not supported on /v1/responses yet", "tools");
  if (req.truncation && req.truncation !== "disabled") throw new BadRequestError(`truncation '${req.truncation}' is not supported; only 'disabled'`, "truncation");
}

/** `instructions` as the system message, then `input` (a string is one user message), as vLLM builds them. */
export function inputMessages(req: ResponsesRequest): ChatMessageInput[] {
  const messages: ChatMessageInput[] = [];
  if (req.instructions) messages.push({ role: "system", content: req.instructions });
  if (typeof req.input === "string") messages.push({ role: "user", content: req.input });
  else req.input.forEach((item, i) => messages.push(inputMessage(item, i)));
  if (messages.length === 0) throw new BadRequestError("input must hold at least one message", "input");
  return messages;
}

function inputMessage(item: ResponsesInputItem, i: number): ChatMessageInput {
  const type = item.type ?? "message";
  if (type !== "message") throw new BadRequestError(`input.${i}: items of type '${type}' are not supported yet; only messages are`, `input.${i}.type`);
  if (!item.role || !ROLES.has(item.role))
    throw new BadRequestError(`input.${i}.role: '${item.role}' is not supported; use one of ${[...ROLES].join(", ")}`, `input.${i}.role`);
  const content = item.content;
  if (content === null || content === undefined || typeof content === "string") return { role: item.role, content: content ?? "" };
  return {
    role: item.role,
    content: content.map((part, j) => {
      if (!TEXT_PARTS.has(part.type) || typeof part.text !== "string")
        throw new BadRequestError(`input.${i}.content.${j}: content parts of type '${part.type}' are not supported; only text parts are`, `input.${i}.content.${j}`);
      return { type: "text", text: part.text };
    }),
  };
}

/** `text.format` is the Responses spelling of response_format: text, json_object or json_schema. */
function textFormatConstraint(req: ResponsesRequest): Constraint | null {
  const f = req.text?.format;
  if (!f || f.type === "text") return null;
  if (f.type === "json_object") return { params: { jsonObject: true }, param: "text.format" };
  if (f.type !== "json_schema") throw new BadRequestError(`text.format.type '${f.type}' is not supported; use text, json_object or json_schema`, "text.format.type");
  if (!f.schema) throw new BadRequestError("text.format.schema is required for json_schema", "text.format.schema");
  return { params: { json: f.schema }, param: "text.format.schema" };
}
