/** Regex, choice and EBNF constraints, sampled at temperature 1 on tiny random-weight models. */
import { afterAll, describe, expect, test } from "bun:test";
import type { TinyModelName } from "../support/tiny_models";
import { closeEngines, constrained, engineFor, generate, stopped } from "./harness";

afterAll(closeEngines);

const REGEXES = [
  "\\d{3}-\\d{4}",
  "(cat|dog|bird)s?",
  "[A-Z][a-z]{2,6}",
  "[a-z]{2,5}@[a-z]{2,5}\\.(com|org)",
  "(0|[1-9][0-9]{0,2})(\\.[0-9]{1,2})?",
  "#[0-9a-f]{6}",
  "(yes|no)(, (yes|no)){0,2}",
  "[^\\s]{1,4}",
];
const CHOICES = [
  ["red", "green", "blue"],
  ["a", "ab", "abc"], // each a prefix of the next
  ["café", "日本語", "naïve"],
  ["New York", "New Delhi", "Newark"],
  ["{", "}", "\"quoted\"", "back\\slash"],
];

describe.each(["llama3", "qwen3", "mistral"] as TinyModelName[])("on %s", (model) => {
  test("every regex output matches its regex", async () => {
    const jobs = REGEXES.flatMap((regex) => [1, 2, 3].map((seed) => ({ regex, seed })));
    const outs = await generate(engineFor(model), jobs.map(({ regex, seed }) => constrained({ regex }, seed * 31 + regex.length)));
    expect(stopped(outs).length).toBeGreaterThanOrEqual(Math.ceil(0.9 * outs.length));
    outs.forEach((o, i) => {
      if (o.finishReason === "stop") expect(o.text).toMatch(new RegExp(`^(?:${jobs[i].regex})$`, "u"));
    });
  });

  test("every choice output is one of the choices", async () => {
    const jobs = CHOICES.flatMap((choice) => [1, 2, 3, 4].map((seed) => ({ choice, seed })));
    const outs = await generate(engineFor(model), jobs.map(({ choice, seed }, i) => constrained({ choice }, seed + 10 * i)));
    expect(stopped(outs).length).toBe(outs.length);
    outs.forEach((o, i) => expect(jobs[i].choice).toContain(o.text));
  });
});

// A tiny arithmetic language (bounded, so a random model finishes); the hand parser below is the independent check.
const ARITH = `
root ::= expr
expr ::= term (("+" | "-") term){0,2}
term ::= factor (("*" | "/") factor){0,1}
factor ::= number | "(" simple ")"
simple ::= number (("+" | "-") number){0,2}
number ::= [1-9] [0-9]? | "0"
`;

function parsesArith(s: string): boolean {
  let i = 0;
  const number = (): boolean => {
    if (s[i] === "0") return (i++, true);
    if (!/[1-9]/.test(s[i] ?? "")) return false;
    i++;
    if (/[0-9]/.test(s[i] ?? "")) i++;
    return true;
  };
  // operand (op operand){0,max}
  const chain = (operand: () => boolean, ops: string, max: number) => (): boolean => {
    if (!operand()) return false;
    for (let n = 0; n < max && ops.includes(s[i] ?? "\0"); n++) {
      i++;
      if (!operand()) return false;
    }
    return true;
  };
  const simple = chain(number, "+-", 2);
  const factor = (): boolean => {
    if (s[i] !== "(") return number();
    i++;
    if (!simple() || s[i] !== ")") return false;
    i++;
    return true;
  };
  const expr = chain(chain(factor, "*/", 1), "+-", 2);
  return expr() && i === s.length;
}

const KEY_VALUES = `
root ::= pair ("; " pair){0,3}
pair ::= key "=" value
key ::= [a-z] [a-z]?
value ::= "true" | "false" | [0-9] | "\\"" [A-Z]{1,3} "\\""
`;

describe("EBNF grammars", () => {
  test("arithmetic outputs parse with an independent parser and match the grammar", async () => {
    const loaded = engineFor("llama3");
    const params = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => constrained({ grammar: ARITH }, seed, { maxTokens: 60 }));
    const outs = await generate(loaded, params);
    outs.forEach((o, i) => {
      const status = loaded.engine.structuredOutputManager!.matchText(params[i].structuredOutputs!, o.text);
      if (o.finishReason === "stop") {
        expect(parsesArith(o.text)).toBe(true);
        expect(status).toBe("complete");
      } else expect(status).not.toBe("rejected");
    });
    expect(stopped(outs).length).toBeGreaterThanOrEqual(6);
  });

  test("a key=value grammar on a byte-fallback vocabulary", async () => {
    const loaded = engineFor("mistral");
    const params = [1, 2, 3, 4, 5, 6].map((seed) => constrained({ grammar: KEY_VALUES }, seed));
    const outs = await generate(loaded, params);
    expect(stopped(outs).length).toBe(outs.length);
    const pair = '[a-z]{1,2}=(true|false|[0-9]|"[A-Z]{1,3}")';
    for (const o of outs) expect(o.text).toMatch(new RegExp(`^${pair}(; ${pair}){0,3}$`));
  });

  test("the hand parser rejects what the grammar rejects", () => {
    for (const bad of ["", "1+", "(1", "01", "1**2", "123", "1*2*3", "1+2+3+4", "((1))"]) expect(parsesArith(bad)).toBe(false);
    for (const good of ["0", "(1+2)*3", "99/4-0", "(1-2+3)/(4)+5*6-7"]) expect(parsesArith(good)).toBe(true);
  });
});
