/**
 * ModelRunner: turns a SchedulerOutput into the flat batch (token ids, positions, slot mapping, block tables),
 * runs the model, and samples one token for each request whose known tokens are now all computed.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { SchedulerOutput } from "../engine/scheduler";
import type { TokenLogprobs } from "../engine/request";
import type { LlamaForCausalLM } from "../model/llama";
import type { ForwardBatch, KVCache } from "../model/forward_batch";
import { Generator } from "../sample/generator";
import { GpuSampler, type StepRows } from "../sample/gpu_sampling";
import { logSoftmax, sampleToken, tokenLogprobs } from "../sample/sampler";

export interface RunnerConfig {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  maxModelLen: number;
  blockSize: number;
  numBlocks: number;
  seed: number;
}

/** Plain-data result of one step, keyed by request id. */
export interface ModelRunnerOutput {
  sampled: Map<string, { tokenId: number; logprobs: TokenLogprobs | null }>;
  promptLogprobs: Map<string, (TokenLogprobs | null)[]>;
}

interface HostBatch {
  ids: Int32Array; positions: Int32Array; slots: Int32Array; blockTables: Int32Array;
  seqLens: Int32Array; queryStartLoc: Int32Array; logitsIndices: Int32Array;
}

export class ModelRunner {
  readonly kvCaches: KVCache[];
  private readonly host: HostBatch;
  private readonly dev: Record<keyof HostBatch, Tensor>;
  private readonly maxBlocksPerSeq: number;
  private readonly maxNumLogits: number;
  private readonly generator: Generator;
  /** Set when the backend samples on the device; else logits come to the host for sampler.ts. */
  private readonly gpuSampler: GpuSampler | null;

  constructor(readonly model: LlamaForCausalLM, readonly backend: Backend, readonly config: RunnerConfig) {
    const c = config, m = model.config;
    this.maxBlocksPerSeq = Math.ceil(c.maxModelLen / c.blockSize);
    this.maxNumLogits = model.maxNumLogits;
    this.generator = new Generator(c.seed);
    this.gpuSampler = backend.sample ? new GpuSampler(backend, m.vocabSize) : null;
    const kvShape = [c.numBlocks, c.blockSize, m.numKeyValueHeads, m.headDim];
    this.kvCaches = Array.from({ length: m.numHiddenLayers }, () => ({
      k: backend.empty(kvShape, backend.activationDtype),
      v: backend.empty(kvShape, backend.activationDtype),
      blockSize: c.blockSize,
    }));
    const T = c.maxNumBatchedTokens, S = c.maxNumSeqs;
    this.host = {
      ids: new Int32Array(T), positions: new Int32Array(T), slots: new Int32Array(T),
      blockTables: new Int32Array(S * this.maxBlocksPerSeq), seqLens: new Int32Array(S),
      queryStartLoc: new Int32Array(S + 1), logitsIndices: new Int32Array(this.maxNumLogits),
    };
    this.dev = Object.fromEntries(
      Object.entries(this.host).map(([k, a]) => [k, backend.empty([a.length], "i32")]),
    ) as Record<keyof HostBatch, Tensor>;
  }

  /**
   * `grammarBitmask` (structured outputs) gives the token bitmask of each constrained request that samples this
   * step; it runs after the forward pass is queued, so on an asynchronous backend the masks fill while it runs.
   */
  execute(out: SchedulerOutput, grammarBitmask: (() => ReadonlyMap<string, Int32Array> | null) | null = null): ModelRunnerOutput {
    const result: ModelRunnerOutput = { sampled: new Map(), promptLogprobs: new Map() };
    if (out.scheduled.length === 0) return result;
    const { batch, rows } = this.prepareInputs(out);
    const logitsDev = this.model.forward(batch, this.kvCaches);
    const bitmasks = grammarBitmask?.() ?? null;
    if (this.gpuSampler) {
      this.gpuSampler.sample(logitsDev, rows, bitmasks, this.generator, result);
      return result;
    }
    const vocab = this.model.config.vocabSize;
    const logits = this.backend.readF32(logitsDev, batch.numLogits * vocab);
    for (const r of rows) {
      const row = (i: number) => logits.subarray(i * vocab, (i + 1) * vocab);
      if (r.promptRows.length > 0) {
        const k = r.req.samplingParams.promptLogprobs!;
        result.promptLogprobs.set(r.req.requestId, r.promptRows.map(([i, pos]) => tokenLogprobs(logSoftmax(row(i)), r.req.promptTokenIds[pos + 1], k)));
      }
      if (r.sampleRow >= 0) result.sampled.set(r.req.requestId, sampleToken(row(r.sampleRow), r.req, this.generator, bitmasks?.get(r.req.requestId) ?? null));
    }
    return result;
  }

  private prepareInputs(out: SchedulerOutput) {
    const h = this.host, bs = this.config.blockSize;
    // promptRows: [logits row, position] pairs whose logits score the next prompt token.
    const rows: StepRows[] = [];
    let t = 0, nLogits = 0;
    h.queryStartLoc[0] = 0;
    out.scheduled.forEach((s, i) => {
      const req = s.request, start = req.numComputedTokens;
      if (i >= this.config.maxNumSeqs || t + s.numNewTokens > h.ids.length) throw new Error("ModelRunner: step exceeds the configured batch limits");
      const promptRows: [number, number][] = [];
      const wantPrompt = req.samplingParams.promptLogprobs !== null && start < req.numPromptTokens;
      const covered = req.promptLogprobs?.length ?? 1; // a recomputed (preempted) prompt is not scored twice
      for (let j = 0; j < s.numNewTokens; j++, t++) {
        const pos = start + j;
        h.ids[t] = req.tokenAt(pos);
        h.positions[t] = pos;
        h.slots[t] = s.blockIds[Math.floor(pos / bs)] * bs + (pos % bs);
        if (wantPrompt && pos + 1 < req.numPromptTokens && pos + 1 >= covered) { promptRows.push([nLogits, pos]); h.logitsIndices[nLogits++] = t; }
      }
      const end = start + s.numNewTokens;
      let sampleRow = -1;
      if (end === req.numTokens) { sampleRow = nLogits; h.logitsIndices[nLogits++] = t - 1; }
      h.blockTables.fill(0, i * this.maxBlocksPerSeq, (i + 1) * this.maxBlocksPerSeq);
      h.blockTables.set(s.blockIds, i * this.maxBlocksPerSeq);
      h.seqLens[i] = end;
      h.queryStartLoc[i + 1] = t;
      rows.push({ req, sampleRow, promptRows });
    });
    const numSeqs = out.scheduled.length;
    for (const key of Object.keys(h) as (keyof HostBatch)[]) this.backend.write(this.dev[key], h[key]);
    const batch: ForwardBatch = {
      numTokens: t, inputIds: this.dev.ids, positions: this.dev.positions, slotMapping: this.dev.slots,
      attn: { blockTables: this.dev.blockTables, maxBlocksPerSeq: this.maxBlocksPerSeq, seqLens: this.dev.seqLens, queryStartLoc: this.dev.queryStartLoc, numSeqs },
      numLogits: nLogits, logitsIndices: this.dev.logitsIndices,
    };
    return { batch, rows };
  }
}
