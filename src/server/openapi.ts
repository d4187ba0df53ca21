/** OpenAPI request bodies of the JSON endpoints, generated from the same zod schemas that validate them. */
import { z } from "zod";
import { chatCompletionRequestSchema } from "./chat_completion/protocol";
import { completionRequestSchema } from "./completion/protocol";
import { countTokensRequestSchema, messagesRequestSchema } from "./messages/protocol";
import { responsesRequestSchema } from "./responses/protocol";
import { detokenizeSchema, tokenizeChatSchema, tokenizeCompletionSchema } from "./tokenize/protocol";

const jsonSchema = (s: z.ZodType) => z.toJSONSchema(s, { target: "openapi-3.0", io: "input", unrepresentable: "any" });

const ERROR_BODY = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: { message: { type: "string" }, type: { type: "string" }, param: { type: "string", nullable: true }, code: { type: "integer" } },
    },
  },
};

function post(tag: string, summary: string, schema: Record<string, unknown>) {
  const error = (description: string) => ({ description, content: { "application/json": { schema: ERROR_BODY } } });
  return {
    post: {
      tags: [tag],
      summary,
      requestBody: { required: true, content: { "application/json": { schema } } },
      responses: {
        200: { description: "JSON, or text/event-stream when `stream` is true" },
        400: error("invalid JSON, a wrong type, a bad value, or a request over the context length"),
        401: error("missing or wrong API key"),
        404: error("unknown model"),
        503: error("queue full, shutting down, or the engine is dead"),
      },
    },
  };
}

/** Path items merged into /openapi.json (they replace the bare entries the router would give). */
export function openApiPaths(): Record<string, unknown> {
  return {
    "/v1/chat/completions": post("openai", "Chat completion (OpenAI-compatible)", jsonSchema(chatCompletionRequestSchema)),
    "/v1/completions": post("openai", "Text completion (OpenAI-compatible)", jsonSchema(completionRequestSchema)),
    "/v1/responses": post("openai", "Create a model response (OpenAI Responses API)", jsonSchema(responsesRequestSchema)),
    "/v1/messages": post("anthropic", "Create a message (Anthropic Messages API; errors in Anthropic's shape)", jsonSchema(messagesRequestSchema)),
    "/v1/messages/count_tokens": post("anthropic", "Count a message request's input tokens", jsonSchema(countTokensRequestSchema)),
    "/tokenize": post("tokenizer", "Tokenize a prompt, or messages through the chat template", { oneOf: [jsonSchema(tokenizeCompletionSchema), jsonSchema(tokenizeChatSchema)] }),
    "/detokenize": post("tokenizer", "Turn token ids back into text", jsonSchema(detokenizeSchema)),
  };
}
