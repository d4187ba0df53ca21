/** Routes: POST /v1/messages, POST /v1/messages/count_tokens (Anthropic's API; errors in its shape). */
import { Elysia } from "elysia";
import type { ServerState } from "../state";
import { anthropicErrorResponse } from "./errors";
import { countTokens, createMessage } from "./serving";

export function messagesRouter(state: ServerState) {
  return new Elysia()
    .post("/v1/messages", (ctx) => createMessage(state, ctx).catch((e) => anthropicErrorResponse(e)), {
      parse: "none",
      detail: { tags: ["anthropic"], summary: "Create a message (Anthropic Messages API); SSE events when stream is true" },
    })
    .post("/v1/messages/count_tokens", ({ request }) => state.readBody(request).then((b) => countTokens(state, b)).catch((e) => anthropicErrorResponse(e)), {
      parse: "none",
      detail: { tags: ["anthropic"], summary: "Count a message request's input tokens (Anthropic Messages API)" },
    });
}
