/** Routes: POST /tokenize, POST /detokenize. */
import { Elysia } from "elysia";
import type { ServerState } from "../state";
import { detokenize, tokenize } from "./serving";

export function tokenizeRouter(state: ServerState) {
  return new Elysia()
    .post("/tokenize", async ({ request }) => tokenize(state, await state.readBody(request)), {
      parse: "none",
      detail: { tags: ["tokenizer"], summary: "Tokenize a prompt, or messages through the chat template" },
    })
    .post("/detokenize", async ({ request }) => detokenize(state, await state.readBody(request)), {
      parse: "none",
      detail: { tags: ["tokenizer"], summary: "Turn token ids back into text" },
    });
}
