/**
 * vLLM's request extras on both generation endpoints, each at its bound and past it: priority (0 only, as vLLM
 * without --scheduling-policy priority), truncate_prompt_tokens, return_tokens_as_token_ids,
 * spaces_between_special_tokens, min_tokens, ignore_eos, skip_special_tokens, include_stop_str_in_output,
 * prompt_logprobs, bad_words; allowed_token_ids is refused by name.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { parseServeFlags } from "../../src/cli/serve";
import { tinyModelDir } from "../support/tiny_models";
import { MODEL_NAME, parseSse, post, startTestServer } from "./support";

const s = startTestServer({ model: "mistral" });
afterAll(() => s.close());
const cmpl = `${s.url}/v1/completions`;
const chat = `${s.url}/v1/chat/completions`;
const MAX_MODEL_LEN = 512; // testEngineArgs
const EOS = 2; // </s> in the Llama 2 tokenizer
const messages = [{ role: "user", content: "Name a river." }];
const base = { model: MODEL_NAME, temperature: 0 };

describe("priority", () => {
  test("0 is accepted; anything else is vLLM's 400 without priority scheduling", async () => {
    for (const url of [cmpl, chat]) {
      const body = url === cmpl ? { ...base, prompt: "Hi", max_tokens: 2 } : { ...base, messages, max_tokens: 2 };
      expect((await post(url, { ...body, priority: 0 })).status).toBe(200);
      for (const priority of [1, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
        const r = await post(url, { ...body, priority });
        expect(r.status).toBe(400);
        expect(r.json.error.message).toBe(`Got priority ${priority} but Priority scheduling is not enabled.`);
        expect(r.json.error.param).toBe("priority");
      }
      for (const priority of [1.5, "1", 2 ** 60]) expect((await post(url, { ...body, priority })).status).toBe(400);
    }
  });
});

describe("allowed_token_ids", () => {
  test("is refused with a 400 naming it, never silently ignored", async () => {
    for (const url of [cmpl, chat]) {
      const body = url === cmpl ? { ...base, prompt: "Hi" } : { ...base, messages };
      const r = await post(url, { ...body, allowed_token_ids: [5, 6] });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("allowed_token_ids");
      expect(r.json.error.message).toContain("not supported");
    }
  });
});

describe("bad_words", () => {
  const tokens = async (text: string) => (await post(`${s.url}/tokenize`, { prompt: text, add_special_tokens: false })).json.tokens as number[];
  const generated = async (extra: object) => {
    const r = await post(cmpl, { ...base, prompt: "The river", max_tokens: 12, ignore_eos: true, logprobs: 0, return_tokens_as_token_ids: true, ...extra });
    expect(r.status).toBe(200);
    return (r.json.choices[0].logprobs.tokens as string[]).map((t) => Number(t.slice("token_id:".length)));
  };
  test("the words' tokens (as written and after a space) never complete in the output", async () => {
    const free = await generated({});
    // A generated token whose text tokenizes back to it, so banning the text must change the output.
    let word: string | null = null;
    for (const t of free) {
      const text = ((await post(`${s.url}/detokenize`, { tokens: [t] })).json.prompt as string).trimStart();
      const again = [await tokens(text), await tokens(" " + text)];
      if (text.length > 0 && again.some((a) => a.length === 1 && a[0] === t)) { word = text; break; }
    }
    expect(word).not.toBeNull();
    const banned = [await tokens(word!), await tokens(" " + word!)];
    const got = await generated({ bad_words: [word] });
    for (const b of banned)
      for (let i = 0; i + b.length <= got.length; i++) expect(got.slice(i, i + b.length)).not.toEqual(b);
    expect(got).not.toEqual(free);
  });
  test("bounds: 64 words of 64 tokens pass; more words, over 256 characters or 64 tokens, or empty words are a 400 naming bad_words", async () => {
    const longest = "the ".repeat(64).trimEnd(); // 255 characters, 64 tokens
    expect((await tokens(longest)).length).toBe(64);
    expect((await post(cmpl, { ...base, prompt: "Hi", max_tokens: 2, bad_words: Array(64).fill(longest) })).status).toBe(200);
    for (const bad_words of [Array.from({ length: 65 }, (_, i) => `w${i}`), ["x".repeat(257)], ["a ".repeat(100)], [""], ["   "]]) {
      const r = await post(cmpl, { ...base, prompt: "Hi", max_tokens: 2, bad_words });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toMatch(/^bad_words/); // the field, or the entry (bad_words.0) zod names
    }
  });
});

describe("truncate_prompt_tokens", () => {
  const ids = Array.from({ length: 40 }, (_, i) => 300 + i);

  test("keeps the prompt's last k tokens; echo shows what the model saw", async () => {
    const r = await post(cmpl, { ...base, prompt: ids, max_tokens: 1, truncate_prompt_tokens: 5, echo: true, logprobs: 0 });
    expect(r.status).toBe(200);
    expect(r.json.usage.prompt_tokens).toBe(5);
    const tail = await post(`${s.url}/detokenize`, { tokens: ids.slice(-5) });
    expect(r.json.choices[0].text.startsWith(tail.json.prompt)).toBe(true);
    // The same as sending the tail alone.
    const alone = await post(cmpl, { ...base, prompt: ids.slice(-5), max_tokens: 4 });
    const cut = await post(cmpl, { ...base, prompt: ids, max_tokens: 4, truncate_prompt_tokens: 5 });
    expect(cut.json.choices[0].text).toBe(alone.json.choices[0].text);
    // A text prompt is cut after tokenizing.
    const text = await post(cmpl, { ...base, prompt: "one two three four five six seven", max_tokens: 1, truncate_prompt_tokens: 3 });
    expect(text.json.usage.prompt_tokens).toBe(3);
    const c = await post(chat, { ...base, messages, max_tokens: 1, truncate_prompt_tokens: 4 });
    expect(c.status).toBe(200);
    expect(c.json.usage.prompt_tokens).toBe(4);
  });

  test("at its bounds: -1 and max_model_len keep a shorter prompt whole; past them a 400", async () => {
    for (const k of [-1, MAX_MODEL_LEN, ids.length]) {
      const r = await post(cmpl, { ...base, prompt: ids, max_tokens: 1, truncate_prompt_tokens: k });
      expect(r.status).toBe(200);
      expect(r.json.usage.prompt_tokens).toBe(ids.length);
    }
    const over = await post(cmpl, { ...base, prompt: ids, truncate_prompt_tokens: MAX_MODEL_LEN + 1 });
    expect(over.status).toBe(400);
    expect(over.json.error.message).toBe(`truncate_prompt_tokens value (${MAX_MODEL_LEN + 1}) is greater than max_model_len (${MAX_MODEL_LEN}). Please, select a smaller truncation size.`);
    expect(over.json.error.param).toBe("truncate_prompt_tokens");
    const chatOver = await post(chat, { ...base, messages, truncate_prompt_tokens: MAX_MODEL_LEN + 1 });
    expect(chatOver.json.error.param).toBe("truncate_prompt_tokens");
    for (const k of [-2, 1.5]) expect((await post(cmpl, { ...base, prompt: ids, truncate_prompt_tokens: k })).json.error.param).toBe("truncate_prompt_tokens");
  });

  test("heavy: a prompt twice the context, cut to fit, generates", async () => {
    const long = Array.from({ length: 2 * MAX_MODEL_LEN }, (_, i) => 100 + (i % 5000));
    const r = await post(cmpl, { ...base, prompt: long, max_tokens: 8, truncate_prompt_tokens: MAX_MODEL_LEN - 8, ignore_eos: true });
    expect(r.status).toBe(200);
    expect(r.json.usage.prompt_tokens).toBe(MAX_MODEL_LEN - 8);
    expect(r.json.usage.completion_tokens).toBe(8);
    // -1 keeps max_model_len tokens, which leaves no room: the context error, as in vLLM.
    const full = await post(cmpl, { ...base, prompt: long, max_tokens: 8, truncate_prompt_tokens: -1 });
    expect(full.status).toBe(400);
    expect(full.json.error.message).toContain(`maximum context length is ${MAX_MODEL_LEN} tokens`);
  });
});

describe("return_tokens_as_token_ids", () => {
  test("completions: tokens and top_logprobs keys are token_id:N, offsets unchanged", async () => {
    const body = { ...base, prompt: "The sky is", max_tokens: 6, logprobs: 3, echo: true };
    const plain = await post(cmpl, body);
    const ids = await post(cmpl, { ...body, return_tokens_as_token_ids: true });
    expect(ids.status).toBe(200);
    const a = plain.json.choices[0].logprobs, b = ids.json.choices[0].logprobs;
    expect(b.tokens.length).toBe(a.tokens.length);
    expect(b.tokens.every((t: string) => /^token_id:\d+$/.test(t))).toBe(true);
    expect(b.text_offset).toEqual(a.text_offset);
    expect(b.token_logprobs).toEqual(a.token_logprobs);
    for (const top of b.top_logprobs.slice(1)) expect(Object.keys(top).every((k) => /^token_id:\d+$/.test(k))).toBe(true);
    // The placeholders name the tokens the text is made of.
    const tokenIds = b.tokens.map((t: string) => Number(t.slice("token_id:".length)));
    const text = await post(`${s.url}/detokenize`, { tokens: tokenIds.slice(1) });
    expect(ids.json.choices[0].text).toContain(text.json.prompt.trim());
  });

  test("chat, plain and streamed: token is token_id:N, bytes are the token's text", async () => {
    const body = { ...base, messages, max_tokens: 5, logprobs: true, top_logprobs: 2 };
    const plain = await post(chat, body);
    const ids = await post(chat, { ...body, return_tokens_as_token_ids: true });
    const a = plain.json.choices[0].logprobs.content, b = ids.json.choices[0].logprobs.content;
    expect(b.length).toBe(a.length);
    b.forEach((e: any, i: number) => {
      expect(e.token).toMatch(/^token_id:\d+$/);
      expect(e.bytes).toEqual(a[i].bytes);
      expect(e.top_logprobs.every((t: any) => /^token_id:\d+$/.test(t.token))).toBe(true);
    });
    const streamed = await post(chat, { ...body, return_tokens_as_token_ids: true, stream: true });
    const tokens = parseSse(streamed.text).filter((c): c is any => typeof c === "object").flatMap((c: any) => c.choices[0]?.logprobs?.content ?? []).map((e: any) => e.token);
    expect(tokens).toEqual(b.map((e: any) => e.token));
    expect((await post(chat, { ...body, return_tokens_as_token_ids: "yes" })).json.error.param).toBe("return_tokens_as_token_ids");
  });
});

describe("spaces_between_special_tokens", () => {
  test("accepted as a boolean; with a fast tokenizer it changes nothing, as in vLLM", async () => {
    const body = { ...base, prompt: "Hi", max_tokens: 6, skip_special_tokens: false, logit_bias: { [EOS]: 100 }, ignore_eos: true };
    const on = await post(cmpl, { ...body, spaces_between_special_tokens: true });
    const off = await post(cmpl, { ...body, spaces_between_special_tokens: false });
    expect(on.status).toBe(200);
    expect(off.json.choices[0].text).toBe(on.json.choices[0].text);
    expect((await post(cmpl, { ...body, spaces_between_special_tokens: 1 })).json.error.param).toBe("spaces_between_special_tokens");
  });
});

describe("min_tokens, ignore_eos, skip_special_tokens", () => {
  const forcedEos = { logit_bias: { [EOS]: 100 } };

  test("EOS forced: stops at once; min_tokens holds it back up to max_tokens; ignore_eos runs to the end", async () => {
    const stop = await post(cmpl, { ...base, prompt: "Hi", max_tokens: 8, ...forcedEos });
    expect(stop.json.choices[0].finish_reason).toBe("stop");
    expect(stop.json.usage.completion_tokens).toBe(1);
    const held = await post(cmpl, { ...base, prompt: "Hi", max_tokens: 8, min_tokens: 8, ...forcedEos });
    expect(held.json.usage.completion_tokens).toBe(8);
    expect(held.json.choices[0].finish_reason).toBe("length");
    const partial = await post(chat, { ...base, messages, max_tokens: 8, min_tokens: 3, ...forcedEos });
    expect(partial.json.usage.completion_tokens).toBe(4); // 3 held, then EOS
    const ignored = await post(cmpl, { ...base, prompt: "Hi", max_tokens: 8, ignore_eos: true, ...forcedEos });
    expect(ignored.json.usage.completion_tokens).toBe(8);
    expect(ignored.json.choices[0].finish_reason).toBe("length");
  });

  test("min_tokens past max_tokens or negative is a 400 naming it", async () => {
    for (const min_tokens of [9, -1]) {
      const r = await post(cmpl, { ...base, prompt: "Hi", max_tokens: 8, min_tokens });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("min_tokens");
    }
  });

  test("skip_special_tokens false keeps the special tokens in the text; true (the default) drops them", async () => {
    const body = { ...base, prompt: "Hi", max_tokens: 3, ignore_eos: true, ...forcedEos };
    const kept = await post(cmpl, { ...body, skip_special_tokens: false });
    expect(kept.json.choices[0].text).toBe("</s></s></s>");
    const dropped = await post(cmpl, body);
    expect(dropped.json.choices[0].text).toBe("");
  });
});

describe("include_stop_str_in_output", () => {
  test("a stop string that matches is cut, or kept with the flag", async () => {
    const free = await post(cmpl, { ...base, prompt: "Once upon a time", max_tokens: 24, ignore_eos: true });
    const text: string = free.json.choices[0].text;
    const stop = text.slice(6, 9);
    expect(stop.length).toBe(3);
    const at = text.indexOf(stop);
    const cut = await post(cmpl, { ...base, prompt: "Once upon a time", max_tokens: 24, ignore_eos: true, stop: [stop] });
    expect(cut.json.choices[0].text).toBe(text.slice(0, at));
    expect(cut.json.choices[0].stop_reason).toBe(stop);
    const kept = await post(cmpl, { ...base, prompt: "Once upon a time", max_tokens: 24, ignore_eos: true, stop: [stop], include_stop_str_in_output: true });
    expect(kept.json.choices[0].text).toBe(text.slice(0, at + stop.length));
    expect(kept.json.choices[0].finish_reason).toBe("stop");
  });
});

describe("prompt_logprobs", () => {
  test("at --max-logprobs every prompt token has that many alternatives; one more is a 400", async () => {
    const r = await post(cmpl, { ...base, prompt: "The river runs to the sea", max_tokens: 1, prompt_logprobs: 20 });
    expect(r.status).toBe(200);
    const pl = r.json.choices[0].prompt_logprobs;
    expect(pl[0]).toBeNull();
    for (const entry of pl.slice(1)) expect(Object.keys(entry).length).toBeGreaterThanOrEqual(20);
    const c = await post(chat, { ...base, messages, max_tokens: 1, prompt_logprobs: 20 });
    expect(c.json.prompt_logprobs.length).toBe(c.json.usage.prompt_tokens);
    for (const url of [cmpl, chat]) {
      const body = url === cmpl ? { ...base, prompt: "Hi", prompt_logprobs: 21 } : { ...base, messages, prompt_logprobs: 21 };
      const over = await post(url, body);
      expect(over.status).toBe(400);
      expect(over.json.error.param).toBe("prompt_logprobs");
    }
  });
});

describe("many at once", () => {
  test("48 concurrent requests mixing every extra at its bound all succeed with the right sizes", async () => {
    const longestWord = "the ".repeat(64).trimEnd(); // 64 tokens, the bound
    expect((await post(`${s.url}/tokenize`, { prompt: longestWord, add_special_tokens: false })).json.tokens.length).toBe(64);
    const ids = Array.from({ length: 64 }, (_, i) => 500 + i);
    const jobs = Array.from({ length: 48 }, (_, i) => {
      const k = 1 + (i % 16);
      return post(i % 2 ? cmpl : chat, {
        ...base, ...(i % 2 ? { prompt: ids } : { messages }), max_tokens: 6, min_tokens: 6, ignore_eos: i % 3 === 0,
        truncate_prompt_tokens: i % 2 ? k : null, priority: 0, return_tokens_as_token_ids: true, spaces_between_special_tokens: false,
        skip_special_tokens: i % 4 === 0, prompt_logprobs: i % 5 === 0 ? 20 : null, ...(i % 2 ? { logprobs: 20 } : { logprobs: true, top_logprobs: 20 }),
        // At its bound: 64 words of 64 tokens each.
        bad_words: i % 3 === 1 ? Array(64).fill(longestWord) : null,
      }).then((r) => ({ i, k, r }));
    });
    for (const { i, k, r } of await Promise.all(jobs)) {
      expect(r.status).toBe(200);
      expect(r.json.usage.completion_tokens).toBe(6);
      if (i % 2) expect(r.json.usage.prompt_tokens).toBe(k);
    }
  });
});

describe("--scheduling-policy", () => {
  test("fcfs starts without a warning; priority is refused at startup naming the flag", () => {
    const dir = tinyModelDir("mistral");
    const ok = parseServeFlags([dir, "--scheduling-policy", "fcfs"]);
    expect(ok === "help" ? null : ok.warnings).toEqual([]);
    expect(() => parseServeFlags([dir, "--scheduling-policy", "priority"])).toThrow(/--scheduling-policy: not supported: 'priority'/);
  });
});
