/**
 * LLMEngine: owns the scheduler, the model runner and the output processor. One step is
 * schedule → execute → update, and every request (the n samples of one prompt too) moves through it.
 */
import type { Tokenizer } from "../tokenizer/tokenizer";
import type { ModelRunner } from "../runner/model_runner";
import { checkStopTokens } from "./stop_checker";
import { OutputProcessor, requestOutput } from "./output_processor";
import type { CompletionOutput, RequestOutput } from "./outputs";
import { Request, RequestStatus } from "./request";
import type { SamplingParams } from "./sampling_params";
import type { Scheduler, SchedulerOutput } from "./scheduler";
import type { ModelRunnerOutput } from "../runner/model_runner";
import { EngineStats } from "./stats";
import { StructuredOutputError } from "../structured_output/errors";
import { finishOnGrammar, type RequestGrammar } from "../structured_output/request_grammar";
import type { StructuredOutputManager } from "../structured_output/structured_output_manager";

interface ParentRequest {
  requestId: string;
  children: Request[];
  numFinished: number;
}

export interface EngineInput {
  promptTokenIds: readonly number[];
  cacheSalt?: string | null;
}

export class LLMEngine {
  readonly outputProcessor: OutputProcessor;
  readonly stats = new EngineStats();
  private readonly parents = new Map<string, ParentRequest>();
  private readonly childToParent = new Map<string, ParentRequest>();
  /** Compiles and tracks structured-output grammars; null on an engine without them (issue 6). */
  structuredOutputManager: StructuredOutputManager | null = null;

  constructor(
    readonly scheduler: Scheduler,
    readonly runner: ModelRunner,
    readonly tokenizer: Tokenizer,
    readonly eosTokenIds: readonly number[],
    readonly maxModelLen: number,
  ) {
    this.outputProcessor = new OutputProcessor(tokenizer);
  }

  /**
   * Compiles the grammar of a request with `structuredOutputs` (a no-op without). Await it before addRequest:
   * it rejects with StructuredOutputError (HTTP 400) when the constraint is invalid, unsupported or too slow to
   * compile, and addRequest throws StructuredOutputError synchronously for a constraint that was not prepared.
   */
  async prepareStructuredOutput(params: SamplingParams): Promise<void> {
    if (!params.structuredOutputs) return;
    if (this.structuredOutputManager === null) throw new StructuredOutputError("structured outputs are not available on this engine");
    await this.structuredOutputManager.prepare(params.structuredOutputs);
  }

  /** Queues a prompt; n > 1 fans out into n child requests that share the prompt's cached blocks. */
  addRequest(requestId: string, input: EngineInput, params: SamplingParams): void {
    if (this.parents.has(requestId)) throw new Error(`request id ${requestId} is already in use`);
    if (input.promptTokenIds.length === 0) throw new Error("the prompt is empty");
    const grammars = this.createGrammars(params);
    const parent: ParentRequest = { requestId, children: [], numFinished: 0 };
    for (let i = 0; i < params.n; i++) {
      const childParams = i === 0 || params.seed === null ? params : { ...params, seed: params.seed + i };
      const childId = params.n === 1 ? requestId : `${i}_${requestId}`;
      const req = new Request(childId, input.promptTokenIds, childParams, this.eosTokenIds, input.cacheSalt ?? null);
      req.grammar = grammars?.[i] ?? null;
      parent.children.push(req);
      this.childToParent.set(childId, parent);
      this.outputProcessor.addRequest(req, i);
      this.scheduler.addRequest(req);
    }
    this.parents.set(requestId, parent);
    this.stats.onArrival();
  }

  /** Aborts requests wherever they are, freeing their blocks at once. Returns their final outputs. */
  abortRequest(requestIds: readonly string[]): RequestOutput[] {
    const outs: RequestOutput[] = [];
    for (const id of requestIds) {
      const parent = this.parents.get(id);
      if (!parent) continue;
      const done: CompletionOutput[] = [];
      for (const req of parent.children) {
        if (req.isFinished) continue;
        this.scheduler.finishRequest(req, RequestStatus.FINISHED_ABORTED);
        done.push(this.finishChild(parent, req));
      }
      outs.push(requestOutput(parent.requestId, parent.children[0], done, true));
    }
    return outs;
  }

  hasUnfinishedRequests(): boolean {
    return this.parents.size > 0;
  }

  step(): RequestOutput[] {
    const so = this.scheduler.schedule();
    const grammar = this.structuredOutputManager;
    const ro = this.runner.execute(so, grammar && (() => grammar.grammarBitmask(so.scheduled)));
    return this.update(so, ro);
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

  // All of a request's matchers are made before any child is queued, so a failure leaves nothing behind.
  private createGrammars(params: SamplingParams): RequestGrammar[] | null {
    if (!params.structuredOutputs) return null;
    const manager = this.structuredOutputManager;
    if (manager === null) throw new StructuredOutputError("structured outputs are not available on this engine");
    const grammars: RequestGrammar[] = [];
    try {
      for (let i = 0; i < params.n; i++) grammars.push(manager.createRequestGrammar(params.structuredOutputs));
    } catch (e) {
      for (const g of grammars) g.dispose();
      throw e;
    }
    return grammars;
  }

  private update(so: SchedulerOutput, ro: ModelRunnerOutput): RequestOutput[] {
    const now = performance.now() / 1000;
    this.stats.onStep(so, this.scheduler);
    const byParent = new Map<ParentRequest, CompletionOutput[]>();
    for (const s of so.scheduled) {
      const pl = ro.promptLogprobs.get(s.request.requestId);
      if (pl) (s.request.promptLogprobs ??= [null]).push(...pl);
    }
    for (const req of this.scheduler.updateFromOutput(so)) {
      const sample = ro.sampled.get(req.requestId);
      if (!sample) continue;
      req.outputTokenIds.push(sample.tokenId);
      if (sample.logprobs) req.outputLogprobs.push(sample.logprobs);
      this.stats.onToken(req, now);
      req.firstTokenTime ??= now;
      req.lastTokenTime = now;
      const stopped = finishOnGrammar(req, sample.tokenId) || checkStopTokens(req, this.maxModelLen);
      const stoppedByString = this.outputProcessor.processNewTokens(req, stopped && req.status === RequestStatus.FINISHED_STOPPED);
      if (stopped || stoppedByString) this.scheduler.finishRequest(req, req.status);
      const parent = this.childToParent.get(req.requestId)!;
      const out = req.isFinished ? this.finishChild(parent, req) : this.outputProcessor.makeOutput(req);
      byParent.set(parent, [...(byParent.get(parent) ?? []), out]);
    }
    return [...byParent].map(([parent, outs]) =>
      requestOutput(parent.requestId, parent.children[0], outs, parent.numFinished === parent.children.length));
  }

  private finishChild(parent: ParentRequest, req: Request): CompletionOutput {
    req.grammar?.dispose();
    const out = this.outputProcessor.makeOutput(req);
    this.stats.onFinished(req);
    this.childToParent.delete(req.requestId);
    if (++parent.numFinished === parent.children.length) this.parents.delete(parent.requestId);
    return out;
  }
}
