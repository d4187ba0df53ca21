/** Route: POST /v1/responses (OpenAI's Responses API, as vLLM serves it without its response store). */
import { Elysia } from "elysia";
import type { ServerState } from "../state";
import { createResponse } from "./serving";

export function responsesRouter(state: ServerState) {
  return new Elysia().post("/v1/responses", (ctx) => createResponse(state, ctx), {
    parse: "none",
    detail: { tags: ["openai"], summary: "Create a model response (OpenAI Responses API); typed SSE events when stream is true" },
  });
}
