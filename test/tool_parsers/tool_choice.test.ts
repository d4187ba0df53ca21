/** tool_choice "required" and a named function, enforced by the grammar on a tiny random model, always give valid calls. */
import { afterAll, describe, expect, test } from "bun:test";
import Ajv2020 from "ajv/dist/2020";
import { namedToolCallParser, requiredToolCallsParser, ToolChoiceError, type ToolDefinition, toolChoiceJsonSchema } from "../../src/tool_parsers/tool_choice";
import { extractToolCalls } from "../../src/tool_parsers/tool_parser";
import { closeEngines, constrained, engineFor, generate, stopped } from "../structured_output/harness";

afterAll(closeEngines);

const TOOLS: ToolDefinition[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: {
        type: "object",
        properties: { city: { enum: ["Paris", "Tokyo", "Lima"] }, unit: { enum: ["c", "f"] }, days: { type: "integer", minimum: 1, maximum: 7 } },
        required: ["city", "days"],
      },
    },
  },
  { type: "function", function: { name: "get_time" } },
  {
    type: "function",
    function: {
      name: "book",
      parameters: { $defs: { seat: { type: "string", pattern: "^[A-F][1-9]$" } }, type: "object", properties: { seats: { type: "array", items: { $ref: "#/$defs/seat" }, minItems: 1, maxItems: 2 } }, required: ["seats"] },
    },
  },
];

const ajv = new Ajv2020({ strict: false });
const paramsOf = (name: string) => TOOLS.find((t) => t.function.name === name)!.function.parameters ?? { type: "object", properties: {} };
// Tool parameters use $defs per tool; validate each against its own schema.
const validArgs = (name: string, args: string) => ajv.validate(paramsOf(name), JSON.parse(args));

describe("toolChoiceJsonSchema", () => {
  test("none and auto need no grammar", () => {
    expect(toolChoiceJsonSchema(TOOLS, "none")).toBeNull();
    expect(toolChoiceJsonSchema(TOOLS, "auto")).toBeNull();
  });

  test("required: an array of calls to declared tools, their $defs hoisted to the root", () => {
    const schema = toolChoiceJsonSchema(TOOLS, "required")!;
    expect(schema.$defs).toEqual({ seat: { type: "string", pattern: "^[A-F][1-9]$" } });
    expect(ajv.validate(schema, [{ name: "get_time", parameters: {} }, { name: "book", parameters: { seats: ["A1"] } }])).toBe(true);
    expect(ajv.validate(schema, [])).toBe(false);
    expect(ajv.validate(schema, [{ name: "unknown", parameters: {} }])).toBe(false);
    expect(ajv.validate(schema, [{ name: "get_weather", parameters: { city: "Rome", days: 1 } }])).toBe(false);
  });

  test("a named function's schema is its parameters; an unknown name or no tools is a 400", () => {
    expect(toolChoiceJsonSchema(TOOLS, { type: "function", function: { name: "get_weather" } })).toBe(TOOLS[0].function.parameters!);
    expect(toolChoiceJsonSchema(TOOLS, { type: "function", function: { name: "get_time" } })).toEqual({ type: "object", properties: {} });
    expect(() => toolChoiceJsonSchema(TOOLS, { type: "function", function: { name: "launch" } })).toThrow(ToolChoiceError);
    expect(() => toolChoiceJsonSchema([], "required")).toThrow(/at least one tool/);
  });
});

describe("on a tiny random model", () => {
  test('tool_choice "required" always gives valid calls to declared tools', async () => {
    // With all tools the model favours one; a single-tool list makes every tool's arguments appear.
    const toolLists = [TOOLS, ...TOOLS.map((t) => [t])];
    const params = toolLists.flatMap((tools, k) => Array.from({ length: 4 }, (_, i) =>
      constrained({ json: toolChoiceJsonSchema(tools, "required")!, disableAnyWhitespace: true }, 40 + 10 * k + i, { maxTokens: 200 })));
    const outs = await generate(engineFor("llama3"), params);
    expect(stopped(outs).length).toBeGreaterThanOrEqual(15);
    const used = new Set<string>();
    for (const o of stopped(outs)) {
      const { content, toolCalls } = extractToolCalls(requiredToolCallsParser, o.text);
      expect(content).toBeNull();
      expect(toolCalls.length).toBeGreaterThan(0);
      for (const c of toolCalls) {
        expect(validArgs(c.name, c.arguments)).toBe(true);
        used.add(c.name);
      }
    }
    expect([...used].sort()).toEqual(["book", "get_time", "get_weather"]);
  });

  test("a named tool_choice always gives a valid call to that function", async () => {
    const schema = toolChoiceJsonSchema(TOOLS, { type: "function", function: { name: "get_weather" } })!;
    const outs = await generate(engineFor("qwen3"), Array.from({ length: 8 }, (_, i) => constrained({ json: schema, disableAnyWhitespace: true }, 90 + i)));
    expect(stopped(outs).length).toBe(outs.length);
    for (const o of outs) {
      const { toolCalls } = extractToolCalls(namedToolCallParser("get_weather"), o.text);
      expect(toolCalls.length).toBe(1);
      expect(validArgs("get_weather", toolCalls[0].arguments)).toBe(true);
    }
  });
});
