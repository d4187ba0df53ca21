/** Logprobs in the two OpenAI formats: chat's `content` list and completions' parallel arrays. */
import type { TokenLogprobs } from "../engine/outputs";
import type { ServerState } from "./state";

// -inf has no JSON form; OpenAI and vLLM report -9999 instead.
const clamp = (x: number) => Math.max(x, -9999);
const ENCODER = new TextEncoder();

export interface ChatLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface ChatLogprobEntry extends ChatLogprob {
  top_logprobs: ChatLogprob[];
}

/** return_tokens_as_token_ids: vLLM's "token_id:N" placeholder in place of the token's text. */
export const tokenIdPlaceholder = (id: number) => `token_id:${id}`;

/**
 * Chat format: one entry per generated token with its `topN` most likely alternatives. With `asIds` tokens
 * are "token_id:N" placeholders; `bytes` still holds the token's own text.
 */
export function chatLogprobs(state: ServerState, lps: readonly TokenLogprobs[], topN: number, asIds = false): ChatLogprobEntry[] {
  const entry = (id: number, lp: number): ChatLogprob => {
    const text = state.tokenString(id);
    return { token: asIds ? tokenIdPlaceholder(id) : text, logprob: clamp(lp), bytes: Array.from(ENCODER.encode(text)) };
  };
  return lps.map((lp) => ({ ...entry(lp.tokenId, lp.logprob), top_logprobs: lp.top.slice(0, topN).map(([id, p]) => entry(id, p)) }));
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[];
  text_offset: number[];
}

/**
 * Completions format for `ids` (prompt tokens first when echoing, whose first token has no logprob).
 * `lps[i]` scores `ids[i]`; `offset` is where the first token's text starts in the choice's text; `asIds` shows
 * tokens as "token_id:N".
 */
export function completionLogprobs(
  state: ServerState, ids: readonly number[], lps: readonly (TokenLogprobs | null)[], offset: number, asIds = false,
): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  const name = (id: number) => (asIds ? tokenIdPlaceholder(id) : state.tokenString(id));
  ids.forEach((id, i) => {
    const token = name(id);
    const lp = lps[i] ?? null;
    out.tokens.push(token);
    out.text_offset.push(offset);
    // Offsets point into the choice's text, whatever the tokens are shown as.
    offset += state.tokenString(id).length;
    out.token_logprobs.push(lp === null ? null : clamp(lp.logprob));
    if (lp === null) { out.top_logprobs.push(null); return; }
    // The sampled token is always listed, as vLLM lists it, besides the top alternatives.
    const top: Record<string, number> = Object.create(null);
    top[token] = clamp(lp.logprob);
    for (const [tid, p] of lp.top) top[name(tid)] ??= clamp(p);
    out.top_logprobs.push(top);
  });
  return out;
}
