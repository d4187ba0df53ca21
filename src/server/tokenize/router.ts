/** Routes: POST /tokenize, POST /detokenize, GET /tokenizer_info (with --enable-tokenizer-info-endpoint). */
import { Elysia } from "elysia";
import { NotFoundError } from "../errors";
import type { ServerState } from "../state";
import { detokenize, tokenize } from "./serving";
import { type TokenizerInfo, tokenizerInfo } from "./tokenizer_info";

export function tokenizeRouter(state: ServerState) {
  let info: TokenizerInfo | null = null;
  return new Elysia()
    // Off by default, as in vLLM: without the flag the route does not exist.
    .get("/tokenizer_info", () => {
      if (!state.config.enableTokenizerInfoEndpoint) throw new NotFoundError("no route for GET /tokenizer_info");
      return (info ??= tokenizerInfo(state.tokenizer, state.config.chatTemplate ?? state.tokenizer.chatTemplate));
    }, { detail: { tags: ["tokenizer"], summary: "The tokenizer's configuration and chat template (--enable-tokenizer-info-endpoint)" } })
    .post("/tokenize", async ({ request }) => tokenize(state, await state.readBody(request)), {
      parse: "none",
      detail: { tags: ["tokenizer"], summary: "Tokenize a prompt, or messages through the chat template" },
    })
    .post("/detokenize", async ({ request }) => detokenize(state, await state.readBody(request)), {
      parse: "none",
      detail: { tags: ["tokenizer"], summary: "Turn token ids back into text" },
    });
}
