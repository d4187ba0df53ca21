/**
 * The composition root refuses what would break the engine later: a config.json whose vocab_size is smaller
 * than the tokenizer (the first text prompt would index past the embedding table: a segfault before), and
 * the engine refuses prompt ids outside the vocabulary at admission.
 */
import { describe, expect, test } from "bun:test";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams, SamplingParamsError } from "../../src/engine/sampling_params";
import { testEngineArgs } from "../support/engine_args";
import { tinyModelDir } from "../support/tiny_models";

describe("createEngine", () => {
  test("a vocab_size smaller than the tokenizer is a startup error naming both", () => {
    const dir = mkdtempSync(join(tmpdir(), "vocab-"));
    try {
      cpSync(tinyModelDir("mistral"), dir, { recursive: true });
      const cfg = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      writeFileSync(join(dir, "config.json"), JSON.stringify({ ...cfg, vocab_size: 1000 }));
      expect(() => createEngine(testEngineArgs(dir))).toThrow(/tokenizer has 32000 tokens, more than config.json's vocab_size 1000/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("prompt ids outside the vocabulary are refused at admission, and the engine keeps serving", () => {
    const { engine } = createEngine(testEngineArgs(tinyModelDir("mistral")));
    const p = makeSamplingParams({ maxTokens: 2, temperature: 0 });
    for (const bad of [[1, 32000], [-1], [1, 2.5], [2 ** 40]]) {
      expect(() => engine.addRequest(`bad-${bad}`, { promptTokenIds: bad }, p)).toThrow(SamplingParamsError);
    }
    expect(engine.hasUnfinishedRequests()).toBe(false);
    expect(engine.generate([{ promptTokenIds: [1, 31999] }], p)[0].outputs[0].tokenIds.length).toBe(2);
  });
});
