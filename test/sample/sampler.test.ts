import { describe, expect, test } from "bun:test";
import { makeSamplingParams, SamplingParamsError, type SamplingParams } from "../../src/engine/sampling_params";
import { Generator } from "../../src/sample/generator";
import { argmax, sampleToken, topK } from "../../src/sample/sampler";
import type { SamplingView } from "../../src/sample/sampling_metadata";

const LIMITS = { maxLogprobs: 20, maxN: 8, maxStopStrings: 4, vocabSize: 8 };
const req = (p: Partial<SamplingParams>, out: number[] = [], prompt = [0]): SamplingView => {
  const samplingParams = makeSamplingParams(p, LIMITS);
  return { samplingParams, tokenIds: [...prompt, ...out], numPromptTokens: prompt.length, eosTokenIds: [7], generator: samplingParams.seed === null ? null : new Generator(samplingParams.seed) };
};
const logits = () => Float32Array.of(1, 3, 2, 0.5, 2.9, -1, 0, 1.5);

describe("SamplingParams validation names the field", () => {
  const cases: [Partial<SamplingParams>, string][] = [
    [{ temperature: -1 }, "temperature"], [{ topP: 0 }, "top_p"], [{ topP: 1.5 }, "top_p"], [{ topK: -2 }, "top_k"],
    [{ minP: 2 }, "min_p"], [{ maxTokens: 0 }, "max_tokens"], [{ minTokens: 20, maxTokens: 5 }, "min_tokens"],
    [{ n: 9 }, "n"], [{ logprobs: 21 }, "logprobs"], [{ promptLogprobs: -1 }, "prompt_logprobs"],
    [{ stop: ["a", "b", "c", "d", "e"] }, "stop"], [{ stopTokenIds: [99] }, "stop_token_ids"],
    [{ logitBias: new Map([[1, 500]]) }, "logit_bias"], [{ repetitionPenalty: 0 }, "repetition_penalty"],
    [{ presencePenalty: 3 }, "presence_penalty"], [{ seed: 1.5 }, "seed"],
  ];
  for (const [p, field] of cases) {
    test(field + " " + JSON.stringify(p, (_, v) => (v instanceof Map ? [...v] : v)), () => {
      try {
        makeSamplingParams(p, LIMITS);
        throw new Error("accepted");
      } catch (e) {
        expect(e).toBeInstanceOf(SamplingParamsError);
        expect((e as SamplingParamsError).param).toBe(field);
      }
    });
  }
});

describe("sampler", () => {
  const g = new Generator(1);
  test("greedy takes the first maximum", () => {
    expect(sampleToken(logits(), req({ temperature: 0 }), g).tokenId).toBe(1);
    expect(argmax([1, 5, 5])).toBe(1);
  });

  test("logit_bias, penalties and min_tokens change the choice", () => {
    expect(sampleToken(logits(), req({ temperature: 0, logitBias: new Map([[2, 5]]) }), g).tokenId).toBe(2);
    expect(sampleToken(logits(), req({ temperature: 0, presencePenalty: 0.5 }, [1]), g).tokenId).toBe(4);
    expect(sampleToken(logits(), req({ temperature: 0, repetitionPenalty: 2 }, [], [1]), g).tokenId).toBe(4);
    const eos = Float32Array.of(0, 0, 0, 0, 0, 0, 0, 9);
    expect(sampleToken(eos, req({ temperature: 0, minTokens: 2, maxTokens: 4 }), g).tokenId).not.toBe(7);
    expect(sampleToken(Float32Array.of(0, 0, 0, 0, 0, 0, 0, 9), req({ temperature: 0, minTokens: 2, maxTokens: 4 }, [1, 2]), g).tokenId).toBe(7);
  });

  test("top_k = 2 only ever samples the two best tokens, and both appear", () => {
    const seen = new Set<number>();
    const r = req({ temperature: 1, topK: 2, seed: 5 });
    for (let i = 0; i < 400; i++) seen.add(sampleToken(logits(), r, g).tokenId);
    expect([...seen].sort()).toEqual([1, 4]);
  });

  test("top_p keeps the smallest nucleus; min_p drops tokens far below the best", () => {
    const r = req({ temperature: 1, topP: 0.5, seed: 6 });
    const seen = new Set<number>();
    for (let i = 0; i < 400; i++) seen.add(sampleToken(logits(), r, g).tokenId);
    expect([...seen].sort()).toEqual([1, 4]);
    const m = req({ temperature: 1, minP: 0.3, seed: 7 });
    const seenM = new Set<number>();
    for (let i = 0; i < 400; i++) seenM.add(sampleToken(logits(), m, g).tokenId);
    expect([...seenM].sort()).toEqual([1, 2, 4]);
  });

  test("a seed fixes the draws", () => {
    const draw = () => { const r = req({ temperature: 1, seed: 42 }); return Array.from({ length: 20 }, () => sampleToken(logits(), r, g).tokenId); };
    expect(draw()).toEqual(draw());
  });

  test("logprobs come from the raw logits with the sampled token's rank", () => {
    const { tokenId, logprobs } = sampleToken(logits(), req({ temperature: 0, logprobs: 3, logitBias: new Map([[2, 5]]) }), g);
    expect(tokenId).toBe(2);
    expect(logprobs!.rank).toBe(3);
    expect(logprobs!.top.map(([id]) => id)).toEqual([1, 4, 2]);
    const sum = [...logits()].reduce((a, x) => a + Math.exp(x), 0);
    expect(logprobs!.logprob).toBeCloseTo(2 - Math.log(sum), 5);
  });

  test("topK breaks ties by lower index", () => {
    expect(topK([1, 3, 3, 2], 3)).toEqual([[1, 3], [2, 3], [3, 2]]);
  });
});
