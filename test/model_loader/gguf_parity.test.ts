/**
 * Token-for-token parity with llama.cpp on the same GGUF files: prompt ids from our GGUF tokenizer equal
 * llama.cpp's tokenization, and greedy tokens from our engine (built through loadGgufModel) equal
 * llama.cpp's on the same file and prompt ids at every step whose llama.cpp top-2 margin is clear.
 *
 * "Clear" allows for how the two compute: for quantized matrices llama.cpp quantizes the activations to
 * 8 bits per block and for F16 ones it rounds them to f16, while we multiply f32 activations with the
 * dequantized weights. On these models that moves the top-2 logit margin by up to ~0.2 (F16) and ~1.5
 * (8-bit and 4-bit types), so a step whose llama.cpp margin is below the bound may go either way.
 *
 * At every step both took the same way, the logits must agree too: for our 5 most likely tokens, each one's
 * log-probability relative to the top token is within LOGIT_TOLERANCE of llama.cpp's (measured: up to 0.2 for
 * F16, 0.6 for the quantized Llama-architecture files, 1.8 for Qwen3 Q4_K; a q/k permutation left in place
 * gives 8 to 18 on the same files).
 *
 * Cases: every type on the Mistral-shaped model (llama architecture with the q/k permutation, sentencepiece
 * tokenizer, 32k vocabulary), F16 and Q4_K on the Llama 3 and Qwen3 ones, whose 128k/152k vocabularies make
 * each llama.cpp load take seconds. Q8_0 is in those Q4_K files too: their 64-column matrices fall back to it.
 */
import { afterAll, describe, expect, test } from "bun:test";
import type { Llama } from "node-llama-cpp";
import { makeSamplingParams } from "../../src/engine/sampling_params";
import { testEngineArgs } from "../support/engine_args";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import { ggufTestModel, type GgufTestModel, type GgufTestType } from "../support/gguf_models";
import { loadPeer, peerGreedy, peerMargin, peerTokenize, withPeerModel } from "../support/gguf_peer";

const { llama, reason } = await loadPeer();
if (llama === null) console.warn(`skipping llama.cpp parity: ${reason}`);

const STEPS = 10;
const ENGINE = { maxModelLen: 128, maxNumSeqs: 4, maxNumBatchedTokens: 128, kvCacheMemory: 8 << 20 };
const CLEAR_MARGIN: Record<GgufTestType, number> = { F32: 0.25, F16: 0.25, BF16: 0.25, Q8_0: 2, Q4_K: 2, mixed: 2 };
const LOGIT_TOLERANCE: Record<GgufTestType, number> = { F32: 0.5, F16: 0.5, BF16: 0.5, Q8_0: 2.5, Q4_K: 2.5, mixed: 2.5 };
const PROMPT = "The capital of France is";
const STRINGS = [
  "Hello world", " leading space and  double  spaces", "It's 2024: don't panic!", "naïve café, 你好，世界 😀",
  "line1\nline2\n\n\tindented", "<|im_start|>user\nhi<|im_end|>", "<s>[INST] hello [/INST]", "12345678901234567890",
];
const CASES: [GgufTestModel, GgufTestType][] = [
  ["mistral", "F16"], ["mistral", "Q8_0"], ["mistral", "Q4_K"], ["mistral", "mixed"],
  ["llama3", "F16"], ["llama3", "Q4_K"], ["qwen3", "F16"], ["qwen3", "Q4_K"],
];
const summary: string[] = [];
afterAll(() => summary.length && console.log(`greedy steps agreeing with llama.cpp:\n  ${summary.join("\n  ")}`));

describe.skipIf(llama === null)("GGUF parity with llama.cpp", () => {
  const peer = llama as Llama;
  for (const [name, type] of CASES) {
    const what = type === "F16" ? "tokenization and greedy tokens equal" : "greedy tokens equal";
    test(`${name} ${type}: ${what} llama.cpp's at every clear step`, async () => {
      const path = ggufTestModel(name, type);
      // The real composition root: a .gguf path is the GGUF model source.
      const { engine, tokenizer } = createEngine(testEngineArgs(path, ENGINE));
      const prompt = tokenizer.encode(PROMPT);
      const params = makeSamplingParams({ temperature: 0, maxTokens: STEPS, ignoreEos: true, logprobs: 5 });
      const out = engine.generate([{ promptTokenIds: prompt }], params)[0].outputs[0];
      const ourMargins = out.logprobs!.map((l) => l.top[0][1] - l.top[1][1]);
      await withPeerModel(peer, path, async (model) => {
        if (type === "F16") for (const s of STRINGS) expect(tokenizer.encode(s, { addSpecialTokens: false })).toEqual(peerTokenize(model, s));
        const theirs = await peerGreedy(model, prompt, STEPS);
        const diverged = out.tokenIds.findIndex((t, i) => t !== theirs[i].token);
        const agreed = diverged < 0 ? STEPS : diverged;
        // After the first difference the two continue different texts, so only that step can be judged.
        const margin = diverged < 0 ? null : await peerMargin(model, [...prompt, ...theirs.slice(0, diverged).map((s) => s.token)]);
        const logitError = Math.max(...out.logprobs!.slice(0, agreed).map((ours, i) => relativeLogprobError(ours.top, theirs[i].top)));
        summary.push(`${name} ${type}: ${agreed}/${STEPS}${margin === null ? "" : ` (then an unclear step, llama.cpp margin ${margin.toFixed(2)})`}, ` +
          `our smallest top-2 margin ${Math.min(...ourMargins.slice(0, agreed)).toFixed(2)}, top-5 logit difference vs llama.cpp <= ${logitError.toFixed(3)}`);
        if (margin !== null) expect(margin).toBeLessThan(CLEAR_MARGIN[type]);
        expect(agreed).toBeGreaterThanOrEqual(STEPS / 2);
        expect(logitError).toBeLessThan(LOGIT_TOLERANCE[type]);
      });
    });
  }
});

/** max over our top tokens of |(ours[t] - ours[top]) - (theirs[t] - theirs[top])|; a token outside llama.cpp's top 20 counts as infinite. */
function relativeLogprobError(ours: [number, number][], theirs: Map<number, number>): number {
  const [top, topLogprob] = ours[0];
  const theirTop = theirs.get(top) ?? -Infinity;
  return Math.max(...ours.map(([t, l]) => Math.abs(l - topLogprob - ((theirs.get(t) ?? -Infinity) - theirTop))));
}
