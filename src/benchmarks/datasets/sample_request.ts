/** One benchmark request as every dataset produces it (vLLM's `SampleRequest`). */
import type { Generator } from "../../sample/generator";

export interface SampleRequest {
  prompt: string;
  /** Prompt tokens as the dataset counted them; a server's usage report replaces it when there is one. */
  promptLen: number;
  expectedOutputLen: number;
  requestId: string;
}

/** Uniform integer in [lo, hi]. */
export function randInt(g: Generator, lo: number, hi: number): number {
  return lo + Math.floor(g.random() * (hi - lo + 1));
}

/** Fisher–Yates in place. */
export function shuffle<T>(g: Generator, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(g.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/**
 * Fills up to `num` requests by repeating randomly chosen ones, as vLLM does when a dataset file holds
 * fewer usable entries than --num-prompts (unless --no-oversample).
 */
export function oversample(g: Generator, reqs: SampleRequest[], num: number, prefix: string, noOversample: boolean): SampleRequest[] {
  if (noOversample || reqs.length >= num || reqs.length === 0) return reqs;
  const out = [...reqs];
  while (out.length < num) out.push({ ...reqs[Math.floor(g.random() * reqs.length)], requestId: `${prefix}${out.length}` });
  return out;
}
