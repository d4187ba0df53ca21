// Host cost of one engine step with the device work taken away: the tiny Llama-3 model's backend ops are
// replaced by no-ops and sampling by a constant token, so what is left is the scheduler, the runner's input
// preparation, the sampling description, the update and the front end's output processing, per step, at
// the batch sizes of an offline run. Compare the figure with the GPU's forward time at the same batch
// (docs/benchmarks.md): whatever of it is not overlapped adds to every step.
//
//   bun bench/engine_overhead.ts [--seqs 1024] [--input-len 256] [--output-len 256]
import { parseArgs } from "node:util";
import type { SamplingBatch, SamplingResult, Tensor } from "../src/backend/backend";
import { MAX_SAMPLE_LOGPROBS } from "../src/backend/backend";
import { createEngine } from "../src/entrypoints/from_engine_args";
import { makeSamplingParams } from "../src/engine/sampling_params";
import { testEngineArgs } from "../test/support/engine_args";
import { tinyModelDir } from "../test/support/tiny_models";

const { values } = parseArgs({ options: { seqs: { type: "string", default: "1024" }, "input-len": { type: "string", default: "256" }, "output-len": { type: "string", default: "256" } } });
const seqs = Number(values.seqs), inputLen = Number(values["input-len"]), outputLen = Number(values["output-len"]);

const loaded = createEngine(testEngineArgs(tinyModelDir("llama3"), {
  maxModelLen: inputLen + outputLen, maxNumSeqs: seqs, maxNumBatchedTokens: 16384, kvCacheMemory: 2 * 1024 ** 3, enablePrefixCaching: process.env.PREFIX_CACHING !== "0",
}));
const { engine, backend } = loaded;
const b = backend as unknown as Record<string, unknown>;
for (const op of ["embedding", "rmsNorm", "addRmsNorm", "rope", "siluMul", "matmul", "reshapeAndCache", "pagedAttention", "logSoftmax", "topk"]) b[op] = () => {};
let sampledRows = 0;
b.sample = (_logits: Tensor, _vocab: number, batch: SamplingBatch): SamplingResult => {
  const n = batch.rows.length;
  sampledRows += n;
  return {
    tokenIds: new Int32Array(n).fill(1000), logprobs: new Float32Array(n), ranks: new Int32Array(n).fill(1),
    topIds: new Int32Array(n * MAX_SAMPLE_LOGPROBS).fill(-1), topLogprobs: new Float32Array(n * MAX_SAMPLE_LOGPROBS),
  };
};

const prompts = Array.from({ length: seqs }, (_, i) => ({ promptTokenIds: Array.from({ length: inputLen }, (_, j) => 1000 + ((i * 7919 + j * 31) % 100000)) }));
const params = makeSamplingParams({ temperature: 1, topP: 1, maxTokens: outputLen, ignoreEos: true });
const t0 = performance.now();
let steps = 0, decodeSteps = 0, decodeMs = 0;
prompts.forEach((p, i) => engine.addRequest(`r${i}`, p, params));
while (engine.hasUnfinishedRequests()) {
  const rows0 = sampledRows, s0 = performance.now();
  engine.step();
  const ms = performance.now() - s0;
  steps++;
  if (sampledRows - rows0 === seqs) { decodeSteps++; decodeMs += ms; }
}
const totalMs = performance.now() - t0;
const result = { seqs, input_len: inputLen, output_len: outputLen, steps, total_s: totalMs / 1000, decode_steps: decodeSteps, host_ms_per_decode_step: decodeMs / Math.max(1, decodeSteps), host_us_per_seq_per_decode_step: (1000 * decodeMs) / Math.max(1, decodeSteps) / seqs };
console.log(JSON.stringify(result));
