/** Routes: GET /health, GET|POST /ping, GET /version, GET /load, GET /metrics. */
import { Elysia } from "elysia";
import { VERSION } from "../../version";
import { errorResponse, ServiceUnavailableError } from "../errors";
import type { ServerState } from "../state";

export function healthRouter(state: ServerState) {
  // 200 with an empty body while the engine can serve; 503 once a step has failed, or while it has work but
  // makes no progress (stuck), so an orchestrator's probe can restart it.
  const health = () => state.llm.isDead
    ? errorResponse(new ServiceUnavailableError(`the engine is dead: ${state.llm.deadError!.message}`))
    : state.llm.isStuck
      ? errorResponse(new ServiceUnavailableError(`the engine is stuck: work is pending and no step has made progress for ${state.llm.secondsWithoutProgress.toFixed(1)} s (VLLM_ENGINE_ITERATION_TIMEOUT_S)`))
      : new Response(null, { status: 200 });
  return new Elysia()
    .get("/health", health, { detail: { tags: ["health"], summary: "200 while the engine is alive, 503 once it is dead" } })
    .get("/ping", health, { detail: { tags: ["health"], summary: "Same as /health" } })
    .post("/ping", health, { parse: "none", detail: { tags: ["health"], summary: "Same as /health" } })
    .get("/version", () => ({ version: VERSION }), { detail: { tags: ["health"], summary: "The server's version" } })
    .get("/load", () => ({ server_load: state.inFlight }), { detail: { tags: ["health"], summary: "Generation requests in flight" } })
    .get("/metrics", async () => new Response(await state.metrics.render(), { headers: { "content-type": state.metrics.contentType } }), {
      detail: { tags: ["metrics"], summary: "Prometheus metrics (vllm:* names)" },
    });
}
