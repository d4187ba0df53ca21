/**
 * The whole engine on the CUDA backend (bf16 activations) against HF transformers' float32 reference
 * for the tiny models (test/fixtures/hf_models.json), and batching on the GPU against solo runs.
 * The tiny models' logits are large (prompt logprobs reach -120 to -240), and bf16 rounding moves a
 * logprob in proportion to that scale, not to its own size: rounding every activation of these
 * models to bf16 on the CPU moves logprobs by up to scale * 2^-7.8 (qwen2, qwen3) to 2^-8.5 (llama3),
 * and the CUDA kernels, which round where HF's bf16 modules round, measured up to scale * 2^-7.4.
 * So logprobs must agree to scale * 2^-6, and greedy tokens wherever HF's top-2 margin is at least
 * scale * 2^-7. A wrong kernel moves logprobs by a sizable fraction of the scale. Skips without CUDA.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cudaAvailable } from "../../src/backend/select";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { Generator } from "../../src/sample/generator";
import { applyChatTemplate } from "../../src/tokenizer/chat_template";
import { modelDigest, REPO_ROOT, tinyModelDir, type TinyModelName } from "../support/tiny_models";
import { testEngineArgs } from "../support/engine_args";

interface Case {
  prompt: string; chat: boolean; prompt_token_ids: number[]; token_ids: number[];
  top_logprobs: [number, number][][]; prompt_logprobs: number[] | null;
}
const FIXTURE = join(REPO_ROOT, "test", "fixtures", "hf_models.json");
const fixture: { models: { name: TinyModelName; dir: string; digest: string; cases: Case[] }[] } | null = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : null;
const LOGPROB_TOL = 2 ** -6; // of the model's logprob scale
// The tiny Phi-3 runs longrope from an original context of 4 up to 4096: its attention factor
// sqrt(1 + ln(1024) / ln(4)) ~ 2.45 multiplies q and k, so every q.k (and its bf16 rounding) grows ~6x.
const TOL_SCALE: Partial<Record<TinyModelName, number>> = { phi3: 2 };
// The tiny Gemma 2 ties its head to the embedding and its top-2 leads are narrow (logprob scale 38 against
// ~140 elsewhere), so more of its cases reach a near-tie early; 24 steps is the floor for the others.
const MIN_COMPARED: Partial<Record<TinyModelName, number>> = { gemma2: 16 };
const MARGIN = 2 ** -7; // of the scale: greedy steps with a closer HF top-2 may flip under bf16
const BATCH_MARGIN = 0.1; // batching changes GEMM tiling only: flips need a much closer tie
const LIMITS = { maxLogprobs: 20, maxN: 1, maxStopStrings: 0, vocabSize: 0 };
const available = cudaAvailable();

// Mixture-of-experts models (their cases record router margins) are left out: bf16 router logits move by far
// more than the tiny models' smallest gaps between a token's k-th and (k+1)-th expert, so some tokens take
// another expert than HF's f32 run and their continuations legitimately differ. Their CUDA ops are checked
// against the CPU ops on identical inputs in test/backend/cuda_kernels.test.ts.
const routed = (m: { cases: object[] }) => m.cases.some((c) => "min_router_margin" in c);

describe.skipIf(!available || fixture === null)("CUDA backend: HF transformers parity on the tiny models", () => {
  for (const m of (fixture?.models ?? []).filter((m) => !routed(m))) {
    test(`${m.name}: greedy tokens, top-5 logprobs and prompt logprobs`, () => {
      const dir = tinyModelDir(m.name);
      expect(modelDigest(dir), "regenerate test/fixtures/hf_models.json with scripts/fixtures/model_fixtures.py").toBe(m.digest);
      const { engine, tokenizer, modelConfig, backend } = createEngine(testEngineArgs(dir, { device: "cuda" }));
      expect(backend.name).toBe("cuda");
      const inputs = m.cases.map((c) => ({
        promptTokenIds: c.chat
          ? tokenizer.encode(applyChatTemplate(tokenizer, [{ role: "user", content: c.prompt }], { addGenerationPrompt: true }), { addSpecialTokens: false })
          : tokenizer.encode(c.prompt),
      }));
      const params = m.cases.map((c) => makeSamplingParams({
        temperature: 0, maxTokens: c.token_ids.length, logprobs: 5, promptLogprobs: c.prompt_logprobs ? 0 : null,
      }, { ...LIMITS, vocabSize: modelConfig.vocabSize }));
      const outs = engine.generate(inputs, params);
      const scale = Math.max(...m.cases.flatMap((c) => (c.prompt_logprobs ?? []).concat(c.top_logprobs.flat().map(([, v]) => v)).map(Math.abs)));
      let worst = 0, compared = 0;
      const check = (got: number, want: number) => (worst = Math.max(worst, Math.abs(got - want)));
      outs.forEach((out, i) => {
        const c = m.cases[i], o = out.outputs[0];
        expect(inputs[i].promptTokenIds).toEqual(c.prompt_token_ids);
        for (let step = 0; step < c.token_ids.length; step++) {
          const want = c.top_logprobs[step];
          // Once a near-tie is reached the continuations may legitimately differ.
          if (want[0][1] - want[1][1] < MARGIN * scale) break;
          expect(o.tokenIds[step], `${m.name} case ${i} step ${step}`).toBe(c.token_ids[step]);
          const got = o.logprobs![step].top;
          expect(got[0][0]).toBe(want[0][0]);
          for (let j = 0; j < want.length; j++) {
            const match = got.find(([id]) => id === want[j][0]);
            if (match) check(match[1], want[j][1]);
          }
          compared++;
        }
        if (c.prompt_logprobs) {
          const got = out.promptLogprobs!.slice(1).map((x) => x!.logprob);
          got.forEach((v, j) => check(v, c.prompt_logprobs![j]));
        }
      });
      console.log(`cuda-parity ${m.name}: ${compared} greedy steps compared, worst logprob error ${worst.toFixed(3)} ` +
        `(scale ${scale.toFixed(0)}, allowed ${(LOGPROB_TOL * (TOL_SCALE[m.name] ?? 1) * scale).toFixed(2)})`);
      expect(compared).toBeGreaterThanOrEqual(MIN_COMPARED[m.name] ?? 24);
      expect(worst).toBeLessThanOrEqual(LOGPROB_TOL * (TOL_SCALE[m.name] ?? 1) * scale);
    }, 120_000);
  }
});

describe.skipIf(!available)("CUDA backend: batching", () => {
  test("64 concurrent requests match their solo greedy output up to bf16 near-ties", () => {
    const dir = tinyModelDir("mistral");
    const g = new Generator(7);
    const prompts = Array.from({ length: 64 }, () => ({
      promptTokenIds: Array.from({ length: 1 + Math.floor(g.random() * 300) }, () => 3 + Math.floor(g.random() * 31000)),
    }));
    const params = makeSamplingParams({ temperature: 0, maxTokens: 16, ignoreEos: true, logprobs: 2 }, { ...LIMITS, vocabSize: 32000 });
    const solo = createEngine(testEngineArgs(dir, { device: "cuda", enablePrefixCaching: false })).engine;
    const want = prompts.map((p) => solo.generate([p], params)[0].outputs[0]);
    const { engine } = createEngine(testEngineArgs(dir, { device: "cuda", maxNumBatchedTokens: 512, maxNumSeqs: 64 }));
    const got = engine.generate(prompts, prompts.map(() => params)).map((o) => o.outputs[0]);
    let identical = 0;
    got.forEach((o, i) => {
      const w = want[i];
      const step = o.tokenIds.findIndex((t, j) => t !== w.tokenIds[j]);
      if (step < 0) return void identical++;
      // A flip is only allowed where the solo run's top two were within bf16 noise.
      const top = w.logprobs![step].top;
      const second = top.length > 1 ? top[1][1] : w.logprobs![step].logprob;
      expect(top[0][1] - second, `request ${i} diverged at step ${step}`).toBeLessThan(BATCH_MARGIN);
    });
    console.log(`cuda-batching: ${identical}/64 requests identical to their solo run`);
    expect(engine.engineCore.scheduler.kv.pool.numFreeBlocks).toBe(engine.engineCore.scheduler.kv.pool.numBlocks);
  }, 120_000);
});
