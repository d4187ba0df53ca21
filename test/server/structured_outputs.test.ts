/**
 * Structured outputs through the real server: response_format, structured_outputs and the older guided_*
 * fields on both generation endpoints. The tiny model's random weights produce noise, so every valid output
 * is the grammar's doing. Bad constraints are 400s that leave the server healthy.
 */
import { afterAll, describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import type { StructuredOutputsParams } from "../../src/engine/sampling_params";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

const s = startTestServer({ model: "llama3" });
afterAll(async () => {
  await s.close();
  s.state.llm.engine.structuredOutputManager?.close();
});
const ajv = new Ajv2020({ strict: false, allErrors: true });
// vLLM's extras ride along the SDK's typed parameters.
const extra = (o: Record<string, unknown>) => o as {};
const messages = [{ role: "user" as const, content: "Describe a city." }];
// Compact JSON: with any whitespace allowed, random weights mostly pick whitespace until max_tokens.
const COMPACT = { structured_outputs: { disable_any_whitespace: true } };

const CITY = {
  type: "object",
  properties: {
    name: { type: "string", enum: ["Paris", "Rome", "Oslo"] },
    population: { type: "integer", minimum: 0, maximum: 99999 },
    coastal: { type: "boolean" },
    districts: { type: "array", items: { type: "string", pattern: "^[a-z]{1,6}$" }, minItems: 1, maxItems: 3 },
    mayor: { type: "object", properties: { age: { type: "integer", minimum: 18, maximum: 99 } }, required: ["age"] },
  },
  required: ["name", "population", "coastal", "districts", "mayor"],
};

const chat = (body: Record<string, unknown>) => post(`${s.url}/v1/chat/completions`, { model: MODEL_NAME, messages, max_tokens: 80, ...body });
const completion = (body: Record<string, unknown>) => post(`${s.url}/v1/completions`, { model: MODEL_NAME, prompt: "Output:", max_tokens: 80, ...body });

/** How `text` stands against the grammar of `so`: "complete", "prefix" (can still be completed) or "rejected". */
async function grammarMatch(so: StructuredOutputsParams, text: string): Promise<string> {
  const manager = s.state.llm.engine.structuredOutputManager!;
  await manager.prepare(so);
  return manager.matchText(so, text);
}

describe("response_format", () => {
  test("json_schema: every sample (temperature 1, n = 4) parses and validates", async () => {
    const r = await s.client.chat.completions.create({
      model: MODEL_NAME, messages, max_tokens: 120, temperature: 1, n: 4, seed: 3,
      response_format: { type: "json_schema", json_schema: { name: "city", schema: CITY, strict: true } }, ...extra(COMPACT),
    });
    const validate = ajv.compile(CITY);
    for (const c of r.choices) {
      expect(c.finish_reason).toBe("stop");
      const value = JSON.parse(c.message.content!);
      expect(validate(value)).toBe(true);
    }
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBeGreaterThan(1);
  });

  test("json_object: a finished output always parses to an object", async () => {
    // Closing tokens get a push so most samples finish inside max_tokens.
    const closers = ['"', "}", "]", '"}', "}}", '"]', "]}"].map((t) => s.state.tokenizer.encode(t, { addSpecialTokens: false }));
    const logit_bias = Object.fromEntries(closers.filter((ids) => ids.length === 1).map(([id]) => [String(id), 40]));
    const r = await chat({ response_format: { type: "json_object" }, temperature: 1, n: 8, seed: 5, max_tokens: 200, logit_bias });
    expect(r.status).toBe(200);
    const finished = r.json.choices.filter((c: any) => c.finish_reason === "stop");
    expect(finished.length).toBeGreaterThanOrEqual(3);
    for (const c of finished) expect(typeof JSON.parse(c.message.content)).toBe("object");
    // Cut off by max_tokens: still a prefix the grammar can complete.
    for (const c of r.json.choices) if (c.finish_reason !== "stop") expect(await grammarMatch({ jsonObject: true }, c.message.content)).toBe("prefix");
  });

  test("text is unconstrained; a json_schema without its schema or an unknown type is a 400", async () => {
    expect((await chat({ response_format: { type: "text" }, max_tokens: 4 })).status).toBe(200);
    const noSchema = await chat({ response_format: { type: "json_schema", json_schema: { name: "x" } } });
    expect([noSchema.status, noSchema.json.error.param]).toEqual([400, "response_format.json_schema"]);
    const unknown = await chat({ response_format: { type: "yaml" } });
    expect([unknown.status, unknown.json.error.param]).toEqual([400, "response_format.type"]);
  });
});

describe("structured_outputs and guided_*", () => {
  const REGEX = "[a-z]{2,5}-[0-9]{3}( [A-Z]{2})?";
  const CHOICES = ["yes", "no", "maybe later"];
  const GRAMMAR = 'root ::= "(" num ("+" num)? ")"\nnum ::= [1-9] [0-9]?';

  test("regex, choice and grammar on chat, each over several seeds", async () => {
    for (const seed of [1, 2, 3]) {
      const [re, ch, gr] = await Promise.all([
        chat({ structured_outputs: { regex: REGEX }, temperature: 1, seed }),
        chat({ structured_outputs: { choice: CHOICES }, temperature: 1, seed }),
        chat({ structured_outputs: { grammar: GRAMMAR }, temperature: 1, seed }),
      ]);
      expect(re.json.choices[0].message.content).toMatch(new RegExp(`^(${REGEX})$`));
      expect(CHOICES).toContain(ch.json.choices[0].message.content);
      const text = gr.json.choices[0].message.content;
      expect(text).toMatch(/^\([1-9][0-9]?(\+[1-9][0-9]?)?\)$/);
      expect(await grammarMatch({ grammar: GRAMMAR }, text)).toBe("complete");
      for (const r of [re, ch, gr]) expect(r.json.choices[0].finish_reason).toBe("stop");
    }
  });

  test("structured_outputs.json on completions, for every prompt of a batch", async () => {
    const r = await completion({ prompt: ["A:", "B:", "C:"], structured_outputs: { json: CITY, disable_any_whitespace: true }, temperature: 1, seed: 9, max_tokens: 120 });
    expect(r.status).toBe(200);
    const validate = ajv.compile(CITY);
    expect(r.json.choices.length).toBe(3);
    for (const c of r.json.choices) {
      expect(c.finish_reason).toBe("stop");
      expect(validate(JSON.parse(c.text))).toBe(true);
    }
  });

  test("the older guided_json, guided_regex, guided_choice and guided_grammar are honoured", async () => {
    const [json, re, ch, gr] = await Promise.all([
      completion({ guided_json: JSON.stringify(CITY), structured_outputs: { disable_any_whitespace: true }, max_tokens: 120, seed: 4 }),
      completion({ guided_regex: REGEX, seed: 4 }),
      chat({ guided_choice: CHOICES, seed: 4 }),
      chat({ guided_grammar: GRAMMAR, seed: 4 }),
    ]);
    expect(ajv.compile(CITY)(JSON.parse(json.json.choices[0].text))).toBe(true);
    expect(re.json.choices[0].text).toMatch(new RegExp(`^(${REGEX})$`));
    expect(CHOICES).toContain(ch.json.choices[0].message.content);
    expect(await grammarMatch({ grammar: GRAMMAR }, gr.json.choices[0].message.content)).toBe("complete");
  });

  test("streaming sends the same constrained text as the non-streamed request", async () => {
    const body = { structured_outputs: { regex: REGEX }, temperature: 1, seed: 21 };
    const full = await chat(body);
    const streamed = await chat({ ...body, stream: true });
    const events = parseSse(streamed.text);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1) as any[];
    expect(chunks.map((c) => c.choices[0].delta.content ?? "").join("")).toBe(full.json.choices[0].message.content);
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
    const text = parseSse((await completion({ ...body, stream: true })).text).slice(0, -1).map((c: any) => c.choices[0].text).join("");
    expect(text).toMatch(new RegExp(`^(${REGEX})$`));
  });
});

describe("bad constraints", () => {
  const expect400 = (r: Awaited<ReturnType<typeof chat>>, param: string, message?: RegExp) => {
    expect(r.status).toBe(400);
    expect(r.json.error.type).toBe("BadRequestError");
    expect(r.json.error.code).toBe(400);
    expect(r.json.error.param).toBe(param);
    if (message) expect(r.json.error.message).toMatch(message);
  };

  test("two constraints at once, in any spelling, are a 400", async () => {
    expect400(await chat({ structured_outputs: { regex: "a", choice: ["b"] } }), "structured_outputs.choice", /only one structured output constraint/);
    expect400(await chat({ response_format: { type: "json_object" }, guided_regex: "a" }), "guided_regex");
    expect400(await completion({ structured_outputs: { json: CITY }, guided_choice: ["x"] }), "guided_choice");
    expect400(await completion({ response_format: { type: "json_schema", json_schema: { name: "c", schema: CITY } }, structured_outputs: { grammar: 'root ::= "a"' } }), "response_format");
  });

  test("an invalid schema, a bad regex and a grammar syntax error are 400s with the compiler's message", async () => {
    expect400(await chat({ structured_outputs: { json: { type: "object", properties: { a: { type: "fancy" } } } } }), "structured_outputs.json", /fancy/);
    expect400(await chat({ response_format: { type: "json_schema", json_schema: { name: "n", schema: { type: "integer", minimum: 5, maximum: 1 } } } }), "response_format", /range/);
    expect400(await chat({ guided_json: "{not json" }), "guided_json");
    expect400(await chat({ structured_outputs: { regex: "[a-z" } }), "structured_outputs.regex", /regex/i);
    expect400(await completion({ guided_regex: "(unclosed" }), "guided_regex");
    expect400(await chat({ structured_outputs: { grammar: "root ::= " } }), "structured_outputs.grammar", /EBNF/);
    expect400(await completion({ guided_grammar: 'root ::= undefined_rule "x"' }), "guided_grammar");
    expect400(await chat({ structured_outputs: { choice: [] } }), "structured_outputs.choice");
    expect400(await chat({ structured_outputs: { structural_tag: {} } }), "structured_outputs.structural_tag", /not supported/);
    expect400(await chat({ guided_regex: "a+", guided_whitespace_pattern: " *" }), "guided_whitespace_pattern", /not supported/);

    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const ok = await chat({ structured_outputs: { choice: ["ok"] }, max_tokens: 4 });
    expect(ok.json.choices[0].message.content).toBe("ok");
  });

  test("a bad constraint in a streaming request is a 400 before the stream starts", async () => {
    const r = await chat({ stream: true, guided_regex: "[" });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("guided_regex");
  });
});
