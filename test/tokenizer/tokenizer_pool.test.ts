/**
 * Issue 9, items 3 and 6: tokenization and chat templates run in worker threads. The server's thread keeps
 * running during a slow encode; a template that loops is stopped at its time limit, one that grows without
 * end at its output limit, and the pool keeps serving afterwards.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Tokenizer, TokenizerError } from "../../src/tokenizer/tokenizer";
import { TokenizerPool, type TokenizerPoolOptions } from "../../src/tokenizer/tokenizer_pool";
import { tinyModelDir } from "../support/tiny_models";

const tokenizer = Tokenizer.fromDir(tinyModelDir("llama3"));
const pools: TokenizerPool[] = [];
afterAll(() => { for (const p of pools) p.close(); });

function pool(over: Partial<TokenizerPoolOptions> = {}): TokenizerPool {
  const p = new TokenizerPool(tokenizer, { size: 2, renderTimeoutMs: 5000, maxPromptChars: 1_000_000, chatTemplate: null, ...over });
  pools.push(p);
  return p;
}

/** Runs `work` while a 5 ms timer ticks; returns its result and the longest gap between ticks. */
async function withLag<T>(work: () => Promise<T>): Promise<{ result: T; maxGapMs: number }> {
  let last = performance.now(), maxGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
  }, 5);
  try {
    return { result: await work(), maxGapMs };
  } finally {
    clearInterval(timer);
  }
}

const LOOP_FOREVER = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}";
const DOUBLING = "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}";
const USER = [{ role: "user", content: "Hello there" }];

describe("TokenizerPool", () => {
  test("encode, chat and decode give exactly what the tokenizer gives on this thread", async () => {
    const p = pool();
    const text = "The quick brown fox jumps over the lazy dog. 1234567 ünïcödé";
    expect(await p.encode(text, true)).toEqual(tokenizer.encode(text));
    expect(await p.encode(text, false)).toEqual(tokenizer.encode(text, { addSpecialTokens: false }));
    const ids = tokenizer.encode(text);
    expect(await p.decode(ids, true)).toBe(tokenizer.decode(ids, { skipSpecialTokens: true }));
    const { applyChatTemplate } = await import("../../src/tokenizer/chat_template");
    const prompt = applyChatTemplate(tokenizer, USER, { addGenerationPrompt: true });
    expect(await p.applyChatTemplate(USER, { addGenerationPrompt: true }, false)).toEqual(tokenizer.encode(prompt, { addSpecialTokens: false }));
  });

  test("a slow encode (~0.5 s of work) runs off this thread: the event loop never stalls", async () => {
    const text = "a".repeat(150_000); // one long word: the slowest case for BPE
    const p = pool();
    await p.encode("warm up", true); // worker start-up (loading the tokenizer) is not the point here
    const t0 = performance.now();
    tokenizer.encode(text);
    const onThread = performance.now() - t0;
    const { result, maxGapMs } = await withLag(() => p.encode(text, true));
    expect(result).toEqual(tokenizer.encode(text));
    console.log(`encode of ${text.length} chars: ${onThread.toFixed(0)} ms of work; longest event-loop gap meanwhile ${maxGapMs.toFixed(0)} ms`);
    expect(maxGapMs).toBeLessThan(Math.max(100, onThread / 3));
  });

  test("a chat template that loops is stopped at the time limit with a TokenizerError, and the pool serves on", async () => {
    const p = pool({ size: 1, renderTimeoutMs: 300, chatTemplate: { text: LOOP_FOREVER, source: "loop.jinja" } });
    const t0 = performance.now();
    const { result: err, maxGapMs } = await withLag(() => p.applyChatTemplate(USER, {}, false).then(() => null, (e) => e));
    expect(err).toBeInstanceOf(TokenizerError);
    expect(err.message).toContain("took longer than 0.3 s (--chat-template-render-timeout)");
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(maxGapMs).toBeLessThan(150);
    expect(await p.encode("still here", false)).toEqual(tokenizer.encode("still here", { addSpecialTokens: false }));
  });

  test("a template whose output grows without end is stopped at the output limit", async () => {
    for (const size of [1, 0]) {
      const p = pool({ size, maxPromptChars: 10_000, chatTemplate: { text: DOUBLING, source: "grow.jinja" } });
      const err = await p.applyChatTemplate(USER, {}, false).then(() => null, (e) => e);
      expect(err).toBeInstanceOf(TokenizerError);
      expect(err.message).toContain("exceeds the limit of 10000 characters");
      const big = await p.applyChatTemplate(USER, {}, false).then(() => null, (e) => e);
      expect(big.message).toContain("exceeds the limit");
    }
    const ranged = pool({ maxPromptChars: 10_000, chatTemplate: { text: "{% for i in range(10**9) %}x{% endfor %}", source: "range.jinja" } });
    expect((await ranged.applyChatTemplate(USER, {}, false).catch((e) => e)).message).toContain("exceeds the limit of 10000 characters");
  });

  test("text past the character limit is refused before it is encoded", async () => {
    const p = pool({ maxPromptChars: 100 });
    const err = await p.encode("x".repeat(101), true).catch((e) => e);
    expect(err).toBeInstanceOf(TokenizerError);
    expect(err.message).toContain("has 101 characters, more than the 100");
  });

  test("without a worker (a build missing the worker entry point) jobs run on this thread, with a warning", async () => {
    const warnings: string[] = [];
    const p = pool({ workerUrl: new URL("./no_such_worker.ts", import.meta.url).href, onWarning: (w) => warnings.push(w) });
    expect(await p.encode("Hello", true)).toEqual(tokenizer.encode("Hello"));
    expect(await p.encode("again", true)).toEqual(tokenizer.encode("again"));
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("tokenizing on the server thread");
  });
});
