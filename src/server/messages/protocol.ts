/** POST /v1/messages: Anthropic's Messages API request schema (zod), response and error shapes. */
import { z } from "zod";

const textBlock = z.object({ type: z.string(), text: z.string().nullish() }).passthrough();
const content = z.union([z.string(), z.array(textBlock)]);

export const messagesRequestSchema = z.object({
  model: z.string(),
  max_tokens: z.number().int().min(1, "max_tokens must be at least 1"),
  messages: z.array(z.object({ role: z.string(), content })),
  system: content.nullish(),
  stop_sequences: z.array(z.string()).nullish(),
  temperature: z.number().nullish(),
  top_p: z.number().nullish(),
  top_k: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  tools: z.array(z.record(z.string(), z.unknown())).nullish(),
  tool_choice: z.unknown().optional(),
});

export const countTokensRequestSchema = messagesRequestSchema.omit({ max_tokens: true, stream: true, stop_sequences: true, temperature: true, top_p: true, top_k: true });

export type MessagesRequest = z.infer<typeof messagesRequestSchema>;
export type CountTokensRequest = z.infer<typeof countTokensRequestSchema>;

export type StopReason = "end_turn" | "max_tokens" | "stop_sequence";

export interface MessagesUsage {
  input_tokens: number;
  output_tokens: number;
}

export interface MessagesResponse {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: { type: "text"; text: string }[];
  stop_reason: StopReason | null;
  stop_sequence: string | null;
  usage: MessagesUsage;
}

/** Anthropic's error body: `{"type": "error", "error": {"type", "message"}}`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}
