/** Route: POST /v1/chat/completions. */
import { Elysia } from "elysia";
import type { ServerState } from "../state";
import { createChatCompletion } from "./serving";

export function chatRouter(state: ServerState) {
  return new Elysia().post("/v1/chat/completions", (ctx) => createChatCompletion(state, ctx), {
    parse: "none",
    detail: { tags: ["openai"], summary: "Chat completion (OpenAI-compatible); SSE when stream is true" },
  });
}
