/**
 * The engine scenarios every backend must pass with a tiny model: batching, preemption, prefix reuse,
 * seeds, n > 1 and abort change nothing. Each backend compares against its own solo runs (bf16 on
 * CUDA rounds differently from f32 on the CPU), so the expected tokens come from the same device.
 */
import { describe, expect, test } from "bun:test";
import type { EngineArgs } from "../../src/config/engine_args";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams, type SamplingParams } from "../../src/engine/sampling_params";
import { Generator } from "../../src/sample/generator";
import { testEngineArgs } from "../support/engine_args";
import { tinyModelDir } from "../support/tiny_models";

type Device = NonNullable<EngineArgs["device"]>;

function greedy(maxTokens: number, extra: Partial<SamplingParams> = {}) {
  return makeSamplingParams({ temperature: 0, maxTokens, ignoreEos: true, ...extra }, { maxLogprobs: 20, maxN: 8, maxStopStrings: 8, vocabSize: 32000 });
}

function workload(n: number) {
  const g = new Generator(7);
  return Array.from({ length: n }, () => {
    const len = 1 + Math.floor(g.random() * 300);
    return { ids: Array.from({ length: len }, () => 3 + Math.floor(g.random() * 31000)), maxTokens: 1 + Math.floor(g.random() * 24) };
  });
}

/** Registers the scenarios under `title` for `device`; with `skip` nothing is created or run. */
export function engineScenarios(title: string, device: Device, skip = false): void {
  const dir = tinyModelDir("mistral");
  const newEngine = (over: Partial<EngineArgs> = {}) => createEngine(testEngineArgs(dir, { device, ...over })).engine;
  const run = (over: Partial<EngineArgs>, prompts: { ids: number[]; maxTokens: number }[]) => {
    const engine = newEngine(over);
    const outs = engine.generate(prompts.map((p) => ({ promptTokenIds: p.ids })), prompts.map((p) => greedy(p.maxTokens)));
    return { engine, tokens: outs.map((o) => o.outputs[0].tokenIds) };
  };

  describe.skipIf(skip)(title, () => {
    const prompts = workload(64);
    const soloEngine = skip ? null! : newEngine({ enablePrefixCaching: false });
    const solo = skip ? [] : prompts.map((p) => soloEngine.generate([{ promptTokenIds: p.ids }], greedy(p.maxTokens))[0].outputs[0].tokenIds);

    test("64 concurrent requests give exactly their solo greedy output", () => {
      const { engine, tokens } = run({ maxNumBatchedTokens: 512, maxNumSeqs: 64 }, prompts);
      expect(tokens).toEqual(solo);
      expect(engine.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(engine.engineCore.scheduler.kv.pool.numBlocks);
    });

    test("with a KV pool that forces preemption, all 64 still finish with the same output", () => {
      const { engine, tokens } = run({ numGpuBlocksOverride: 40, maxNumBatchedTokens: 256 }, prompts);
      expect(engine.engineCore.scheduler.kv.pool.numBlocks).toBe(40);
      expect(engine.engineCore.scheduler.numPreemptions).toBeGreaterThan(0);
      expect(tokens).toEqual(solo);
      expect(engine.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(engine.engineCore.scheduler.kv.pool.numBlocks);
    });

    test("a request sharing a 3-block prefix with a finished one reuses the blocks and gives the same output", () => {
      const engine = newEngine();
      const prefix = prompts[0].ids.concat(prompts[1].ids).slice(0, 48);
      engine.generate([{ promptTokenIds: prefix.concat([11, 12]) }], greedy(4));
      const hitsBefore = engine.engineCore.scheduler.kv.prefixCacheHits;
      const second = prefix.concat([13, 14, 15]);
      const out = engine.generate([{ promptTokenIds: second }], greedy(6))[0];
      expect(engine.engineCore.scheduler.kv.prefixCacheHits - hitsBefore).toBeGreaterThanOrEqual(48);
      expect(out.metrics.numCachedTokens).toBe(48);
      expect(out.outputs[0].tokenIds).toEqual(soloEngine.generate([{ promptTokenIds: second }], greedy(6))[0].outputs[0].tokenIds);
    });

    test("a seeded sampled request gives the same text alone and inside a batch", () => {
      const sampled = greedy(12, { temperature: 1, topP: 0.95, topK: 50, seed: 1234 });
      const alone = soloEngine.generate([{ promptTokenIds: prompts[3].ids }], sampled)[0].outputs[0].tokenIds;
      const engine = newEngine();
      const batch = engine.generate(prompts.slice(0, 8).map((p) => ({ promptTokenIds: p.ids })),
        prompts.slice(0, 8).map((p, i) => (i === 3 ? sampled : makeSamplingParams({ temperature: 1, maxTokens: p.maxTokens, ignoreEos: true }))));
      expect(batch[3].outputs[0].tokenIds).toEqual(alone);
    });

    test("n = 2 samples share the prompt and both finish", () => {
      const engine = newEngine();
      const prompt = prompts.find((p) => p.ids.length >= 48)!.ids;
      const out = engine.generate([{ promptTokenIds: prompt }], greedy(5, { n: 2, temperature: 1, seed: 3 }))[0];
      expect(out.outputs.length).toBe(2);
      // The second sample reuses every full block of the prompt that the first one computed.
      expect(engine.engineCore.scheduler.kv.prefixCacheHits).toBe(Math.floor((prompt.length - 1) / 16) * 16);
      expect(out.outputs.every((o) => o.tokenIds.length === 5 && o.finishReason === "length")).toBe(true);
    });

    test("abort frees a running request's blocks at once", () => {
      const engine = newEngine();
      engine.addRequest("a", { promptTokenIds: prompts[2].ids }, greedy(50));
      engine.step();
      engine.step();
      expect(engine.engineCore.scheduler.kv.numRequests).toBe(1);
      const [out] = engine.abortRequest(["a"]);
      expect(out.outputs[0].finishReason).toBe("abort");
      expect(engine.hasUnfinishedRequests()).toBe(false);
      expect(engine.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(engine.engineCore.scheduler.kv.pool.numBlocks);
    });
  });
}
