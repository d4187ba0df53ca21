/** POST /v1/chat/completions: the request schema (zod) and the response shapes. */
import { z } from "zod";
import type { ToolCallDelta } from "../../tool_parsers/tool_parser";
import type { ChatLogprobEntry } from "../logprobs";
import type { UsageInfo } from "../output_utils";
import { samplingFields } from "../sampling";

const contentPart = z.object({ type: z.string(), text: z.string().nullish() }).passthrough();

/** A call in an assistant message of the history; `arguments` is JSON text as OpenAI sends it (or already an object). */
const messageToolCall = z.object({
  id: z.string().nullish(),
  type: z.literal("function").nullish(),
  function: z.object({ name: z.string(), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]).nullish() }),
});

export const chatMessageSchema = z.object({
  role: z.string(),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(messageToolCall).nullish(),
  tool_call_id: z.string().nullish(),
});

/** An OpenAI function tool. */
export const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1),
    description: z.string().nullish(),
    parameters: z.record(z.string(), z.unknown()).nullish(),
    strict: z.boolean().nullish(),
  }),
});

export const chatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(chatMessageSchema),
  max_tokens: z.number().int().nullish(),
  max_completion_tokens: z.number().int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nullish(),
  tools: z.array(toolSchema).nullish(),
  // Checked in tools.ts, whose messages say what the valid values are.
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  add_special_tokens: z.boolean().nullish(),
  include_reasoning: z.boolean().nullish(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessageInput = z.infer<typeof chatMessageSchema>;
export type ToolInput = z.infer<typeof toolSchema>;

/** A call in a response: `arguments` is JSON text. */
export interface ChatToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatChoice {
  index: number;
  message: { role: "assistant"; content: string | null; reasoning?: string | null; reasoning_content?: string | null; tool_calls: ChatToolCall[] };
  logprobs: { content: ChatLogprobEntry[] } | null;
  finish_reason: string | null;
  stop_reason: number | string | null;
}

export interface ChatCompletionResponse {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: ChatChoice[];
  usage: UsageInfo;
  prompt_logprobs: unknown[] | null;
}

export interface ChatStreamChoice {
  index: number;
  delta: { role?: "assistant"; content?: string; reasoning?: string | null; reasoning_content?: string | null; tool_calls?: ToolCallDelta[] };
  logprobs: { content: ChatLogprobEntry[] } | null;
  finish_reason: string | null;
  stop_reason?: number | string | null;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: ChatStreamChoice[];
  usage?: UsageInfo | null;
}
