/** The periodic engine stats line (throughput, queue, KV usage, prefix-cache hit rate); off with --disable-log-stats. */
import type { ServerState } from "./state";

export const STATS_INTERVAL_MS = 10_000;

/** Logs one line per interval while the engine has work or just had some; returns a stop function. */
export function startStatLogger(state: ServerState, intervalMs = STATS_INTERVAL_MS): () => void {
  const engine = state.llm.engine, stats = engine.stats, scheduler = engine.scheduler, kv = scheduler.kv;
  let last = { t: performance.now(), prompt: stats.promptTokens, gen: stats.generationTokens, queries: kv.prefixCacheQueries, hits: kv.prefixCacheHits };
  const timer = setInterval(() => {
    const now = { t: performance.now(), prompt: stats.promptTokens, gen: stats.generationTokens, queries: kv.prefixCacheQueries, hits: kv.prefixCacheHits };
    const dt = (now.t - last.t) / 1000;
    const idle = now.prompt === last.prompt && now.gen === last.gen && scheduler.numUnfinished === 0;
    const queries = now.queries - last.queries;
    const hitRate = queries > 0 ? (100 * (now.hits - last.hits)) / queries : 0;
    const line = `Avg prompt throughput: ${((now.prompt - last.prompt) / dt).toFixed(1)} tokens/s, ` +
      `Avg generation throughput: ${((now.gen - last.gen) / dt).toFixed(1)} tokens/s, ` +
      `Running: ${scheduler.running.length} reqs, Waiting: ${scheduler.waiting.length} reqs, ` +
      `KV cache usage: ${(100 * kv.usage).toFixed(1)}%, Prefix cache hit rate: ${hitRate.toFixed(1)}%`;
    last = now;
    if (!idle) state.log.info(line);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
