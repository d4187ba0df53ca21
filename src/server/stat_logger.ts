/** The periodic engine stats line (throughput, queue, KV usage, prefix-cache hit rate); off with --disable-log-stats. */
import type { SchedulerStats } from "../engine/outputs";
import type { ServerState } from "./state";

export const STATS_INTERVAL_MS = 10_000;

/** Logs one line per interval while the engine has work or just had some; returns a stop function. */
export function startStatLogger(state: ServerState, intervalMs = STATS_INTERVAL_MS): () => void {
  let prompt = 0, gen = 0, sched: SchedulerStats | null = null;
  state.llm.engine.onStats(({ scheduler, iteration }) => {
    prompt += iteration.numPromptTokens;
    gen += iteration.numGenerationTokens;
    sched = scheduler;
  });
  let last = { t: performance.now(), prompt: 0, gen: 0, queries: 0, hits: 0 };
  const timer = setInterval(() => {
    const s = sched;
    const now = { t: performance.now(), prompt, gen, queries: s?.prefixCacheQueries ?? 0, hits: s?.prefixCacheHits ?? 0 };
    const dt = (now.t - last.t) / 1000;
    const idle = now.prompt === last.prompt && now.gen === last.gen && (s === null || s.numRunningReqs + s.numWaitingReqs === 0);
    const queries = now.queries - last.queries;
    const hitRate = queries > 0 ? (100 * (now.hits - last.hits)) / queries : 0;
    const line = `Avg prompt throughput: ${((now.prompt - last.prompt) / dt).toFixed(1)} tokens/s, ` +
      `Avg generation throughput: ${((now.gen - last.gen) / dt).toFixed(1)} tokens/s, ` +
      `Running: ${s?.numRunningReqs ?? 0} reqs, Waiting: ${s?.numWaitingReqs ?? 0} reqs, ` +
      `KV cache usage: ${(100 * (s?.kvCacheUsage ?? 0)).toFixed(1)}%, Prefix cache hit rate: ${hitRate.toFixed(1)}%`;
    last = now;
    if (!idle) state.log.info(line);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
