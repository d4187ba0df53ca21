/**
 * --reasoning-parser in chat responses: the think block becomes `reasoning` (also sent as `reasoning_content`,
 * the name older clients read) and the rest is the answer the tool parser, if any, reads.
 */
import type { ReasoningSplit, ReasoningStream, RequestReasoning } from "../../reasoning/reasoning_parser";
import type { ServerState } from "../state";
import type { ChatCompletionRequest } from "./protocol";

/** How one request's output is split; null without --reasoning-parser. */
export function requestReasoning(state: ServerState, req: ChatCompletionRequest, promptTokenIds: readonly number[]): RequestReasoning | null {
  return state.reasoningParser?.forRequest({ promptTokenIds, chatTemplateKwargs: req.chat_template_kwargs ?? null }) ?? null;
}

/** The reasoning fields of a message or delta; `include_reasoning: false` drops the text but keeps it out of content. */
export function reasoningFields(reasoning: string | null, include: boolean): { reasoning: string | null; reasoning_content: string | null } {
  const text = include ? reasoning : null;
  return { reasoning: text, reasoning_content: text };
}

/** One streamed choice's split: feed each text delta, get its reasoning and answer parts. */
export class ChoiceReasoningStream {
  private readonly stream: ReasoningStream;

  constructor(reasoning: RequestReasoning) {
    this.stream = reasoning.stream();
  }

  /** `final` on the choice's last output: text held back for a possible tag is released. */
  step(textDelta: string, final: boolean): ReasoningSplit {
    const d = this.stream.push(textDelta);
    if (!final) return d;
    const rest = this.stream.finish();
    return { reasoning: join(d.reasoning, rest.reasoning), content: join(d.content, rest.content) };
  }
}

function join(a: string | null, b: string | null): string | null {
  return a === null ? b : b === null ? a : a + b;
}
