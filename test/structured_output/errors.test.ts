/** Bad constraints become StructuredOutputError (HTTP 400) with xgrammar's reason, and the engine keeps serving. */
import { afterAll, describe, expect, test } from "bun:test";
import { makeSamplingParams, SamplingParamsError, type StructuredOutputsParams } from "../../src/engine/sampling_params";
import { LLMEngine } from "../../src/engine/llm_engine";
import { StructuredOutputError } from "../../src/structured_output/errors";
import { StructuredOutputManager } from "../../src/structured_output/structured_output_manager";
import { tinyModelDir } from "../support/tiny_models";
import { closeEngines, constrained, engineFor, generate } from "./harness";

afterAll(closeEngines);

async function rejection(so: StructuredOutputsParams): Promise<StructuredOutputError> {
  const { engine } = engineFor("mistral");
  try {
    await engine.prepareStructuredOutput(makeSamplingParams({ structuredOutputs: so }));
  } catch (e) {
    expect(e).toBeInstanceOf(StructuredOutputError);
    return e as StructuredOutputError;
  }
  throw new Error(`expected ${JSON.stringify(so)} to be rejected`);
}

describe("invalid constraints", () => {
  const cases: [string, StructuredOutputsParams, RegExp][] = [
    ["schema that is not JSON", { json: "{not json" }, /Failed to parse JSON/],
    ["unknown schema type", { json: { type: "sandwich" } }, /Unsupported type "sandwich"/],
    ["minimum above maximum", { json: { type: "integer", minimum: 5, maximum: 1 } }, /minimum greater than maximum/],
    ["unclosed regex group", { regex: "a(b" }, /parenthesis is not closed/],
    ["regex lookbehind", { regex: "(?<=a)b" }, /Lookbehind is not supported/],
    ["EBNF syntax error", { grammar: 'root ::= "a" |' }, /EBNF parser error/],
    ["EBNF undefined rule", { grammar: "root ::= item" }, /Rule "item" is not defined/],
  ];
  for (const [label, so, message] of cases) {
    test(`${label} → 400 with xgrammar's message`, async () => {
      const e = await rejection(so);
      expect(e.status).toBe(400);
      expect(e.message).toMatch(message);
    });
  }

  test("the same bad constraint again fails the same way (remembered, no recompilation)", async () => {
    const t0 = performance.now();
    const e = await rejection({ regex: "a(b" });
    expect(e.message).toMatch(/parenthesis is not closed/);
    expect(performance.now() - t0).toBeLessThan(50);
  });

  test("after the failures the engine still serves constrained requests", async () => {
    const outs = await generate(engineFor("mistral"), [constrained({ regex: "[0-9]{2}" }, 1), constrained({ json: { enum: ["x", "y"] } }, 2)]);
    expect(outs[0].text).toMatch(/^[0-9]{2}$/);
    expect(["x", "y"]).toContain(JSON.parse(outs[1].text));
  });
});

describe("misuse", () => {
  test("two constraints at once is a SamplingParamsError naming structured_outputs", () => {
    try {
      makeSamplingParams({ structuredOutputs: { regex: "a", choice: ["a"] } });
      throw new Error("accepted");
    } catch (e) {
      expect(e).toBeInstanceOf(SamplingParamsError);
      expect((e as SamplingParamsError).param).toBe("structured_outputs");
      expect((e as Error).message).toMatch(/only one constraint.*regex, choice/);
    }
    expect(() => makeSamplingParams({ structuredOutputs: {} })).toThrow(/must set one of/);
    expect(() => makeSamplingParams({ structuredOutputs: { choice: [] } })).toThrow(/non-empty list/);
    expect(() => makeSamplingParams({ structuredOutputs: { regex: 3 as unknown as string } })).toThrow(/regex must be a string/);
  });

  test("addRequest without prepareStructuredOutput throws synchronously and queues nothing", () => {
    const { engine, tokenizer } = engineFor("mistral");
    const params = constrained({ regex: "never-prepared-[0-9]" }, 1);
    expect(() => engine.addRequest("unprepared", { promptTokenIds: tokenizer.encode("x") }, params)).toThrow(StructuredOutputError);
    expect(engine.hasUnfinishedRequests()).toBe(false);
  });

  test("an engine without a manager rejects constrained requests", async () => {
    const { engine } = engineFor("mistral");
    const bare = new LLMEngine(engine.engineCore, engine.tokenizer, engine.eosTokenIds, engine.limits, null);
    await expect(bare.prepareStructuredOutput(constrained({ regex: "a" }, 1))).rejects.toThrow(/not available/);
    await bare.prepareStructuredOutput(makeSamplingParams({})); // unconstrained: a no-op
    expect(() => bare.addRequest("c", { promptTokenIds: [1, 2] }, constrained({ regex: "a" }, 1))).toThrow(/not available/);
  });

});

test("a grammar slower to compile than the time limit is an error, and the next compile works", async () => {
  const { tokenizer } = engineFor("llama3");
  const manager = new StructuredOutputManager({
    modelDir: tinyModelDir("llama3"), tokenizer, vocabSize: 128256, stopTokenIds: [128001, 128009], maxNumSeqs: 4, compileTimeoutMs: 40,
  });
  try {
    // Many long alternatives make the token-mask precomputation take well over 40 ms on a 128k vocabulary.
    const slow = { json: { type: "array", items: { enum: Array.from({ length: 3000 }, (_, i) => `option-number-${i}-${"x".repeat(i % 50)}`) } } };
    await expect(manager.prepare(slow)).rejects.toThrow(/took longer than 40 ms/);
    await manager.prepare({ regex: "[ab]" });
    expect(manager.numCachedGrammars).toBe(1);
  } finally {
    manager.close();
  }
});
