/** Serving /tokenize and /detokenize with the served model's tokenizer and chat template. */
import { chatPromptTokenIds } from "../chat_completion/messages";
import { BadRequestError } from "../errors";
import { checkPromptChars } from "../request_limits";
import { parseBody } from "../sampling";
import type { ServerState } from "../state";
import { type DetokenizeResponse, detokenizeSchema, tokenizeChatSchema, tokenizeCompletionSchema, type TokenizeResponse } from "./protocol";

/** `{prompt}` is tokenized as a completion prompt (special tokens added), `{messages}` through the chat template. */
export async function tokenize(state: ServerState, body: unknown): Promise<TokenizeResponse> {
  const isChat = typeof body === "object" && body !== null && "messages" in body;
  let tokens: number[];
  let returnStrs: boolean;
  if (isChat) {
    const req = parseBody(tokenizeChatSchema, body);
    state.resolveModel(req.model);
    tokens = await chatPromptTokenIds(state, req);
    returnStrs = req.return_token_strs ?? false;
  } else {
    const req = parseBody(tokenizeCompletionSchema, body);
    state.resolveModel(req.model);
    checkPromptChars(req.prompt.length, state.maxModelLen, "prompt");
    tokens = await state.tokenizers.encode(req.prompt, req.add_special_tokens ?? true);
    returnStrs = req.return_token_strs ?? false;
  }
  const out: TokenizeResponse = { count: tokens.length, max_model_len: state.maxModelLen, tokens };
  if (returnStrs) out.token_strs = tokens.map((id) => state.tokenizer.idToToken(id) ?? "");
  return out;
}

export async function detokenize(state: ServerState, body: unknown): Promise<DetokenizeResponse> {
  const req = parseBody(detokenizeSchema, body);
  state.resolveModel(req.model);
  const vocab = state.modelConfig.vocabSize;
  const bad = req.tokens.find((id) => id < 0 || id >= vocab);
  if (bad !== undefined) throw new BadRequestError(`token id ${bad} is outside the vocabulary [0, ${vocab})`, "tokens");
  return { prompt: await state.tokenizers.decode(req.tokens, false) };
}
