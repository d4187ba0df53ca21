/** POST /v1/completions: the request schema (zod) and the response shapes. */
import { z } from "zod";
import type { CompletionLogprobs } from "../logprobs";
import type { PromptLogprobJson, UsageInfo } from "../output_utils";
import { samplingFields } from "../sampling";

const tokenIds = z.array(z.number().int());

export const completionRequestSchema = z.object({
  ...samplingFields,
  // A string, a batch of strings, one token-id list, or a batch of token-id lists.
  prompt: z.union([z.string(), z.array(z.string()), tokenIds, z.array(tokenIds)]),
  max_tokens: z.number().int().nullish(),
  echo: z.boolean().nullish(),
  // `true` reads as 1 and `false` as unset, as vLLM reads them (scoring clients send booleans).
  logprobs: z.union([z.number().int(), z.boolean()]).nullish().transform((v) => (v === true ? 1 : v === false ? null : v)),
  suffix: z.string().nullish(),
  best_of: z.number().int().nullish(),
  add_special_tokens: z.boolean().nullish(),
});

export type CompletionRequest = z.infer<typeof completionRequestSchema>;

export interface CompletionChoice {
  index: number;
  text: string;
  logprobs: CompletionLogprobs | null;
  finish_reason: string | null;
  stop_reason: number | string | null;
  prompt_logprobs?: (Record<string, PromptLogprobJson> | null)[] | null;
}

export interface CompletionResponse {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  choices: CompletionChoice[];
  usage?: UsageInfo | null;
}
