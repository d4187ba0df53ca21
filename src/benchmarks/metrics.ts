/**
 * vLLM's serving metrics from per-request outputs. TTFT: to the first token chunk. TPOT: the time after the
 * first token divided by the tokens after it (requests with one output token have none). ITL: every gap
 * between token chunks, pooled over requests. E2EL: send to last token. All summaries in milliseconds.
 */
import type { RequestFuncOutput } from "./request_func";
import { mean, median, percentile, std } from "./stats";

export const METRIC_NAMES = ["ttft", "tpot", "itl", "e2el"] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export interface MetricSummary {
  mean: number;
  median: number;
  std: number;
  percentiles: [p: number, value: number][];
}

export interface BenchmarkMetrics {
  completed: number;
  failed: number;
  totalInput: number;
  totalOutput: number;
  requestThroughput: number;
  requestGoodput: number;
  outputThroughput: number;
  totalTokenThroughput: number;
  summaries: Record<MetricName, MetricSummary>;
  /** Output tokens in the busiest one-second bucket, and the most requests in flight at any instant. */
  maxOutputTokensPerS: number;
  maxConcurrentRequests: number;
}

/** Service-level objectives in ms for --goodput (a request is good when it meets every one given). */
export type GoodputSlos = Partial<Record<"ttft" | "tpot" | "e2el", number>>;

interface PerRequest { ttft: number; tpot: number; e2el: number }

export function calculateMetrics(
  outputs: readonly RequestFuncOutput[], durS: number, countTokens: (text: string) => number, pcts: readonly number[], slos: GoodputSlos,
): { metrics: BenchmarkMetrics; outputLens: number[] } {
  const outputLens = outputs.map((o) => (!o.success ? 0 : o.outputTokens || countTokens(o.generatedText)));
  const ok = outputs.map((o, i) => ({ o, len: outputLens[i] })).filter((x) => x.o.success);
  const per: PerRequest[] = ok.map(({ o, len }) => ({ ttft: o.ttft, e2el: o.latency, tpot: len > 1 ? (o.latency - o.ttft) / (len - 1) : 0 }));
  const series: Record<MetricName, number[]> = {
    ttft: per.map((r) => r.ttft),
    tpot: ok.flatMap(({ len }, i) => (len > 1 ? [per[i].tpot] : [])),
    itl: ok.flatMap(({ o }) => o.itl),
    e2el: per.map((r) => r.e2el),
  };
  const totalInput = ok.reduce((a, { o }) => a + o.promptLen, 0);
  const totalOutput = outputLens.reduce((a, b) => a + b, 0);
  const metrics: BenchmarkMetrics = {
    completed: ok.length, failed: outputs.length - ok.length, totalInput, totalOutput,
    requestThroughput: ok.length / durS, requestGoodput: per.filter((r) => isGood(r, slos)).length / durS,
    outputThroughput: totalOutput / durS, totalTokenThroughput: (totalInput + totalOutput) / durS,
    summaries: Object.fromEntries(METRIC_NAMES.map((m) => [m, summarize(series[m], pcts)])) as Record<MetricName, MetricSummary>,
    maxOutputTokensPerS: peakTokensPerSecond(ok.map((x) => x.o)), maxConcurrentRequests: peakConcurrency(ok.map((x) => x.o)),
  };
  return { metrics, outputLens };
}

function summarize(seconds: readonly number[], pcts: readonly number[]): MetricSummary {
  const ms = seconds.map((s) => s * 1000);
  return { mean: mean(ms), median: median(ms), std: std(ms), percentiles: pcts.map((p) => [p, percentile(ms, p)]) };
}

function isGood(r: PerRequest, slos: GoodputSlos): boolean {
  return (Object.entries(slos) as [keyof PerRequest, number][]).every(([k, slo]) => r[k] * 1000 <= slo);
}

/** Tokens per one-second bucket from the first send, each token placed at its chunk's arrival. */
function peakTokensPerSecond(ok: readonly RequestFuncOutput[]): number {
  if (ok.length === 0) return 0;
  const t0 = ok.reduce((a, o) => Math.min(a, o.startTime), Infinity);
  const buckets = new Map<number, number>();
  for (const o of ok) {
    let t = o.startTime + o.ttft;
    for (const gap of [0, ...o.itl]) {
      t += gap;
      const b = Math.floor(t - t0);
      buckets.set(b, (buckets.get(b) ?? 0) + 1);
    }
  }
  let peak = 0;
  for (const n of buckets.values()) peak = Math.max(peak, n);
  return peak;
}

/** The most requests in flight at once, over half-open [start, end) intervals. */
function peakConcurrency(ok: readonly RequestFuncOutput[]): number {
  const events = ok.flatMap((o) => [[o.startTime, 1], [o.startTime + o.latency, -1]] as [number, number][]);
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let cur = 0, peak = 0;
  for (const [, d] of events) peak = Math.max(peak, (cur += d));
  return peak;
}
