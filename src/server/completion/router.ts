/** Route: POST /v1/completions. */
import { Elysia } from "elysia";
import type { ServerState } from "../state";
import { createCompletion } from "./serving";

export function completionRouter(state: ServerState) {
  return new Elysia().post("/v1/completions", (ctx) => createCompletion(state, ctx), {
    parse: "none",
    detail: { tags: ["openai"], summary: "Text completion (OpenAI-compatible); SSE when stream is true" },
  });
}
