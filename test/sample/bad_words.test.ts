/**
 * bad_words through the engine (vLLM's rule): a one-token word is never generated; a longer word's last token is
 * banned only right after the output ends with the word's other tokens. Checked on the CPU library's sample op and
 * on the host sampler (more than 20 logprobs take the host path), with greedy decoding of the tiny Mistral model.
 */
import { describe, expect, test } from "bun:test";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { bannedWordTokens } from "../../src/sample/sampling_metadata";
import { testEngineArgs } from "../support/engine_args";
import { tinyModelDir } from "../support/tiny_models";

const LIMITS = { maxLogprobs: 30, maxN: 1, maxStopStrings: 0, vocabSize: 32000 };
const { engine } = createEngine(testEngineArgs(tinyModelDir("mistral"), { maxLogprobs: 30 }));
const prompt = { promptTokenIds: [1, 415, 5565, 302, 4843, 349] };
const run = (badWordsTokenIds: number[][], logprobs: number | null) =>
  engine.generate([prompt], makeSamplingParams({ temperature: 0, maxTokens: 12, ignoreEos: true, badWordsTokenIds, logprobs }, LIMITS))[0].outputs[0].tokenIds;

describe("bad_words", () => {
  for (const [path, logprobs] of [["the library's sample op", null], ["the host sampler", 25]] as const) {
    test(`on ${path}: a banned token never appears; a two-token word is cut at its second token only`, () => {
      const free = run([], logprobs);
      const one = run([[free[0]]], logprobs);
      expect(one[0]).not.toBe(free[0]);
      expect(one).not.toContain(free[0]);
      // [free[2], free[3]]: the first two steps are as before, then free[3] is banned right after free[2].
      const two = run([[free[2], free[3]]], logprobs);
      expect(two.slice(0, 3)).toEqual(free.slice(0, 3));
      expect(two[3]).not.toBe(free[3]);
      for (let i = 1; i < two.length; i++) expect(two[i - 1] === free[2] && two[i] === free[3]).toBe(false);
    });
  }

  test("the rule: only generated tokens count as the word's prefix", () => {
    const params = makeSamplingParams({ badWordsTokenIds: [[7], [5, 6], [9, 5, 6]] }, LIMITS);
    const view = (tokenIds: number[], numPromptTokens: number) => ({ samplingParams: params, tokenIds, numPromptTokens, eosTokenIds: [], generator: null });
    expect(bannedWordTokens(view([1, 2], 2))).toEqual([7]);
    expect(bannedWordTokens(view([1, 5], 1))).toEqual([7, 6]);
    expect(bannedWordTokens(view([9, 5], 1))).toEqual([7, 6]); // the 9 is the prompt's, so [9, 5, 6] does not apply
    expect(bannedWordTokens(view([0, 9, 5], 1))).toEqual([7, 6, 6]);
  });

  test("bounds: 128 words of up to 64 tokens; empty words, more, longer or out-of-vocabulary ids are refused naming the field", () => {
    const ok = Array.from({ length: 128 }, (_, i) => Array.from({ length: 64 }, (_, j) => (i * 64 + j) % 32000));
    expect(makeSamplingParams({ badWordsTokenIds: ok }, LIMITS).badWordsTokenIds.length).toBe(128);
    for (const bad of [[...ok, [1]], [[]], [Array(65).fill(1)], [[32000]], [[-1]]])
      expect(() => makeSamplingParams({ badWordsTokenIds: bad }, LIMITS)).toThrow(/bad_words/);
  });
});
