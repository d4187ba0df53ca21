/** Stop strings are matched on detokenized text, also across token boundaries. */
import { describe, expect, test } from "bun:test";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { tinyModelDir } from "../support/tiny_models";
import { testEngineArgs } from "../support/engine_args";

const { engine, tokenizer } = createEngine(testEngineArgs(tinyModelDir("mistral")));
const prompt = { promptTokenIds: tokenizer.encode("Once upon a time") };
const params = (extra: object) => makeSamplingParams({ temperature: 0, maxTokens: 24, ignoreEos: true, ...extra }, { maxLogprobs: 20, maxN: 1, maxStopStrings: 8, vocabSize: 32000 });

describe("stop strings", () => {
  const free = engine.generate([prompt], params({}))[0].outputs[0];
  // A stop string made of the last character of one token's text and the first of the next one's.
  const base = tokenizer.decode(prompt.promptTokenIds).length;
  const ends = free.tokenIds.map((_, i) => tokenizer.decode([...prompt.promptTokenIds, ...free.tokenIds.slice(0, i + 1)]).length - base);
  const k = ends.findIndex((e, i) => i > 2 && i + 1 < ends.length && e - ends[i - 1] >= 1 && ends[i + 1] - e >= 1 && !/[\uFFFD\s]/.test(free.text.slice(e - 1, e + 1)));
  const spanning = free.text.slice(ends[k] - 1, ends[k] + 1);
  const at = free.text.indexOf(spanning);

  test("the fixture has a stop string spanning two tokens", () => {
    expect(k).toBeGreaterThan(0);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(at).toBeLessThanOrEqual(ends[k] - 1);
  });

  test("text stops before the stop string by default", () => {
    const o = engine.generate([prompt], params({ stop: [spanning] }))[0].outputs[0];
    expect(o.finishReason).toBe("stop");
    expect(o.stopReason).toBe(spanning);
    expect(o.text).toBe(free.text.slice(0, at));
  });

  test("include_stop_str_in_output keeps it", () => {
    const o = engine.generate([prompt], params({ stop: [spanning], includeStopStrInOutput: true }))[0].outputs[0];
    expect(o.finishReason).toBe("stop");
    expect(o.text).toBe(free.text.slice(0, at + spanning.length));
  });

  test("stop_token_ids stop with that id as the reason", () => {
    const target = free.tokenIds[5];
    const o = engine.generate([prompt], params({ stopTokenIds: [target] }))[0].outputs[0];
    expect(o.finishReason).toBe("stop");
    expect(o.stopReason).toBe(target);
    expect(o.tokenIds).toEqual(free.tokenIds.slice(0, free.tokenIds.indexOf(target) + 1));
  });

  test("a stop token's text is left out unless include_stop_str_in_output", () => {
    const at = 5, target = free.tokenIds[at];
    const firstAt = free.tokenIds.indexOf(target);
    const kept = tokenizer.decode([...prompt.promptTokenIds, ...free.tokenIds.slice(0, firstAt + 1)]).length - base;
    const cut = tokenizer.decode([...prompt.promptTokenIds, ...free.tokenIds.slice(0, firstAt)]).length - base;
    const hidden = engine.generate([prompt], params({ stopTokenIds: [target], skipSpecialTokens: false }))[0].outputs[0];
    expect(hidden.text).toBe(free.text.slice(0, cut));
    const shown = engine.generate([prompt], params({ stopTokenIds: [target], includeStopStrInOutput: true }))[0].outputs[0];
    expect(shown.text).toBe(free.text.slice(0, kept));
    expect(kept).toBeGreaterThan(cut);
  });

  test("max_tokens finishes with length", () => {
    expect(free.finishReason).toBe("length");
    expect(free.tokenIds.length).toBe(24);
  });
});
