/**
 * LLMEngine with overlapOutputProcessing (step N+1 launched before step N's outputs are detokenized, the
 * CUDA default) against the plain engine on the CPU backend: the same tokens, texts and finish reasons for
 * batches, preemption, stop strings found one step late, and aborts while a step is in flight; every KV
 * block back in the pool afterwards.
 */
import { describe, expect, test } from "bun:test";
import type { EngineArgs } from "../../src/config/engine_args";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import type { LLMEngine } from "../../src/engine/llm_engine";
import { makeSamplingParams, type SamplingParams } from "../../src/engine/sampling_params";
import { Generator } from "../../src/sample/generator";
import { testEngineArgs } from "../support/engine_args";
import { tinyModelDir } from "../support/tiny_models";

const LIMITS = { maxLogprobs: 20, maxN: 8, maxStopStrings: 8, vocabSize: 32000 };
const params = (maxTokens: number, extra: Partial<SamplingParams> = {}) =>
  makeSamplingParams({ temperature: 0, maxTokens, ignoreEos: true, ...extra }, LIMITS);

const dir = tinyModelDir("mistral");
const engineWith = (overlap: boolean, over: Partial<EngineArgs> = {}) =>
  createEngine(testEngineArgs(dir, { overlapOutputProcessing: overlap, ...over })).engine;
const allFree = (e: LLMEngine) => expect(e.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(e.engineCore.scheduler.kv.pool.numBlocks);

const g = new Generator(11);
const prompts = Array.from({ length: 48 }, () => ({
  promptTokenIds: Array.from({ length: 1 + Math.floor(g.random() * 200) }, () => 3 + Math.floor(g.random() * 31000)),
  maxTokens: 1 + Math.floor(g.random() * 20),
}));

describe("LLMEngine: output processing overlapped with the next step", () => {
  test("48 concurrent requests, with and without preemption, give the plain engine's tokens", () => {
    for (const over of [{ maxNumSeqs: 48, maxNumBatchedTokens: 512 }, { numGpuBlocksOverride: 36, maxNumBatchedTokens: 256 }]) {
      const run = (overlap: boolean) => {
        const e = engineWith(overlap, over);
        const outs = e.generate(prompts.map((p) => ({ promptTokenIds: p.promptTokenIds })), prompts.map((p) => params(p.maxTokens)));
        allFree(e);
        return { tokens: outs.map((o) => o.outputs[0].tokenIds), preemptions: e.engineCore.scheduler.numPreemptions };
      };
      const plain = run(false), overlapped = run(true);
      expect(overlapped.tokens).toEqual(plain.tokens);
      if (over.numGpuBlocksOverride) expect(overlapped.preemptions).toBeGreaterThan(0);
    }
  }, 120_000);

  test("stop strings end requests with the same text and reason, though found a step late", () => {
    const plain = engineWith(false);
    const base = plain.generate(prompts.slice(0, 12).map((p) => ({ promptTokenIds: p.promptTokenIds })), params(24));
    // A stop string from the middle of each request's text (or none where the text is too short).
    const stops = base.map((o) => {
      const t = o.outputs[0].text;
      return t.length >= 8 ? [t.slice(Math.floor(t.length / 2), Math.floor(t.length / 2) + 3)] : [];
    });
    const ps = stops.map((stop) => params(24, { stop }));
    const want = plain.generate(prompts.slice(0, 12).map((p) => ({ promptTokenIds: p.promptTokenIds })), ps);
    const e = engineWith(true);
    const got = e.generate(prompts.slice(0, 12).map((p) => ({ promptTokenIds: p.promptTokenIds })), ps);
    expect(stops.filter((s) => s.length > 0).length).toBeGreaterThan(6);
    got.forEach((o, i) => {
      expect(o.outputs[0].text).toBe(want[i].outputs[0].text);
      expect(o.outputs[0].finishReason).toBe(want[i].outputs[0].finishReason);
      expect(o.outputs[0].tokenIds).toEqual(want[i].outputs[0].tokenIds);
    });
    allFree(e);
    // The engine keeps working after requests were stopped with a step in flight.
    const again = e.generate([{ promptTokenIds: prompts[0].promptTokenIds }], params(5));
    expect(again[0].outputs[0].tokenIds).toEqual(plain.generate([{ promptTokenIds: prompts[0].promptTokenIds }], params(5))[0].outputs[0].tokenIds);
    allFree(e);
  }, 120_000);

  test("an abort while a step is in flight frees the request; the others finish unchanged", () => {
    const plain = engineWith(false);
    const want = prompts.slice(0, 8).map((p) => plain.generate([{ promptTokenIds: p.promptTokenIds }], params(16))[0].outputs[0].tokenIds);
    const e = engineWith(true);
    prompts.slice(0, 8).forEach((p, i) => e.addRequest(`r${i}`, { promptTokenIds: p.promptTokenIds }, params(16)));
    const tokens = new Map<string, number[]>();
    let steps = 0;
    while (e.hasUnfinishedRequests()) {
      for (const o of e.step()) tokens.set(o.requestId, o.outputs[0].tokenIds); // cumulative
      if (++steps === 4) {
        const [aborted] = e.abortRequest(["r5"]);
        expect(aborted.finished).toBe(true);
        expect(aborted.outputs[0].finishReason).toBe("abort");
      }
    }
    for (let i = 0; i < 8; i++) if (i !== 5) expect(tokens.get(`r${i}`)).toEqual(want[i]);
    allFree(e);
  }, 120_000);
});
