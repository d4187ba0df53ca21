/** The `bench serve` result: vLLM's printed table and the keys of its result JSON, from the metrics. */
import type { BenchmarkMetrics, MetricName } from "./metrics";
import { METRIC_NAMES } from "./metrics";
import { centered, row, rowF } from "./py_format";
import type { RequestFuncOutput } from "./request_func";

const SECTIONS: Record<MetricName, { short: string; header: string }> = {
  ttft: { short: "TTFT", header: "Time to First Token" },
  tpot: { short: "TPOT", header: "Time per Output Token (excl. 1st token)" },
  itl: { short: "ITL", header: "Inter-token Latency" },
  e2el: { short: "E2EL", header: "End-to-end Latency" },
};

export interface TableContext {
  duration: number;
  maxConcurrency: number | null;
  requestRate: number;
  goodput: boolean;
}

export function formatTable(m: BenchmarkMetrics, ctx: TableContext, selected: readonly MetricName[]): string[] {
  const lines = [
    centered(" Serving Benchmark Result ", "="),
    row("Successful requests:", m.completed),
    row("Failed requests:", m.failed),
  ];
  if (ctx.maxConcurrency !== null) lines.push(row("Maximum request concurrency:", ctx.maxConcurrency));
  if (ctx.requestRate !== Infinity) lines.push(rowF("Request rate configured (RPS):", ctx.requestRate));
  lines.push(
    rowF("Benchmark duration (s):", ctx.duration),
    row("Total input tokens:", m.totalInput),
    row("Total generated tokens:", m.totalOutput),
    rowF("Request throughput (req/s):", m.requestThroughput),
  );
  if (ctx.goodput) lines.push(rowF("Request goodput (req/s):", m.requestGoodput));
  lines.push(
    rowF("Output token throughput (tok/s):", m.outputThroughput),
    rowF("Peak output token throughput (tok/s):", m.maxOutputTokensPerS),
    rowF("Peak concurrent requests:", m.maxConcurrentRequests),
    rowF("Total Token throughput (tok/s):", m.totalTokenThroughput),
  );
  for (const name of METRIC_NAMES) if (selected.includes(name)) lines.push(...section(m, name));
  lines.push("=".repeat(50));
  return lines;
}

function section(m: BenchmarkMetrics, name: MetricName): string[] {
  const s = m.summaries[name], { short, header } = SECTIONS[name];
  return [
    centered(header, "-"),
    rowF(`Mean ${short} (ms):`, s.mean),
    rowF(`Median ${short} (ms):`, s.median),
    ...s.percentiles.map(([p, v]) => rowF(`P${percentileWord(p)} ${short} (ms):`, v)),
  ];
}

/** 99 → "99", 99.9 → "99.9": the suffix vLLM puts in `p99_ttft_ms` and `P99 TTFT (ms):` (Python prints 99.0 as 99 there). */
function percentileWord(p: number): string {
  return String(p);
}

/** The benchmark part of vLLM's result JSON (the run's settings are merged in by the caller). */
export function resultKeys(m: BenchmarkMetrics, outputs: readonly RequestFuncOutput[], outputLens: readonly number[], duration: number,
  selected: readonly MetricName[], goodput: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {
    duration, completed: m.completed, failed: m.failed, total_input_tokens: m.totalInput, total_output_tokens: m.totalOutput,
    request_throughput: m.requestThroughput, request_goodput: goodput ? m.requestGoodput : null, output_throughput: m.outputThroughput,
    total_token_throughput: m.totalTokenThroughput,
    input_lens: outputs.map((o) => o.promptLen), output_lens: outputLens, ttfts: outputs.map((o) => o.ttft), itls: outputs.map((o) => o.itl),
    generated_texts: outputs.map((o) => o.generatedText), errors: outputs.map((o) => o.error),
    max_output_tokens_per_s: m.maxOutputTokensPerS, max_concurrent_requests: m.maxConcurrentRequests,
  };
  for (const name of METRIC_NAMES) {
    if (!selected.includes(name)) continue;
    const s = m.summaries[name];
    Object.assign(out, { [`mean_${name}_ms`]: s.mean, [`median_${name}_ms`]: s.median, [`std_${name}_ms`]: s.std });
    for (const [p, v] of s.percentiles) out[`p${percentileWord(p)}_${name}_ms`] = v;
  }
  return out;
}
