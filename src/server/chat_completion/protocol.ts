/** POST /v1/chat/completions: the request schema (zod) and the response shapes. */
import { z } from "zod";
import type { ChatLogprobEntry } from "../logprobs";
import type { UsageInfo } from "../output_utils";
import { samplingFields } from "../sampling";

const contentPart = z.object({ type: z.string(), text: z.string().nullish() }).passthrough();

export const chatMessageSchema = z.object({
  role: z.string(),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(z.unknown()).nullish(),
  tool_call_id: z.string().nullish(),
});

export const chatCompletionRequestSchema = z.object({
  ...samplingFields,
  messages: z.array(chatMessageSchema),
  max_tokens: z.number().int().nullish(),
  max_completion_tokens: z.number().int().nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().nullish(),
  tools: z.array(z.unknown()).nullish(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  add_special_tokens: z.boolean().nullish(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;
export type ChatMessageInput = z.infer<typeof chatMessageSchema>;

export interface ChatChoice {
  index: number;
  message: { role: "assistant"; content: string; tool_calls: unknown[] };
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
  delta: { role?: "assistant"; content?: string };
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
