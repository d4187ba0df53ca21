/**
 * Parity with HF transformers: greedy tokens, top-5 logprobs and prompt logprobs recorded by
 * scripts/fixtures/model_fixtures.py on the tiny models, reproduced here through the whole engine.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { applyChatTemplate } from "../../src/tokenizer/chat_template";
import { modelDigest, REPO_ROOT, tinyModelDir, type TinyModelName } from "../support/tiny_models";
import { testEngineArgs } from "../support/engine_args";

interface Case {
  prompt: string; chat: boolean; render?: string; prompt_token_ids: number[]; token_ids: number[];
  top_logprobs: [number, number][][]; min_margin: number; prompt_logprobs: number[] | null;
}
const FIXTURE = join(REPO_ROOT, "test", "fixtures", "hf_models.json");
const fixture: { models: { name: TinyModelName; dir: string; digest: string; cases: Case[] }[] } | null = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : null;
const TOL = 1e-3;

describe.skipIf(fixture === null)("HF transformers parity (test/fixtures/hf_models.json)", () => {
  for (const m of fixture?.models ?? []) {
    test(`${m.name}: ids, greedy tokens, top-5 logprobs and prompt logprobs`, () => {
      const dir = tinyModelDir(m.name);
      // The digest covers the weights, config and tokenizer bytes: a mismatch means the fixture is stale.
      expect(modelDigest(dir), "regenerate test/fixtures/hf_models.json with scripts/fixtures/model_fixtures.py").toBe(m.digest);
      const { engine, tokenizer, modelConfig } = createEngine(testEngineArgs(dir));
      const inputs = m.cases.map((c) => {
        if (!c.chat) return { promptTokenIds: tokenizer.encode(c.prompt) };
        const render = applyChatTemplate(tokenizer, [{ role: "user", content: c.prompt }], { addGenerationPrompt: true });
        expect(render).toBe(c.render!);
        return { promptTokenIds: tokenizer.encode(render, { addSpecialTokens: false }) };
      });
      inputs.forEach((inp, i) => expect(inp.promptTokenIds).toEqual(m.cases[i].prompt_token_ids));
      const params = m.cases.map((c) => makeSamplingParams({
        temperature: 0, maxTokens: c.token_ids.length, logprobs: 5, promptLogprobs: c.prompt_logprobs ? 0 : null,
      }, { maxLogprobs: 20, maxN: 1, maxStopStrings: 0, vocabSize: modelConfig.vocabSize }));
      const outs = engine.generate(inputs, params);
      outs.forEach((out, i) => {
        const c = m.cases[i], o = out.outputs[0];
        expect(o.tokenIds).toEqual(c.token_ids);
        o.logprobs!.forEach((lp, step) => {
          const want = c.top_logprobs[step];
          expect(lp.top.map(([id]) => id)).toEqual(want.map(([id]) => id));
          lp.top.forEach(([, v], j) => expect(Math.abs(v - want[j][1])).toBeLessThan(TOL));
        });
        if (c.prompt_logprobs) {
          const got = out.promptLogprobs!.slice(1).map((x) => x!.logprob);
          expect(got.length).toBe(c.prompt_logprobs.length);
          got.forEach((v, j) => expect(Math.abs(v - c.prompt_logprobs![j])).toBeLessThan(TOL));
        }
      });
    }, 60_000); // the Gemma models take seconds on 2 loaded cores
  }
});
