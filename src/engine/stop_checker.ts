/** Stop conditions. Each check returns a reason; the scheduler, which owns request status, applies it. */
import type { Request } from "./request";
import { RequestStatus } from "./request";

export interface StopDecision {
  status: RequestStatus.FINISHED_STOPPED | RequestStatus.FINISHED_LENGTH | RequestStatus.FINISHED_ABORTED;
  stopReason: number | string | null;
}

/** eos, stop_token_ids, max_tokens and max_model_len, after the request's newest token. */
export function checkStopTokens(req: Request, maxModelLen: number): StopDecision | null {
  const p = req.samplingParams, n = req.outputTokenIds.length, last = req.outputTokenIds[n - 1];
  if (n >= p.minTokens) {
    if (!p.ignoreEos && req.eosTokenIds.includes(last)) return { status: RequestStatus.FINISHED_STOPPED, stopReason: null };
    if (p.stopTokenIds.includes(last)) return { status: RequestStatus.FINISHED_STOPPED, stopReason: last };
  }
  if (n >= p.maxTokens || req.numTokens >= maxModelLen) return { status: RequestStatus.FINISHED_LENGTH, stopReason: null };
  return null;
}

/** What a grammar said of the newest token: it ended the output, or rejected it (a bug: the mask allowed it). */
export function grammarStop(verdict: "ok" | "terminated" | "rejected"): StopDecision | null {
  if (verdict === "terminated") return { status: RequestStatus.FINISHED_STOPPED, stopReason: null };
  if (verdict === "rejected") return { status: RequestStatus.FINISHED_ABORTED, stopReason: null };
  return null;
}

/**
 * Looks for a stop string that the newest `newChars` characters complete. Returns the length the text is cut
 * to and the string, or null when none matched.
 */
export function findStopString(text: string, newChars: number, stop: readonly string[], includeStop: boolean): { cut: number; stop: string } | null {
  for (const s of stop) {
    const from = Math.max(0, text.length - newChars - s.length + 1);
    const i = text.indexOf(s, from);
    if (i >= 0) return { cut: includeStop ? i + s.length : i, stop: s };
  }
  return null;
}
