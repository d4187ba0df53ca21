/** The pieces without a model: the grammar cache, vocabulary detection, spec normalization, the bitmask kernel. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { applyTokenBitmask } from "../../src/sample/sampler";
import { GrammarCache } from "../../src/structured_output/grammar_cache";
import { grammarKey, grammarSpecFromParams } from "../../src/structured_output/grammar_spec";
import { detectAddPrefixSpace, detectVocabType, tokenizerInfoSpecFromDir } from "../../src/structured_output/tokenizer_info";
import { Generator } from "../../src/sample/generator";
import { Tokenizer } from "../../src/tokenizer/tokenizer";
import { tinyModelDir } from "../support/tiny_models";

describe("GrammarCache", () => {
  const entry = (bytes: number, log: string[], name: string) => ({ estimatedBytes: bytes, dispose: () => log.push(name) });

  test("evicts the least recently used past the entry limit, disposing it", () => {
    const log: string[] = [];
    const cache = new GrammarCache({ maxEntries: 2, maxBytes: 1e9 });
    cache.set("a", entry(1, log, "a"));
    cache.set("b", entry(1, log, "b"));
    cache.get("a");
    cache.set("c", entry(1, log, "c"));
    expect(log).toEqual(["b"]);
    expect([cache.has("a"), cache.has("b"), cache.has("c")]).toEqual([true, false, true]);
  });

  test("evicts past the byte limit but always keeps the newest entry", () => {
    const log: string[] = [];
    const cache = new GrammarCache({ maxEntries: 10, maxBytes: 100 });
    cache.set("a", entry(40, log, "a"));
    cache.set("b", entry(40, log, "b"));
    cache.set("c", entry(40, log, "c"));
    expect(log).toEqual(["a"]);
    expect(cache.totalBytes).toBe(80);
    cache.set("huge", entry(500, log, "huge"));
    expect(log).toEqual(["a", "b", "c"]);
    expect(cache.size).toBe(1);
  });

  test("pinned entries are skipped by eviction", () => {
    const log: string[] = [];
    const cache = new GrammarCache({ maxEntries: 1, maxBytes: 1e9 }, (k) => k === "pinned");
    cache.set("pinned", entry(1, log, "pinned"));
    cache.set("x", entry(1, log, "x"));
    expect(log).toEqual([]);
    cache.set("y", entry(1, log, "y"));
    expect(log).toEqual(["x"]);
    cache.clear();
    expect(log.sort()).toEqual(["pinned", "x", "y"]);
  });
});

describe("TokenizerInfo from tokenizer.json", () => {
  const cases = [["llama3", "byte_level", false], ["qwen3", "byte_level", false], ["mistral", "byte_fallback", true]] as const;
  for (const [model, type, prefix] of cases) {
    test(`${model}: ${type}${prefix ? ", prefix space" : ""}`, () => {
      const json = JSON.parse(readFileSync(join(tinyModelDir(model), "tokenizer.json"), "utf8"));
      expect(detectVocabType(json)).toBe(type);
      expect(detectAddPrefixSpace(json)).toBe(prefix);
    });
  }

  test("raw when the decoder is neither byte-level nor byte-fallback", () => {
    expect(detectVocabType({ decoder: { type: "WordPiece" }, model: { type: "WordPiece" } })).toBe("raw");
    expect(detectVocabType({ decoder: null, model: { type: "BPE", byte_fallback: true } })).toBe("byte_fallback");
  });

  test("special tokens become empty strings (never grammar text), except the stop tokens", () => {
    const dir = tinyModelDir("llama3");
    const tok = Tokenizer.fromDir(dir);
    const spec = tokenizerInfoSpecFromDir(dir, tok, 128256, [128001, 128009]);
    expect(spec.encodedVocab.length).toBe(128256);
    expect(spec.encodedVocab[128000]).toBe(""); // <|begin_of_text|>
    expect(spec.encodedVocab[128009]).toBe("<|eot_id|>");
    expect(spec.encodedVocab[tok.encode("hello", { addSpecialTokens: false })[0]]).toBe("hello");
    expect(spec.stopTokenIds).toEqual([128001, 128009]);
  });
});

describe("GrammarSpec", () => {
  test("one key per distinct constraint", () => {
    const key = (so: object) => grammarKey(grammarSpecFromParams(so));
    expect(key({ json: { type: "integer" } })).toBe(key({ json: '{"type":"integer"}' }));
    expect(key({ json: { type: "integer" } })).not.toBe(key({ json: { type: "integer" }, disableAnyWhitespace: true }));
    expect(key({ regex: "a" })).not.toBe(key({ grammar: "a" }));
    expect(key({ choice: ["a", "b"] })).not.toBe(key({ choice: ["a,b"] }));
  });

  test("length-bounded strings become patterns over JSON's valid characters", () => {
    const spec = grammarSpecFromParams({ json: { type: "object", properties: { s: { type: "string", minLength: 1, maxLength: 3 }, t: { type: "string", maxLength: 2, pattern: "^x+$" } } } });
    const schema = JSON.parse((spec as { schema: string }).schema);
    const re = new RegExp(schema.properties.s.pattern);
    expect(schema.properties.s.maxLength).toBeUndefined();
    expect(["a", "abc", "日本"].every((s) => re.test(s))).toBe(true);
    expect(["", "abcd", "a\u000b", 'a"', "a\\"].some((s) => re.test(s))).toBe(false);
    expect(schema.properties.t).toEqual({ type: "string", maxLength: 2, pattern: "^x+$" }); // user patterns are untouched
  });

  test("disable_additional_properties closes every object schema, nested ones too", () => {
    const spec = grammarSpecFromParams({
      json: { type: "object", properties: { a: { type: "object", properties: { b: { type: "integer" } } }, c: { type: "array", items: { properties: {} } } }, additionalProperties: true },
      disableAdditionalProperties: true,
    });
    const s = JSON.parse((spec as { schema: string }).schema);
    expect([s.additionalProperties, s.properties.a.additionalProperties, s.properties.c.items.additionalProperties]).toEqual([false, false, false]);
  });
});

test("applyTokenBitmask masks exactly the tokens whose bit is clear", () => {
  const g = new Generator(1);
  for (const vocab of [1, 31, 32, 33, 1000, 4099]) {
    const words = Math.ceil(vocab / 32);
    const mask = new Int32Array(words);
    for (let w = 0; w < words; w++) {
      const r = g.random();
      mask[w] = r < 0.3 ? 0 : r < 0.6 ? -1 : g.nextU32() | 0; // runs of zero words, full words and mixed ones
    }
    const logits = Float32Array.from({ length: vocab }, (_, i) => i);
    applyTokenBitmask(logits, mask);
    for (let i = 0; i < vocab; i++) {
      const allowed = ((mask[i >>> 5] >>> (i & 31)) & 1) === 1;
      expect(logits[i]).toBe(allowed ? i : -Infinity);
    }
  }
});
