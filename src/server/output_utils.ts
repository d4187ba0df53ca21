/** Helpers both generation endpoints share: gathering engine outputs, usage, prompt logprobs, request logs. */
import type { CompletionOutput, RequestOutput } from "../engine/outputs";
import type { SamplingParams } from "../engine/sampling_params";
import type { ServerState } from "./state";

export interface UsageInfo {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface CollectedOutputs {
  final: RequestOutput;
  /** The last output of each of the n samples, by index. */
  byIndex: CompletionOutput[];
}

/** Runs an engine stream to its end, keeping each sample's last (cumulative) output. */
export async function collectOutputs(stream: AsyncIterable<RequestOutput>): Promise<CollectedOutputs> {
  const byIndex: CompletionOutput[] = [];
  let final: RequestOutput | null = null;
  for await (const out of stream) {
    for (const o of out.outputs) byIndex[o.index] = o;
    final = out;
  }
  if (final === null) throw new Error("the engine stream ended without an output");
  return { final, byIndex: byIndex.filter(Boolean) };
}

export function usage(promptTokens: number, outputs: readonly CompletionOutput[]): UsageInfo {
  const completion = outputs.reduce((sum, o) => sum + o.tokenIds.length, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
}

export interface PromptLogprobJson {
  logprob: number;
  rank: number;
  decoded_token: string;
}

/** vLLM's prompt_logprobs: null for the first token, then {token id: {logprob, rank, decoded_token}} per token. */
export function promptLogprobsJson(state: ServerState, out: RequestOutput): (Record<string, PromptLogprobJson> | null)[] | null {
  if (out.promptLogprobs === null) return null;
  return out.promptLogprobs.map((lp) => {
    if (lp === null) return null;
    const entry: Record<string, PromptLogprobJson> = {};
    entry[lp.tokenId] = { logprob: Math.max(lp.logprob, -9999), rank: lp.rank, decoded_token: state.tokenString(lp.tokenId) };
    lp.top.forEach(([id, p], i) => {
      entry[id] ??= { logprob: Math.max(p, -9999), rank: i + 1, decoded_token: state.tokenString(id) };
    });
    return entry;
  });
}

/** With --enable-log-requests: one line per request with its prompt size and sampling params. */
export function logReceived(state: ServerState, requestId: string, promptTokenIds: readonly number[], params: SamplingParams): void {
  if (!state.config.enableLogRequests) return;
  const { logitBias, ...rest } = params;
  const shown = { ...rest, logitBias: logitBias ? Object.fromEntries(logitBias) : null };
  state.log.info(`Received request: ${promptTokenIds.length} prompt tokens, params: ${JSON.stringify(shown)}`, requestId);
  if (state.log.enabled("debug")) logPrompt(state, requestId, promptTokenIds);
}

// The prompt itself only at debug level (it may be private), cut to --max-log-len characters and token ids.
function logPrompt(state: ServerState, requestId: string, promptTokenIds: readonly number[]): void {
  const max = state.config.maxLogLen ?? null;
  const ids = max === null ? promptTokenIds : promptTokenIds.slice(0, max);
  // Decoding only the first max tokens keeps the line cheap for a long prompt; they hold about max characters or more.
  const text = state.tokenizer.decode(ids);
  const prompt = max === null ? text : text.slice(0, max);
  state.log.debug(`Request prompt: ${JSON.stringify(prompt)}, prompt_token_ids: [${ids.join(", ")}]`, requestId);
}
