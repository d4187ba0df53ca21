/**
 * vLLM's random dataset: prompt and output lengths drawn uniformly around the configured means, prompts
 * built from consecutive allowed token ids (from a random offset), decoded to text and re-encoded until
 * the text tokenizes to the drawn length.
 */
import type { Generator } from "../../sample/generator";
import type { Tokenizer } from "../../tokenizer/tokenizer";
import { randInt, type SampleRequest } from "./sample_request";

export interface RandomDatasetOptions {
  inputLen: number;
  outputLen: number;
  /** Lengths are drawn from [len·(1−r), len·(1+r)]; r in [0, 1). */
  rangeRatio: number;
  /** A fixed random prefix shared by every prompt (prefix caching studies). */
  prefixLen: number;
}

const MAX_RETRIES = 10;

export function sampleRandom(tok: Tokenizer, g: Generator, num: number, o: RandomDatasetOptions, idPrefix: string): SampleRequest[] {
  if (!(o.rangeRatio >= 0 && o.rangeRatio < 1)) throw new Error(`--random-range-ratio must be in [0, 1), got ${o.rangeRatio}`);
  // The server adds the special tokens (BOS) itself; leave room for them in the drawn length.
  const numSpecial = tok.encode("", { addSpecialTokens: true }).length;
  const realInput = Math.max(0, o.inputLen - numSpecial);
  const inLo = Math.floor(realInput * (1 - o.rangeRatio)), inHi = Math.ceil(realInput * (1 + o.rangeRatio));
  const outLo = Math.max(1, Math.floor(o.outputLen * (1 - o.rangeRatio))), outHi = Math.max(1, Math.ceil(o.outputLen * (1 + o.rangeRatio)));
  if (o.prefixLen + inLo < 1)
    throw new Error(`--random-input-len ${o.inputLen} is too small: after ${numSpecial} special token(s) and --random-range-ratio ${o.rangeRatio}, a prompt could be empty`);
  const allowed = allowedTokens(tok);
  const prefix = Array.from({ length: o.prefixLen }, () => allowed[randInt(g, 0, allowed.length - 1)]);
  const inputLens = Array.from({ length: num }, () => randInt(g, inLo, inHi));
  const outputLens = Array.from({ length: num }, () => randInt(g, outLo, outHi));
  const offsets = Array.from({ length: num }, () => randInt(g, 0, tok.vocabSize - 1));
  return inputLens.map((len, i) => {
    const inner = Array.from({ length: len }, (_, k) => allowed[(offsets[i] + i + k) % allowed.length]);
    const { prompt, ids } = decodeToTargetLen(tok, g, [...prefix, ...inner], o.prefixLen + len, allowed);
    return { prompt, promptLen: ids.length, expectedOutputLen: outputLens[i], requestId: `${idPrefix}${i}` };
  });
}

/** Every id with a vocabulary entry that is not a special token. */
function allowedTokens(tok: Tokenizer): number[] {
  const out: number[] = [];
  for (let id = 0; id < tok.vocabSize; id++) if (!tok.allSpecialIds.has(id) && tok.idToToken(id) !== undefined) out.push(id);
  if (out.length === 0) throw new Error(`the tokenizer at ${tok.source} has no ordinary tokens to build random prompts from`);
  return out;
}

/**
 * Consecutive ids need not decode to text that re-encodes to as many ids; truncate or pad with random
 * allowed ids and try again, a bounded number of times (the rest of the mismatch is left, as vLLM does).
 */
function decodeToTargetLen(tok: Tokenizer, g: Generator, seq: number[], target: number, allowed: number[]): { prompt: string; ids: number[] } {
  for (let tries = 0; ; tries++) {
    const prompt = tok.decode(seq);
    const ids = tok.encode(prompt, { addSpecialTokens: false });
    if (ids.length === target || tries === MAX_RETRIES) return { prompt, ids };
    seq = ids.length > target ? ids.slice(0, target) : [...ids, ...Array.from({ length: target - ids.length }, () => allowed[randInt(g, 0, allowed.length - 1)])];
  }
}
