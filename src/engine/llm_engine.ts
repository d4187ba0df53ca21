/**
 * LLMEngine: the front end over EngineCore. It admits requests (refusing what the engine could never serve,
 * with the limit named), fans n > 1 out into n sequences that share the prompt's cached blocks, turns the
 * core's outputs into RequestOutputs (OutputProcessor), and publishes a stats record after every step.
 */
import type { Tokenizer } from "../tokenizer/tokenizer";
import type { EngineCore } from "./core";
import { OutputProcessor, type RequestState } from "./output_processor";
import type { CompletionOutput, EngineCoreOutputs, RequestOutput, SchedulerOutput, SchedulerStats } from "./outputs";
import { type SamplingParams, SamplingParamsError } from "./sampling_params";
import { emptyIterationStats, type IterationStats, type StatsListener } from "./stats";
import { StructuredOutputError } from "../structured_output/errors";
import type { StructuredOutputManager } from "../structured_output/structured_output_manager";

export interface EngineInput {
  promptTokenIds: readonly number[];
  cacheSalt?: string | null;
}

/** The limits admission checks a request against (from VllmConfig and the KV pool). */
export interface AdmissionLimits {
  maxModelLen: number;
  maxNumBatchedTokens: number;
  enableChunkedPrefill: boolean;
  /** Tokens the whole KV pool holds. */
  kvCacheTokens: number;
  /** The embedding table's rows: every prompt id must be below it. */
  vocabSize: number;
}

interface ParentRequest {
  requestId: string;
  childIds: string[];
  numFinished: number;
  /** The first sequence's state: the parent's prompt, prompt logprobs and timing (it outlives the sequence). */
  first: RequestState | null;
}

export class LLMEngine {
  readonly outputProcessor: OutputProcessor;
  private readonly parents = new Map<string, ParentRequest>();
  private readonly childToParent = new Map<string, ParentRequest>();
  private readonly listeners: StatsListener[] = [];
  private lastSchedulerStats: SchedulerStats | null = null;

  /** The step launched ahead of the front end's work (overlapOutputProcessing). */
  private pending: SchedulerOutput | null = null;

  constructor(
    readonly engineCore: EngineCore,
    readonly tokenizer: Tokenizer,
    readonly eosTokenIds: readonly number[],
    readonly limits: AdmissionLimits,
    /** Compiles structured-output grammars before admission; null on an engine without them. */
    readonly structuredOutputManager: StructuredOutputManager | null,
    /**
     * Launch step N+1 before the front end's work on step N's outputs (detokenization, stop strings), so that
     * work overlaps the forward pass, as vLLM's separate front-end process does. Only for a backend that
     * queues its work (cuda): on a synchronous one (cpu) it would hold step N's outputs back a whole forward.
     */
    private readonly overlapOutputProcessing = false,
  ) {
    this.outputProcessor = new OutputProcessor(tokenizer);
  }

  get maxModelLen(): number {
    return this.limits.maxModelLen;
  }

  /** Subscribes to the stats record published after every step and every abort. */
  onStats(listener: StatsListener): void {
    this.listeners.push(listener);
  }

  /**
   * Compiles the grammar of a request with `structuredOutputs` (a no-op without). Await it before addRequest:
   * it rejects with StructuredOutputError (HTTP 400) when the constraint is invalid, unsupported or too slow.
   */
  async prepareStructuredOutput(params: SamplingParams): Promise<void> {
    if (!params.structuredOutputs) return;
    if (this.structuredOutputManager === null) throw new StructuredOutputError("structured outputs are not available on this engine");
    await this.structuredOutputManager.prepare(params.structuredOutputs);
  }

  /** Queues a prompt; n > 1 fans out into n sequences. Throws SamplingParamsError for what can never be served. */
  addRequest(requestId: string, input: EngineInput, params: SamplingParams): void {
    if (this.parents.has(requestId)) throw new Error(`request id ${requestId} is already in use`);
    this.checkAdmission(input.promptTokenIds, params);
    const parent: ParentRequest = { requestId, childIds: [], numFinished: 0, first: null };
    const arrivalTime = performance.now() / 1000;
    try {
      for (let i = 0; i < params.n; i++) {
        const childParams = i === 0 || params.seed === null ? params : { ...params, seed: params.seed + i };
        const childId = params.n === 1 ? requestId : `${i}_${requestId}`;
        this.engineCore.addRequest({ reqId: childId, promptTokenIds: input.promptTokenIds, samplingParams: childParams, eosTokenIds: this.eosTokenIds, cacheSalt: input.cacheSalt ?? null, arrivalTime });
        parent.childIds.push(childId);
        this.childToParent.set(childId, parent);
        const st = this.outputProcessor.addRequest(childId, i, input.promptTokenIds, childParams, arrivalTime);
        parent.first ??= st;
      }
    } catch (e) {
      this.engineCore.abortRequests(parent.childIds); // a failure leaves nothing behind
      for (const id of parent.childIds) { this.childToParent.delete(id); this.outputProcessor.abort(id); this.outputProcessor.makeOutput(id, emptyIterationStats()); }
      throw e;
    }
    this.parents.set(requestId, parent);
  }

  /** Aborts requests wherever they are, freeing their blocks at once. Returns their final outputs. */
  abortRequest(requestIds: readonly string[]): RequestOutput[] {
    const outs: RequestOutput[] = [];
    const it = emptyIterationStats();
    for (const id of requestIds) {
      const parent = this.parents.get(id);
      if (!parent) continue;
      const live = parent.childIds.filter((c) => this.outputProcessor.get(c) !== undefined);
      this.engineCore.abortRequests(live);
      for (const c of live) this.outputProcessor.abort(c);
      outs.push(this.parentOutput(parent, live.map((c) => this.finishChild(parent, c, it))));
    }
    if (outs.length > 0) this.publish(this.engineCore.schedulerStats(), it);
    return outs;
  }

  hasUnfinishedRequests(): boolean {
    return this.parents.size > 0;
  }

  step(): RequestOutput[] {
    if (!this.overlapOutputProcessing) return this.processOutputs(this.engineCore.step());
    const scheduled = this.pending ?? this.engineCore.beginStep();
    this.pending = null;
    const core = this.engineCore.finishStep(scheduled);
    // A request a stop string ends below was already scheduled again: that extra token is dropped (as in vLLM).
    if (this.engineCore.hasUnfinishedRequests()) this.pending = this.engineCore.beginStep();
    return this.processOutputs(core);
  }

  /** Runs prompts to completion as one batch (offline use: `vllm generate`, `vllm bench`). */
  generate(inputs: readonly EngineInput[], params: SamplingParams | readonly SamplingParams[]): RequestOutput[] {
    const ids = inputs.map((input, i) => {
      const id = `gen-${i}-${performance.now().toFixed(3)}`;
      this.addRequest(id, input, Array.isArray(params) ? params[i] : (params as SamplingParams));
      return id;
    });
    const final = new Map<string, RequestOutput>();
    const cumulative = new Map<string, CompletionOutput[]>();
    while (this.hasUnfinishedRequests()) {
      for (const out of this.step()) {
        const acc = cumulative.get(out.requestId) ?? [];
        for (const o of out.outputs) acc[o.index] = o;
        cumulative.set(out.requestId, acc);
        if (out.finished) final.set(out.requestId, { ...out, outputs: acc });
      }
    }
    return ids.map((id) => final.get(id)!);
  }

  private checkAdmission(prompt: readonly number[], params: SamplingParams): void {
    const l = this.limits, promptLen = prompt.length;
    for (const id of prompt)
      if (!(Number.isInteger(id) && id >= 0 && id < l.vocabSize)) throw new SamplingParamsError("prompt", `token id ${id} is out of range for the model's vocabulary of ${l.vocabSize}`);
    if (promptLen === 0) throw new SamplingParamsError("prompt", "the prompt is empty");
    if (promptLen > l.maxModelLen)
      throw new SamplingParamsError("prompt", `the prompt has ${promptLen} tokens, longer than the maximum model length of ${l.maxModelLen} (--max-model-len)`);
    if (!l.enableChunkedPrefill && promptLen > l.maxNumBatchedTokens)
      throw new SamplingParamsError("prompt", `the prompt has ${promptLen} tokens, more than --max-num-batched-tokens ${l.maxNumBatchedTokens} with chunked prefill disabled`);
    if (promptLen > l.kvCacheTokens)
      throw new SamplingParamsError("prompt", `the prompt has ${promptLen} tokens; the whole KV cache holds ${l.kvCacheTokens}`);
    if (params.structuredOutputs && this.structuredOutputManager === null) throw new StructuredOutputError("structured outputs are not available on this engine");
  }

  private processOutputs(core: EngineCoreOutputs): RequestOutput[] {
    const now = performance.now() / 1000, it = emptyIterationStats();
    const byParent = new Map<ParentRequest, CompletionOutput[]>();
    let stopped = false;
    for (const o of core.outputs) {
      const parent = this.childToParent.get(o.reqId);
      if (!parent) continue;
      const stop = this.outputProcessor.processOutput(o, now, it);
      if (stop !== null && o.finishReason === null) { this.engineCore.stopRequests([o.reqId], stop); stopped = true; }
      const st = this.outputProcessor.get(o.reqId)!;
      if (o.newTokenIds.length === 0 && st.finishReason === null) continue; // prompt logprobs only: reported with the first token
      const out = st.finishReason !== null ? this.finishChild(parent, o.reqId, it) : this.outputProcessor.makeOutput(o.reqId, it);
      byParent.set(parent, [...(byParent.get(parent) ?? []), out]);
    }
    const s = core.schedulerStats, fresh = stopped ? this.engineCore.schedulerStats() : null;
    this.publish(fresh ? { ...fresh, numScheduledTokens: s.numScheduledTokens, numLogitsRows: s.numLogitsRows } : s, it);
    return [...byParent].map(([parent, outs]) => this.parentOutput(parent, outs));
  }

  private parentOutput(parent: ParentRequest, outputs: CompletionOutput[]): RequestOutput {
    const first = parent.first!;
    const finished = parent.numFinished === parent.childIds.length;
    return {
      requestId: parent.requestId, promptTokenIds: first.promptTokenIds, promptLogprobs: first.promptLogprobs, outputs, finished,
      metrics: {
        arrivalTime: first.arrivalTime, firstScheduledTime: first.firstScheduledTime, firstTokenTime: first.firstTokenTime,
        lastTokenTime: first.lastTokenTime, finishedTime: finished ? performance.now() / 1000 : null, numCachedTokens: first.numCachedTokens,
      },
    };
  }

  private finishChild(parent: ParentRequest, childId: string, it: IterationStats): CompletionOutput {
    const out = this.outputProcessor.makeOutput(childId, it);
    this.childToParent.delete(childId);
    if (++parent.numFinished === parent.childIds.length) this.parents.delete(parent.requestId);
    return out;
  }

  private publish(scheduler: SchedulerStats, iteration: IterationStats): void {
    this.lastSchedulerStats = scheduler;
    for (const l of this.listeners) l({ scheduler, iteration });
  }

  /** Sequences admitted and not yet running (new arrivals and preempted ones): what a queue cap counts. */
  get numWaitingSequences(): number {
    return this.childToParent.size - (this.lastSchedulerStats?.numRunningReqs ?? 0);
  }

  /** The newest scheduler snapshot (null before the first step). */
  get schedulerStats(): SchedulerStats | null {
    return this.lastSchedulerStats;
  }
}
