/** Chat messages from a request → the model's chat template → prompt token ids (chat and /tokenize share it). */
import type { ChatMessage } from "../../tokenizer/tokenizer";
import type { ToolDefinition } from "../../tool_parsers/tool_choice";
import { BadRequestError } from "../errors";
import { checkJsonDepth } from "../json_depth";
import { checkPromptChars } from "../request_limits";
import type { ServerState } from "../state";
import type { ChatMessageInput } from "./protocol";

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

export interface ChatPromptOptions {
  messages: ChatMessageInput[];
  add_generation_prompt?: boolean | null;
  continue_final_message?: boolean | null;
  chat_template_kwargs?: Record<string, unknown> | null;
  add_special_tokens?: boolean | null;
  /** Tools the template renders (null or absent: none). */
  tools?: ToolDefinition[] | null;
}

/**
 * Renders the conversation with the served chat template and tokenizes it, in the tokenizer pool. The
 * message text is measured first: a conversation that could not fit the context is refused unrendered.
 */
export function chatPromptTokenIds(state: ServerState, o: ChatPromptOptions): Promise<number[]> {
  // vLLM's check: only an explicit add_generation_prompt conflicts (its default gives way).
  if (o.continue_final_message && o.add_generation_prompt === true)
    throw new BadRequestError("Cannot set both `continue_final_message` and `add_generation_prompt` to True.", "continue_final_message");
  const messages = toChatMessages(o.messages);
  checkPromptChars(messages.reduce((sum, m) => sum + textLength(m), 0), state.maxModelLen, "messages", "the conversation");
  // The template already placed BOS and friends; vLLM adds no more unless asked.
  return state.tokenizers.applyChatTemplate(messages, {
    addGenerationPrompt: o.continue_final_message ? false : (o.add_generation_prompt ?? true),
    continueFinalMessage: o.continue_final_message ?? false,
    chatTemplateKwargs: o.chat_template_kwargs ?? undefined,
    tools: o.tools ?? undefined,
  }, o.add_special_tokens ?? false);
}

function textLength(m: ChatMessage): number {
  return (typeof m.content === "string" ? m.content.length : 0) + (m.name?.length ?? 0);
}

function toChatMessages(messages: ChatMessageInput[]): ChatMessage[] {
  if (messages.length === 0) throw new BadRequestError("messages must hold at least one message", "messages");
  return messages.map((m, i) => {
    if (!ROLES.has(m.role))
      throw new BadRequestError(`messages.${i}.role: '${m.role}' is not supported; use one of ${[...ROLES].join(", ")}`, `messages.${i}.role`);
    const msg: ChatMessage = { role: m.role, content: textContent(m.content, i) };
    if (m.name) msg.name = m.name;
    if (m.role === "assistant" && m.tool_calls) msg.tool_calls = m.tool_calls.map((c, j) => templateToolCall(c, `messages.${i}.tool_calls.${j}`));
    if (m.role === "tool" && m.tool_call_id !== null && m.tool_call_id !== undefined) msg.tool_call_id = m.tool_call_id;
    return msg;
  });
}

type MessageToolCall = NonNullable<ChatMessageInput["tool_calls"]>[number];

// Tool-use templates expect arguments as an object, while OpenAI clients send JSON text; empty means none.
function templateToolCall(c: MessageToolCall, param: string): Record<string, unknown> {
  const raw = c.function.arguments;
  let args: unknown = raw ?? {};
  if (typeof raw === "string") {
    checkJsonDepth(raw, `${param}.function.arguments`, `${param}.function.arguments`);
    try {
      args = raw.trim() === "" ? {} : JSON.parse(raw);
    } catch (e) {
      throw new BadRequestError(`${param}.function.arguments is not valid JSON: ${(e as Error).message}`, `${param}.function.arguments`);
    }
  }
  const call: Record<string, unknown> = { type: "function", function: { name: c.function.name, arguments: args } };
  if (c.id) call.id = c.id;
  return call;
}

// Text parts join with newlines, as vLLM flattens them for templates that expect a string.
function textContent(content: ChatMessageInput["content"], i: number): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return content.map((part, j) => {
    if (part.type !== "text" || typeof part.text !== "string")
      throw new BadRequestError(`messages.${i}.content.${j}: content parts of type '${part.type}' are not supported; only text parts are`, `messages.${i}.content`);
    return part.text;
  }).join("\n");
}
