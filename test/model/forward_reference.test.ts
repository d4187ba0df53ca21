/** The kernel path's logits agree with the independent float64 reference, for every architecture. */
import { describe, expect, test } from "bun:test";
import { TINY_MODELS, tinyModelDir, type TinyModelName } from "../support/tiny_models";
import { referenceLogits } from "../reference/forward_f64";
import { SequenceHarness, relError } from "../support/model_harness";
import { argmax } from "../../src/sample/sampler";

const PROMPT = [17, 942, 5, 300, 8, 77, 1023, 61, 2, 450, 9, 12, 88, 4000, 31, 7, 250, 19, 640, 3];
const DECODE_STEPS = 6;
const TOL = 1e-4;

describe("forward pass vs float64 reference", () => {
  for (const name of Object.keys(TINY_MODELS) as TinyModelName[]) {
    test(`${name}: prefill and ${DECODE_STEPS} decode steps`, () => {
      const dir = tinyModelDir(name);
      const h = new SequenceHarness(dir);
      const seq = [...PROMPT];
      const got = h.run(PROMPT);
      for (let s = 0; s < DECODE_STEPS; s++) {
        const next = argmax(got[got.length - 1]);
        seq.push(next);
        got.push(h.run([next])[0]);
      }
      const want = referenceLogits(dir, seq);
      expect(got.length).toBe(want.length);
      let worst = 0;
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, relError(got[i], want[i]));
      expect(worst).toBeLessThan(TOL);
    });
  }

  // Chunks that start inside, at and past the sliding windows (8 tokens for gemma2, 10 for phi3).
  for (const name of ["gemma2", "phi3"] as const) {
    test(`${name}: chunked prefill across the sliding window gives the same logits as one chunk`, () => {
      const dir = tinyModelDir(name);
      const whole = new SequenceHarness(dir).run(PROMPT);
      const h = new SequenceHarness(dir);
      const chunked = [...h.run(PROMPT.slice(0, 5)), ...h.run(PROMPT.slice(5, 13)), ...h.run(PROMPT.slice(13))];
      for (let i = 0; i < PROMPT.length; i++) expect(relError(chunked[i], whole[i])).toBeLessThan(TOL);
    });
  }

  // qwen2_moe: every chunk routes a different number of tokens through the grouped experts.
  for (const name of ["qwen3", "qwen2_moe"] as const) test(`${name}: chunked prefill gives the same logits as one chunk`, () => {
    const dir = tinyModelDir(name);
    const whole = new SequenceHarness(dir).run(PROMPT);
    const h = new SequenceHarness(dir);
    const chunked = [...h.run(PROMPT.slice(0, 7)), ...h.run(PROMPT.slice(7, 8)), ...h.run(PROMPT.slice(8))];
    for (let i = 0; i < PROMPT.length; i++) expect(relError(chunked[i], whole[i])).toBeLessThan(TOL);
  });
});
