/**
 * The host sampler: one SamplingEntry (sampling_metadata.ts) and its logits row → a token, in vLLM's order:
 * logprobs from the raw logits, then the logits processors (ops) and the grammar bitmask, then greedy, or
 * temperature → min_p → top_k → top_p → the entry's pre-drawn uniform. The kernel libraries' `sample` op
 * (vk_sample, CPU and CUDA) follows the same rules and does the runner's sampling; this file is the reference
 * its tests compare against, and samples only what the op does not cover.
 */
import type { TokenLogprobs } from "../engine/outputs";
import type { Generator } from "./generator";
import { promptEntry, SAMPLING_EPS, type SamplingEntry, sampleEntry, type SamplingView } from "./sampling_metadata";

export interface SampledToken {
  tokenId: number;
  logprobs: TokenLogprobs | null;
}

/** Samples (or scores the forced token of) one entry from its logits row; `x` is modified. */
export function sampleRow(x: Float32Array, e: SamplingEntry): SampledToken {
  const raw = e.numLogprobs >= 0 ? logSoftmax(x) : null;
  if (e.forcedToken >= 0) return { tokenId: e.forcedToken, logprobs: tokenLogprobs(raw ?? logSoftmax(x), e.forcedToken, Math.max(e.numLogprobs, 0)) };
  const held = e.ops && e.mask && e.holdsStops ? [...e.ops].filter(([, o]) => o[0] === -Infinity).map(([id]) => [id, x[id]] as [number, number]) : null;
  if (e.ops) applyOps(x, e.ops);
  if (e.mask) applyGrammarBitmask(x, e.mask, held);
  const tokenId = e.temperature < SAMPLING_EPS ? argmax(x) : draw(x, e);
  return { tokenId, logprobs: raw ? tokenLogprobs(raw, tokenId, e.numLogprobs) : null };
}

/** One request's next token from a logits row (tests and tools; the runner goes through entries). */
export function sampleToken(logits: Float32Array, view: SamplingView, fallback: Generator, bitmask: Int32Array | null = null): SampledToken {
  return sampleRow(logits, sampleEntry(view, 0, logits.length, fallback, bitmask));
}

/** The logprob record of prompt token `tokenId` under a logits row. */
export function scoreToken(logits: Float32Array, tokenId: number, k: number): TokenLogprobs {
  return sampleRow(logits, promptEntry(0, tokenId, k)).logprobs!;
}

function applyOps(x: Float32Array, ops: ReadonlyMap<number, readonly [number, number, number]>): void {
  for (const [id, [add, rep, sub]] of ops) {
    let v = x[id] + add;
    if (rep !== 1) v = v > 0 ? v / rep : v * rep;
    x[id] = v - sub;
  }
}

/** The logprob of `tokenId` plus the top-k of a log-softmaxed row. */
export function tokenLogprobs(lp: Float32Array, tokenId: number, k: number): TokenLogprobs {
  const v = lp[tokenId];
  let rank = 1;
  for (let i = 0; i < lp.length; i++) if (lp[i] > v || (lp[i] === v && i < tokenId)) rank++;
  return { tokenId, logprob: v, rank, top: topK(lp, k) };
}

// When min_tokens holds back every token the grammar allows (its output is complete and only a stop token
// fits), the grammar wins: those stop tokens get their logits back.
function applyGrammarBitmask(x: Float32Array, bitmask: Int32Array, heldStops: [number, number][] | null): void {
  applyTokenBitmask(x, bitmask);
  if (heldStops === null || x[argmax(x)] !== -Infinity) return;
  for (const [id, v] of heldStops) if (isAllowed(bitmask, id)) x[id] = v;
}

/** Sets the logits of tokens the bitmask disallows to -inf; runs of all-zero words are filled at once. */
export function applyTokenBitmask(x: Float32Array, bitmask: Int32Array): void {
  const words = Math.min(bitmask.length, Math.ceil(x.length / 32));
  for (let w = 0; w < words; w++) {
    const bits = bitmask[w];
    if (bits === -1) continue;
    if (bits === 0) {
      let end = w + 1;
      while (end < words && bitmask[end] === 0) end++;
      x.fill(-Infinity, w * 32, Math.min(end * 32, x.length));
      w = end - 1;
      continue;
    }
    const base = w * 32;
    for (let b = 0; b < 32 && base + b < x.length; b++) if (((bits >>> b) & 1) === 0) x[base + b] = -Infinity;
  }
}

function isAllowed(bitmask: Int32Array, id: number): boolean {
  return ((bitmask[id >>> 5] >>> (id & 31)) & 1) === 1;
}
function draw(x: Float32Array, p: SamplingEntry): number {
  const probs = p.mask ? maskedSoftmax(x, p.temperature) : softmax(x, p.temperature);
  let max = 0;
  for (let i = 0; i < probs.length; i++) if (probs[i] > max) max = probs[i];
  if (p.minP > 0) cutBelow(probs, p.minP * max);
  if (p.topK > 0 && p.topK < probs.length) {
    cutBelow(probs, kthLargest(probs, p.topK));
  }
  if (p.topP < 1) cutBelow(probs, nucleusThreshold(probs, p.topP));
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i];
  let u = p.u * total;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    last = i;
    u -= probs[i];
    if (u < 0) return i;
  }
  return last;
}

/** The largest t such that the tokens with prob ≥ t hold at least `topP` of the mass (bisection, O(V) a step). */
function nucleusThreshold(probs: Float64Array, topP: number): number {
  let total = 0;
  for (let i = 0; i < probs.length; i++) total += probs[i];
  let lo = 0, hi = 1;
  for (let iter = 0; iter < 40; iter++) {
    const mid = (lo + hi) / 2;
    let mass = 0;
    for (let i = 0; i < probs.length; i++) if (probs[i] >= mid) mass += probs[i];
    if (mass >= topP * total) lo = mid; else hi = mid;
  }
  return lo;
}

// A sorted copy: O(V log V) for any k (the insertion top-k is O(V·k), minutes at k = 32k on a 2-core host).
function kthLargest(x: Float64Array, k: number): number {
  const sorted = Float64Array.from(x).sort();
  return sorted[sorted.length - k];
}

function cutBelow(probs: Float64Array, t: number): void {
  for (let i = 0; i < probs.length; i++) if (probs[i] < t) probs[i] = 0;
}

function softmax(x: Float32Array, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.exp((x[i] - max) / temperature);
  return out;
}

// A grammar-masked row is mostly -inf, and Math.exp(-inf) is slow; skipping those entries makes a constrained
// row cheaper than a free one instead of dearer (a free row keeps the branch-free loop).
function maskedSoftmax(x: Float32Array, temperature: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== -Infinity) out[i] = Math.exp((x[i] - max) / temperature);
  return out;
}

export function logSoftmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.exp(x[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] - lse;
  return out;
}

export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** The k largest [index, value] pairs, largest first, lower index first on ties. */
export function topK(x: ArrayLike<number>, k: number): [number, number][] {
  const out: [number, number][] = [];
  if (k <= 0) return out;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (out.length === k && v <= out[k - 1][1]) continue;
    let j = out.length < k ? out.length : k - 1;
    out[j] = [i, v];
    while (j > 0 && out[j - 1][1] < v) { [out[j - 1], out[j]] = [out[j], out[j - 1]]; j--; }
  }
  return out;
}
