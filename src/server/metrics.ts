/**
 * Prometheus metrics with vLLM's `vllm:*` names and a `model_name` label, so dashboards built for vLLM
 * work unchanged. Everything is fed from the stats record the engine publishes after each step.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { LLMEngine } from "../engine/llm_engine";
import type { EngineStepStats, FinishedRequestStats } from "../engine/stats";

// vLLM's bucket boundaries, so histogram quantiles compare across the two servers.
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560];
const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];
const LATENCY_BUCKETS = [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680];

/** 1, 2, 5, 10, 20, 50, ... up to `max`. */
export function buckets125(max: number): number[] {
  const out: number[] = [];
  for (let exp = 1; ; exp *= 10) {
    for (const m of [1, 2, 5]) {
      if (m * exp > max) return out;
      out.push(m * exp);
    }
  }
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly labels: { model_name: string };
  private readonly finished: Counter<"model_name" | "finished_reason">;
  private readonly ttft: Histogram<"model_name">;
  private readonly itl: Histogram<"model_name">;
  private readonly e2e: Histogram<"model_name">;
  private readonly queue: Histogram<"model_name">;
  private readonly promptTokens: Histogram<"model_name">;
  private readonly generationTokens: Histogram<"model_name">;

  private readonly gauges: Record<"running" | "waiting" | "kvUsage" | "gpuCacheUsage", Gauge<"model_name">>;
  private readonly counters: Record<"prompt" | "generation" | "preemptions" | "prefixQueries" | "prefixHits" | "gpuPrefixQueries" | "gpuPrefixHits", Counter<"model_name">>;
  private last = { preemptions: 0, prefixQueries: 0, prefixHits: 0 };

  constructor(engine: LLMEngine, modelName: string, maxModelLen: number, cache: { blockSize: number; numBlocks: number }) {
    this.labels = { model_name: modelName };
    const registers = [this.registry];
    new Gauge({ name: "vllm:cache_config_info", help: "Information of the LLMEngine CacheConfig.", labelNames: ["model_name", "block_size", "num_gpu_blocks"], registers })
      .set({ model_name: modelName, block_size: String(cache.blockSize), num_gpu_blocks: String(cache.numBlocks) }, 1);
    const labelNames = ["model_name"] as const;
    const gauge = (name: string, help: string) => {
      const g = new Gauge({ name, help, labelNames, registers });
      g.set(this.labels, 0);
      return g;
    };
    this.gauges = {
      running: gauge("vllm:num_requests_running", "Number of requests in model execution batches."),
      waiting: gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed."),
      kvUsage: gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage."),
      // The names vLLM used before its rename; routers (production-stack, older llm-d) still scrape them.
      gpuCacheUsage: gauge("vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage (older name of vllm:kv_cache_usage_perc)."),
    };
    const counter = (name: string, help: string) => {
      const c = new Counter({ name, help, labelNames, registers });
      c.inc(this.labels, 0); // a fresh server shows 0, not a missing series
      return c;
    };
    this.counters = {
      prompt: counter("vllm:prompt_tokens_total", "Number of prefill tokens processed."),
      generation: counter("vllm:generation_tokens_total", "Number of generation tokens processed."),
      preemptions: counter("vllm:num_preemptions_total", "Cumulative number of preemptions from the engine."),
      prefixQueries: counter("vllm:prefix_cache_queries_total", "Prefix cache queries, in terms of number of queried tokens."),
      prefixHits: counter("vllm:prefix_cache_hits_total", "Prefix cache hits, in terms of number of cached tokens."),
      gpuPrefixQueries: counter("vllm:gpu_prefix_cache_queries_total", "Older name of vllm:prefix_cache_queries_total."),
      gpuPrefixHits: counter("vllm:gpu_prefix_cache_hits_total", "Older name of vllm:prefix_cache_hits_total."),
    };
    this.finished = new Counter({ name: "vllm:request_success_total", help: "Count of successfully processed requests.", labelNames: ["model_name", "finished_reason"], registers });
    for (const reason of ["stop", "length", "abort"]) this.finished.inc({ model_name: modelName, finished_reason: reason }, 0);

    const histogram = (name: string, help: string, buckets: number[]) => {
      const h = new Histogram({ name, help, labelNames, buckets, registers });
      h.zero(this.labels);
      return h;
    };
    this.ttft = histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", TTFT_BUCKETS);
    this.itl = histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.", ITL_BUCKETS);
    this.e2e = histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", LATENCY_BUCKETS);
    this.queue = histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.", LATENCY_BUCKETS);
    this.promptTokens = histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", buckets125(maxModelLen));
    this.generationTokens = histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", buckets125(maxModelLen));
    engine.onStats((s) => this.onStats(s));
  }

  private onStats({ scheduler: s, iteration: it }: EngineStepStats): void {
    const l = this.labels, c = this.counters;
    this.gauges.running.set(l, s.numRunningReqs);
    this.gauges.waiting.set(l, s.numWaitingReqs);
    this.gauges.kvUsage.set(l, s.kvCacheUsage);
    this.gauges.gpuCacheUsage.set(l, s.kvCacheUsage);
    c.prompt.inc(l, it.numPromptTokens);
    c.generation.inc(l, it.numGenerationTokens);
    // The scheduler's counts are cumulative; the counters take what accrued since the previous record.
    c.preemptions.inc(l, Math.max(0, s.numPreemptions - this.last.preemptions));
    const queries = Math.max(0, s.prefixCacheQueries - this.last.prefixQueries), hits = Math.max(0, s.prefixCacheHits - this.last.prefixHits);
    c.prefixQueries.inc(l, queries);
    c.prefixHits.inc(l, hits);
    c.gpuPrefixQueries.inc(l, queries);
    c.gpuPrefixHits.inc(l, hits);
    this.last = { preemptions: s.numPreemptions, prefixQueries: s.prefixCacheQueries, prefixHits: s.prefixCacheHits };
    for (const f of it.finished) this.onRequestFinished(f);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  private onRequestFinished(s: FinishedRequestStats): void {
    const l = this.labels;
    this.finished.inc({ ...l, finished_reason: s.finishReason });
    if (s.timeToFirstToken !== null) this.ttft.observe(l, s.timeToFirstToken);
    for (const x of s.interTokenLatencies) this.itl.observe(l, x);
    this.e2e.observe(l, s.e2eLatency);
    this.queue.observe(l, s.queueTime);
    this.promptTokens.observe(l, s.numPromptTokens);
    this.generationTokens.observe(l, s.numGenerationTokens);
  }
}
