/** POST /tokenize and POST /detokenize: request schemas (zod) and response shapes. */
import { z } from "zod";
import { chatMessageSchema } from "../chat_completion/protocol";

const common = { model: z.string().nullish(), return_token_strs: z.boolean().nullish() };

export const tokenizeCompletionSchema = z.object({
  ...common,
  prompt: z.string(),
  add_special_tokens: z.boolean().nullish(),
});

export const tokenizeChatSchema = z.object({
  ...common,
  messages: z.array(chatMessageSchema),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
  add_special_tokens: z.boolean().nullish(),
  chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
});

export const detokenizeSchema = z.object({
  model: z.string().nullish(),
  tokens: z.array(z.number().int()),
});

export type TokenizeCompletionRequest = z.infer<typeof tokenizeCompletionSchema>;
export type TokenizeChatRequest = z.infer<typeof tokenizeChatSchema>;

export interface TokenizeResponse {
  count: number;
  max_model_len: number;
  tokens: number[];
  token_strs?: string[];
}

export interface DetokenizeResponse {
  prompt: string;
}
