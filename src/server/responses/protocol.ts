/** POST /v1/responses: the request schema (zod) and the response and event shapes (OpenAI's Responses API). */
import { z } from "zod";
import type { ChatLogprob } from "../logprobs";

const num = z.number().nullish();
const int = z.number().int().nullish();

/** A content part of an input message: text only so far (images and files are refused by name). */
const inputPart = z.object({ type: z.string(), text: z.string().nullish() }).passthrough();

/** One item of `input`: a message (the `type` may be left out), or another item kind (refused by name). */
const inputItem = z.object({
  type: z.string().nullish(),
  role: z.string().nullish(),
  content: z.union([z.string(), z.array(inputPart)]).nullish(),
}).passthrough();

const textFormat = z.object({
  type: z.string(),
  name: z.string().nullish(),
  description: z.string().nullish(),
  schema: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

export const responsesRequestSchema = z.object({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(inputItem)]),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1, "max_output_tokens must be at least 1").nullish(),
  temperature: num,
  top_p: num,
  top_logprobs: int,
  include: z.array(z.string()).nullish(),
  stream: z.boolean().nullish(),
  // vLLM keeps nothing unless its store is switched on, so `store` (true by default) is accepted and ignored.
  store: z.boolean().nullish(),
  background: z.boolean().nullish(),
  previous_response_id: z.string().nullish(),
  text: z.object({ format: textFormat.nullish() }).nullish(),
  tools: z.array(z.record(z.string(), z.unknown())).nullish(),
  tool_choice: z.unknown().optional(),
  parallel_tool_calls: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  user: z.string().nullish(),
  truncation: z.string().nullish(),
  service_tier: z.string().nullish(),
  reasoning: z.record(z.string(), z.unknown()).nullish(),
  // vLLM's extras.
  request_id: z.string().nullish(),
  top_k: int,
  min_p: num,
  repetition_penalty: num,
  seed: int,
  priority: int,
  cache_salt: z.string().min(1, "cache_salt must not be empty").max(1024, "cache_salt must be at most 1024 characters").nullish(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;
export type ResponsesInputItem = z.infer<typeof inputItem>;

export interface OutputText {
  type: "output_text";
  text: string;
  annotations: never[];
  logprobs: (ChatLogprob & { top_logprobs: ChatLogprob[] })[] | null;
}

export interface OutputMessage {
  id: string;
  type: "message";
  role: "assistant";
  status: "in_progress" | "completed" | "incomplete";
  content: OutputText[];
}

export type OutputItem = OutputMessage;

export interface ResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface ResponsesResponse {
  id: string;
  object: "response";
  created_at: number;
  status: "in_progress" | "completed" | "incomplete";
  incomplete_details: { reason: "max_output_tokens" } | null;
  error: null;
  model: string;
  instructions: string | null;
  output: OutputItem[];
  max_output_tokens: number | null;
  temperature: number;
  top_p: number;
  top_logprobs: number;
  parallel_tool_calls: boolean;
  tool_choice: unknown;
  tools: never[];
  text: { format: unknown };
  previous_response_id: null;
  store: false;
  background: false;
  truncation: string;
  metadata: Record<string, string> | null;
  user: string | null;
  usage: ResponseUsage | null;
}
