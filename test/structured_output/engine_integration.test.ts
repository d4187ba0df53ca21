/** How constrained requests live in the engine: batching, n > 1, min_tokens, ignore_eos, abort, preemption, other params. */
import { afterAll, describe, expect, test } from "bun:test";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import type { SchedulerOutput } from "../../src/engine/outputs";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { tinyModelDir } from "../support/tiny_models";
import { testEngineArgs } from "../support/engine_args";
import { closeEngines, constrained, engineFor, generate, stopped } from "./harness";

afterAll(closeEngines);

const POINT = { type: "object", properties: { x: { type: "integer", minimum: 0, maximum: 99 }, y: { type: "boolean" } }, required: ["x", "y"] };
const json = { json: POINT, disableAnyWhitespace: true };

describe("a batch mixing constrained and unconstrained requests", () => {
  test("the unconstrained requests give exactly the output they give alone", async () => {
    const loaded = engineFor("llama3");
    const { engine, tokenizer } = loaded;
    const free = [
      makeSamplingParams({ temperature: 0, maxTokens: 12, ignoreEos: true }),
      makeSamplingParams({ temperature: 1, topK: 40, maxTokens: 12, seed: 9, ignoreEos: true }),
    ];
    const prompt = (i: number) => ({ promptTokenIds: tokenizer.encode(`Story ${i}:`) });
    const alone = free.map((p, i) => engine.generate([prompt(i)], p)[0].outputs[0].tokenIds);
    const mixed = [constrained(json, 1), free[0], constrained({ regex: "[a-z]{3}" }, 2), free[1], constrained(json, 3)];
    await Promise.all(mixed.map((p) => engine.prepareStructuredOutput(p)));
    const outs = engine.generate([prompt(10), prompt(0), prompt(11), prompt(1), prompt(12)], mixed).map((o) => o.outputs[0]);
    expect(outs[1].tokenIds).toEqual(alone[0]);
    expect(outs[3].tokenIds).toEqual(alone[1]);
    for (const i of [0, 4]) expect(() => JSON.parse(outs[i].text)).not.toThrow();
    expect(outs[2].text).toMatch(/^[a-z]{3}$/);
  });

  test("unconstrained requests get no bitmask row, and a batch of only those none at all", async () => {
    const manager = engineFor("llama3").engine.structuredOutputManager!;
    const step = (reqIds: string[]): SchedulerOutput => ({
      newRequests: [], removedReqIds: [], totalNumScheduledTokens: 3 * reqIds.length, numLogitsRows: reqIds.length,
      scheduled: reqIds.map((reqId) => ({ reqId, numNewTokens: 3, numComputedTokens: 0, blockIds: [], samples: true, promptLogprobs: null })),
    });
    expect(manager.activeRequests).toBe(0);
    expect(manager.grammarBitmask(step(["free"]))).toBeNull();
    const params = constrained(json, 1);
    await manager.prepare(params.structuredOutputs!);
    manager.addRequest("bound", params.structuredOutputs!);
    const masks = manager.grammarBitmask(step(["free", "bound"]))!;
    expect([...masks.keys()]).toEqual(["bound"]);
    expect(masks.get("bound")!.some((w) => w !== 0)).toBe(true);
    manager.removeRequest("bound");
    expect(manager.activeRequests).toBe(0);
  });
});

test("n = 3 samples each follow the grammar with their own matcher", async () => {
  const loaded = engineFor("mistral");
  const params = constrained(json, 5, { n: 3 });
  await loaded.engine.prepareStructuredOutput(params);
  const out = loaded.engine.generate([{ promptTokenIds: loaded.tokenizer.encode("Point:") }], params)[0];
  expect(out.outputs.length).toBe(3);
  for (const o of out.outputs) {
    expect(o.finishReason).toBe("stop");
    expect(Object.keys(JSON.parse(o.text))).toEqual(["x", "y"]);
  }
  expect(loaded.engine.structuredOutputManager!.activeRequests).toBe(0);
});

test("ignore_eos: the request still finishes with stop when the grammar terminates", async () => {
  const outs = await generate(engineFor("llama3"), [1, 2, 3].map((seed) => constrained({ choice: ["alpha", "beta"] }, seed, { ignoreEos: true, maxTokens: 50 })));
  for (const o of outs) {
    expect(o.finishReason).toBe("stop");
    expect(["alpha", "beta"]).toContain(o.text);
  }
});

test("min_tokens longer than the grammar's output: the grammar wins and the output stays valid", async () => {
  const outs = await generate(engineFor("mistral"), [1, 2].map((seed) => constrained({ choice: ["yes", "no"] }, seed, { minTokens: 8, maxTokens: 20 })));
  for (const o of outs) {
    expect(o.finishReason).toBe("stop");
    expect(["yes", "no"]).toContain(o.text);
  }
});

test("logit_bias and greedy decoding still apply among the tokens the grammar allows", async () => {
  const { tokenizer } = engineFor("llama3");
  const choice = ["red", "green", "blue"];
  // Every single token that starts "red" or "green" is banned, so only "blue" can still be spelled.
  const starts = ["red", "green"].flatMap((c) => [...c].map((_, i) => c.slice(0, i + 1)));
  const ids = starts.map((p) => tokenizer.encode(p, { addSpecialTokens: false })).filter((t) => t.length === 1).map(([id]) => id);
  expect(ids.length).toBeGreaterThanOrEqual(4);
  const ban = new Map(ids.map((id) => [id, -100]));
  const biased = await generate(engineFor("llama3"), [1, 2, 3, 4].map((seed) => constrained({ choice }, seed, { logitBias: ban })));
  for (const o of biased) expect(o.text).toBe("blue");
  const greedy = await generate(engineFor("llama3"), [constrained(json, 1, { temperature: 0 }), constrained(json, 2, { temperature: 0 })]);
  const topK1 = await generate(engineFor("llama3"), [constrained(json, 3, { topK: 1 }), constrained(json, 4, { topK: 1 })]);
  expect(topK1.map((o) => o.text)).toEqual(greedy.map((o) => o.text));
});

test("abort frees the request's matcher and blocks", async () => {
  const { engine, tokenizer } = engineFor("llama3");
  const params = constrained({ regex: "[a-z]{40,60}" }, 1, { maxTokens: 100 });
  await engine.prepareStructuredOutput(params);
  engine.addRequest("doomed", { promptTokenIds: tokenizer.encode("Letters:") }, params);
  engine.step();
  engine.step();
  expect(engine.structuredOutputManager!.activeRequests).toBe(1);
  const [out] = engine.abortRequest(["doomed"]);
  expect(out.outputs[0].finishReason).toBe("abort");
  expect(engine.structuredOutputManager!.activeRequests).toBe(0);
  expect(engine.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(engine.engineCore.scheduler.kv.pool.numBlocks);
});

test("preempted and recomputed constrained requests keep valid outputs", async () => {
  const bytesPerBlock = 2 * 2 * 16 * 1 * 16 * 4; // mistral tiny: K and V × layers × block × kv heads × head_dim × f32
  const loaded = createEngine(testEngineArgs(tinyModelDir("mistral"), { kvCacheMemory: 40 * bytesPerBlock, maxNumBatchedTokens: 256 }));
  try {
    const longPrompt = Array.from({ length: 150 }, (_, i) => 100 + i);
    const params = Array.from({ length: 8 }, (_, i) => constrained({ json: { type: "array", items: POINT, minItems: 3, maxItems: 3 }, disableAnyWhitespace: true }, i, { maxTokens: 120 }));
    await Promise.all(params.map((p) => loaded.engine.prepareStructuredOutput(p)));
    const outs = loaded.engine.generate(params.map(() => ({ promptTokenIds: longPrompt })), params).map((o) => o.outputs[0]);
    expect(loaded.engine.engineCore.scheduler.numPreemptions).toBeGreaterThan(0);
    expect(stopped(outs).length).toBe(outs.length);
    for (const o of outs) expect(JSON.parse(o.text).length).toBe(3);
  } finally {
    loaded.engine.structuredOutputManager!.close();
  }
});
