/** Token-level and string-level stop conditions, applied after each sampled token. */
import type { Request } from "./request";
import { RequestStatus } from "./request";

/** Checks eos, stop_token_ids, max_tokens and max_model_len; sets the request's final status when one hits. */
export function checkStopTokens(req: Request, maxModelLen: number): boolean {
  const p = req.samplingParams, n = req.outputTokenIds.length, last = req.outputTokenIds[n - 1];
  if (n >= p.minTokens) {
    if (!p.ignoreEos && req.eosTokenIds.includes(last)) return finish(req, RequestStatus.FINISHED_STOPPED, null);
    if (p.stopTokenIds.includes(last)) return finish(req, RequestStatus.FINISHED_STOPPED, last);
  }
  if (n >= p.maxTokens || req.numTokens >= maxModelLen) return finish(req, RequestStatus.FINISHED_LENGTH, null);
  return false;
}

/**
 * Looks for a stop string that the newest `newChars` characters complete. Returns the length the text is cut
 * to, or -1 when none matched.
 */
export function findStopString(text: string, newChars: number, stop: readonly string[], includeStop: boolean): { cut: number; stop: string } | null {
  for (const s of stop) {
    const from = Math.max(0, text.length - newChars - s.length + 1);
    const i = text.indexOf(s, from);
    if (i >= 0) return { cut: includeStop ? i + s.length : i, stop: s };
  }
  return null;
}

function finish(req: Request, status: RequestStatus, reason: number | null): boolean {
  req.status = status;
  req.stopReason = reason;
  return true;
}
