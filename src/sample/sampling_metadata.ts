/**
 * The one description of a step's sampling (vLLM's SamplingMetadata): an entry per logits row that samples a
 * token or scores a forced one (prompt logprobs), with every rule already applied to plain numbers: logits
 * processors as per-token ops, the grammar bitmask, and the uniform draw taken from the request's seeded
 * generator (or the engine's) in row order. The host sampler (sampler.ts) and a kernel library's `sample` op
 * consume the same entries, so the two can never disagree on what a request asked for.
 */
import { MAX_SAMPLE_LOGPROBS, type SamplingBatch } from "../backend/backend";
import type { SamplingParams } from "../engine/sampling_params";
import type { Generator } from "./generator";

/** Below this temperature a row is greedy. */
export const SAMPLING_EPS = 1e-5;

/** A logits processor on one token: x = ((x + add) scaled by repetition) - subtract. */
export type Op = [add: number, repetition: number, subtract: number];

/** What the sampler needs of a request (the runner's own copy of its state). */
export interface SamplingView {
  samplingParams: SamplingParams;
  /** Prompt then output tokens. */
  tokenIds: readonly number[];
  numPromptTokens: number;
  eosTokenIds: readonly number[];
  generator: Generator | null;
}

export interface SamplingEntry {
  row: number;
  temperature: number;
  topP: number;
  minP: number;
  topK: number; // 0: off
  u: number;
  /** >= 0: score this token instead of sampling. */
  forcedToken: number;
  /** -1: none; else this many top logprobs plus the token's own. */
  numLogprobs: number;
  ops: Map<number, Op> | null;
  mask: Int32Array | null;
  /** min_tokens still holds stop tokens back (with a grammar mask, the grammar may need them back). */
  holdsStops: boolean;
}

/** The entry that samples the request's next token from logits row `row`. */
export function sampleEntry(view: SamplingView, row: number, vocab: number, fallback: Generator, mask: Int32Array | null): SamplingEntry {
  const p = view.samplingParams, greedy = p.temperature < SAMPLING_EPS;
  return {
    row, temperature: p.temperature, topP: p.topP, minP: p.minP, topK: p.topK > 0 && p.topK < vocab ? p.topK : 0,
    u: greedy ? 0 : (view.generator ?? fallback).random(), forcedToken: -1, numLogprobs: p.logprobs ?? -1,
    ops: processorOps(view, vocab), mask, holdsStops: numOutputTokens(view) < p.minTokens,
  };
}

/** The entry that scores prompt token `forcedToken` from logits row `row` with `k` top logprobs. */
export function promptEntry(row: number, forcedToken: number, k: number): SamplingEntry {
  return { row, temperature: 0, topP: 1, minP: 0, topK: 0, u: 0, forcedToken, numLogprobs: k, ops: null, mask: null, holdsStops: false };
}

/** The device op covers up to MAX_SAMPLE_LOGPROBS logprobs and no grammar-versus-min_tokens arbitration. */
export function deviceCanSample(e: SamplingEntry): boolean {
  return e.numLogprobs <= MAX_SAMPLE_LOGPROBS && !(e.mask !== null && e.holdsStops);
}

function numOutputTokens(view: SamplingView): number {
  return view.tokenIds.length - view.numPromptTokens;
}

/**
 * The request's logits processors as per-token ops, in vLLM's order: logit_bias, min_tokens (-inf),
 * repetition penalty over prompt and output, presence / frequency penalties over the output. Null when none.
 */
export function processorOps(view: SamplingView, vocab: number): Map<number, Op> | null {
  const p = view.samplingParams, masked = numOutputTokens(view) < p.minTokens;
  const banned = bannedWordTokens(view);
  if (!p.logitBias && !masked && banned.length === 0 && p.repetitionPenalty === 1 && p.presencePenalty === 0 && p.frequencyPenalty === 0) return null;
  const ops = new Map<number, Op>();
  const op = (id: number): Op => {
    let o = ops.get(id);
    if (!o) ops.set(id, (o = [0, 1, 0]));
    return o;
  };
  if (p.logitBias) for (const [id, b] of p.logitBias) op(id)[0] = b;
  if (masked) for (const id of p.ignoreEos ? p.stopTokenIds : [...p.stopTokenIds, ...view.eosTokenIds]) op(id)[0] = -Infinity;
  for (const id of banned) op(id)[0] = -Infinity;
  if (p.repetitionPenalty !== 1) for (const id of view.tokenIds) op(id)[1] = p.repetitionPenalty;
  if (p.presencePenalty !== 0 || p.frequencyPenalty !== 0) {
    const counts = new Map<number, number>();
    for (let i = view.numPromptTokens; i < view.tokenIds.length; i++) counts.set(view.tokenIds[i], (counts.get(view.tokenIds[i]) ?? 0) + 1);
    for (const [id, c] of counts) op(id)[2] = p.frequencyPenalty * c + p.presencePenalty;
  }
  for (const id of ops.keys()) if (!(id >= 0 && id < vocab)) ops.delete(id);
  return ops.size > 0 ? ops : null;
}

/**
 * vLLM's bad_words rule: a word's last token is banned when the output so far ends with the word's other
 * tokens (a one-token word is always banned). Only generated tokens count, not the prompt.
 */
export function bannedWordTokens(view: SamplingView): number[] {
  const words = view.samplingParams.badWordsTokenIds;
  if (words.length === 0) return [];
  const out: number[] = [], start = view.numPromptTokens, n = view.tokenIds.length - start;
  for (const w of words) {
    const prefix = w.length - 1;
    if (prefix > n) continue;
    let match = true;
    for (let j = 0; j < prefix && match; j++) match = view.tokenIds[start + n - prefix + j] === w[j];
    if (match) out.push(w[prefix]);
  }
  return out;
}

/** Packs entries for Backend.sample (vk_sample). Bitmasks of one batch share a width (one tokenizer). */
export function packSamplingBatch(entries: readonly SamplingEntry[]): SamplingBatch {
  // One pass over the entries into preallocated arrays: this runs every step for every sequence.
  const n = entries.length;
  const rows = new Int32Array(n), topK = new Int32Array(n), forcedToken = new Int32Array(n), numLogprobs = new Int32Array(n);
  const temperature = new Float64Array(n), topP = new Float64Array(n), minP = new Float64Array(n), u = new Float64Array(n);
  const bitmaskRow = new Int32Array(n), opStarts = new Int32Array(n + 1), opTokens: number[] = [], opParams: number[] = [];
  const masks: Int32Array[] = [];
  for (let r = 0; r < n; r++) {
    const e = entries[r];
    rows[r] = e.row, temperature[r] = e.temperature, topP[r] = e.topP, minP[r] = e.minP, topK[r] = e.topK;
    u[r] = e.u, forcedToken[r] = e.forcedToken, numLogprobs[r] = e.numLogprobs;
    bitmaskRow[r] = e.mask ? masks.push(e.mask) - 1 : -1;
    if (e.ops) for (const [id, o] of e.ops) opTokens.push(id), opParams.push(o[0], o[1], o[2]);
    opStarts[r + 1] = opTokens.length;
  }
  const words = masks.length > 0 ? masks[0].length : 0;
  if (masks.some((m) => m.length !== words)) throw new Error("packSamplingBatch: grammar bitmasks of different widths");
  const bitmasks = masks.length > 0 ? new Int32Array(masks.length * words) : null;
  masks.forEach((m, i) => bitmasks!.set(m, i * words));
  return {
    rows, temperature, topP, minP, topK, u, forcedToken, numLogprobs,
    opStarts, opTokens: Int32Array.from(opTokens), opParams: Float64Array.from(opParams), bitmasks, bitmaskWords: words, bitmaskRow,
  };
}
