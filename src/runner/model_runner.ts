/**
 * ModelRunner: keeps its own InputBatch, turns a SchedulerOutput into the flat batch (token ids, positions,
 * slot mapping, block tables), runs the model (executeModel), then samples (sampleTokens) once the grammar
 * bitmasks are known, so on an asynchronous backend the masks fill while the forward pass runs. It owns the
 * step's capacities and reports them; every write into its fixed buffers is checked against them.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { ModelRunnerOutput, SchedulerOutput } from "../engine/outputs";
import type { ForwardBatch, KVCache } from "../model/forward_batch";
import type { CausalLM } from "../model/causal_lm";
import { Generator } from "../sample/generator";
import { promptEntry, sampleEntry, type SamplingEntry } from "../sample/sampling_metadata";
import { sampleEntries } from "../sample/step_sampler";
import { InputBatch } from "./input_batch";

export interface RunnerConfig {
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  maxNumLogitsRows: number;
  maxModelLen: number;
  blockSize: number;
  numBlocks: number;
  seed: number;
}

/** What one step may hold; the scheduler budgets against these. */
export interface RunnerCapacity {
  maxNumTokens: number;
  maxNumSeqs: number;
  maxNumLogitsRows: number;
}

interface HostBatch {
  ids: Int32Array; positions: Int32Array; slots: Int32Array; blockTables: Int32Array;
  seqLens: Int32Array; queryStartLoc: Int32Array; logitsIndices: Int32Array;
}

/** A sampling row: the request it belongs to, and whether it samples or scores a prompt token. */
interface RowOwner { reqId: string; prompt: boolean }

export class ModelRunner {
  readonly kvCaches: KVCache[];
  readonly capacity: RunnerCapacity;
  private readonly inputBatch = new InputBatch();
  private readonly host: HostBatch;
  private readonly dev: Record<keyof HostBatch, Tensor>;
  private readonly maxBlocksPerSeq: number;
  private readonly generator: Generator;
  private pending: { so: SchedulerOutput; logits: Tensor; owners: RowOwner[]; rows: number[] } | null = null;

  constructor(readonly model: CausalLM, readonly backend: Backend, readonly config: RunnerConfig) {
    const c = config, m = model.config;
    if (model.maxNumTokens < c.maxNumBatchedTokens || model.maxNumLogits < c.maxNumLogitsRows) throw new Error("ModelRunner: the model's workspace is smaller than the runner's capacity");
    this.capacity = { maxNumTokens: c.maxNumBatchedTokens, maxNumSeqs: c.maxNumSeqs, maxNumLogitsRows: c.maxNumLogitsRows };
    this.maxBlocksPerSeq = Math.ceil(c.maxModelLen / c.blockSize);
    this.generator = new Generator(c.seed);
    const kvShape = [c.numBlocks, c.blockSize, m.numKeyValueHeads, m.headDim];
    this.kvCaches = Array.from({ length: m.numHiddenLayers }, () => ({
      k: backend.empty(kvShape, backend.activationDtype), v: backend.empty(kvShape, backend.activationDtype), blockSize: c.blockSize,
    }));
    const T = c.maxNumBatchedTokens, S = c.maxNumSeqs;
    this.host = {
      ids: new Int32Array(T), positions: new Int32Array(T), slots: new Int32Array(T),
      blockTables: new Int32Array(S * this.maxBlocksPerSeq), seqLens: new Int32Array(S),
      queryStartLoc: new Int32Array(S + 1), logitsIndices: new Int32Array(c.maxNumLogitsRows),
    };
    this.dev = Object.fromEntries(Object.entries(this.host).map(([k, a]) => [k, backend.empty([a.length], "i32")])) as Record<keyof HostBatch, Tensor>;
  }

  /** Queues the step's forward pass. */
  executeModel(so: SchedulerOutput): void {
    if (this.pending) throw new Error("ModelRunner: executeModel twice without sampleTokens");
    this.inputBatch.update(so);
    if (so.scheduled.length === 0) return;
    const { batch, owners, rows } = this.prepareInputs(so);
    this.pending = { so, logits: this.model.forward(batch, this.kvCaches), owners, rows };
  }

  /** Samples the step queued by executeModel; `bitmasks` holds the grammar mask of each constrained request that samples. */
  sampleTokens(bitmasks: ReadonlyMap<string, Int32Array> | null): ModelRunnerOutput {
    const out: ModelRunnerOutput = { sampledTokenIds: new Map(), logprobs: new Map(), promptLogprobs: new Map() };
    const p = this.pending;
    if (p === null) return out;
    this.pending = null;
    const vocab = this.model.config.vocabSize;
    const entries: SamplingEntry[] = p.owners.map((o, row) => {
      const st = this.inputBatch.get(o.reqId);
      if (o.prompt) return promptEntry(row, st.tokenIds[p.rows[row] + 1], st.samplingParams.promptLogprobs!);
      return sampleEntry(st, row, vocab, this.generator, bitmasks?.get(o.reqId) ?? null);
    });
    const results = sampleEntries(this.backend, p.logits, vocab, entries);
    p.owners.forEach((o, row) => {
      const r = results[row];
      if (o.prompt) {
        const list = out.promptLogprobs.get(o.reqId) ?? [];
        list.push(r.logprobs!);
        out.promptLogprobs.set(o.reqId, list);
        return;
      }
      out.sampledTokenIds.set(o.reqId, r.tokenId);
      if (r.logprobs) out.logprobs.set(o.reqId, r.logprobs);
      this.inputBatch.get(o.reqId).tokenIds.push(r.tokenId);
    });
    return out;
  }

  private prepareInputs(so: SchedulerOutput) {
    const h = this.host, bs = this.config.blockSize, cap = this.capacity;
    const owners: RowOwner[] = [], rows: number[] = []; // rows: the position each logits row reads
    if (so.scheduled.length > cap.maxNumSeqs) throw new Error(`ModelRunner: ${so.scheduled.length} sequences exceed the capacity of ${cap.maxNumSeqs}`);
    if (so.totalNumScheduledTokens > cap.maxNumTokens || so.numLogitsRows > cap.maxNumLogitsRows)
      throw new Error(`ModelRunner: the step (${so.totalNumScheduledTokens} tokens, ${so.numLogitsRows} logits rows) exceeds the capacity (${cap.maxNumTokens}, ${cap.maxNumLogitsRows})`);
    let t = 0, maxQueryLen = 0;
    h.queryStartLoc[0] = 0;
    so.scheduled.forEach((s, i) => {
      const st = this.inputBatch.get(s.reqId), start = s.numComputedTokens, end = start + s.numNewTokens;
      if (t + s.numNewTokens > cap.maxNumTokens || end > st.tokenIds.length || s.blockIds.length > this.maxBlocksPerSeq || s.blockIds.length * bs < end)
        throw new Error(`ModelRunner: request ${s.reqId} does not fit its buffers (tokens ${start}..${end} of ${st.tokenIds.length}, ${s.blockIds.length} blocks)`);
      for (let pos = start; pos < end; pos++, t++) {
        h.ids[t] = st.tokenIds[pos];
        h.positions[t] = pos;
        h.slots[t] = s.blockIds[Math.floor(pos / bs)] * bs + (pos % bs);
        if (s.promptLogprobs && pos >= s.promptLogprobs.from && pos < s.promptLogprobs.to) this.addRow(owners, rows, s.reqId, true, pos, t);
      }
      if (s.samples) this.addRow(owners, rows, s.reqId, false, end - 1, t - 1);
      h.blockTables.fill(0, i * this.maxBlocksPerSeq, (i + 1) * this.maxBlocksPerSeq);
      h.blockTables.set(s.blockIds, i * this.maxBlocksPerSeq);
      h.seqLens[i] = end;
      h.queryStartLoc[i + 1] = t;
      maxQueryLen = Math.max(maxQueryLen, s.numNewTokens);
    });
    for (const key of Object.keys(h) as (keyof HostBatch)[]) this.backend.write(this.dev[key], h[key]);
    const batch: ForwardBatch = {
      numTokens: t, inputIds: this.dev.ids, positions: this.dev.positions, slotMapping: this.dev.slots,
      attn: { blockTables: this.dev.blockTables, maxBlocksPerSeq: this.maxBlocksPerSeq, seqLens: this.dev.seqLens, queryStartLoc: this.dev.queryStartLoc, numSeqs: so.scheduled.length, maxQueryLen },
      numLogits: owners.length, logitsIndices: this.dev.logitsIndices,
    };
    return { batch, owners, rows };
  }

  private addRow(owners: RowOwner[], rows: number[], reqId: string, prompt: boolean, pos: number, flatIndex: number): void {
    if (owners.length >= this.capacity.maxNumLogitsRows) throw new Error(`ModelRunner: more than ${this.capacity.maxNumLogitsRows} logits rows in one step`);
    this.host.logitsIndices[owners.length] = flatIndex;
    owners.push({ reqId, prompt });
    rows.push(pos);
  }
}
