/**
 * Tool calls in chat responses: a finished output becomes `message.tool_calls` plus what content the parser
 * leaves; a streamed one becomes OpenAI's `delta.tool_calls` items. A choice that produced calls and ended
 * normally finishes with "tool_calls".
 */
import type { CompletionOutput } from "../../engine/outputs";
import {
  extractToolCalls, makeToolCallId, type ToolCallDelta, type ToolParser, ToolStreamParser, type ToolStreamDelta,
} from "../../tool_parsers/tool_parser";
import type { ChatToolCall } from "./protocol";
import type { ToolMode } from "./tools";

export interface ChoiceMessage {
  content: string | null;
  toolCalls: ChatToolCall[];
  finishReason: string | null;
}

/**
 * The message of a finished choice under `mode`; `text` is the answer part of the output (after a reasoning
 * parser took its think block; null when nothing is left).
 */
export function choiceMessage(mode: ToolMode, o: CompletionOutput, text: string | null = o.text): ChoiceMessage {
  if (mode.parser === null || text === null) return { content: text, toolCalls: [], finishReason: o.finishReason };
  const extracted = extractToolCalls(mode.parser, text);
  const calls = mode.parallel ? extracted.toolCalls : extracted.toolCalls.slice(0, 1);
  const toolCalls = calls.map((c): ChatToolCall => ({ id: makeToolCallId(), type: "function", function: { name: c.name, arguments: c.arguments } }));
  return { content: extracted.content, toolCalls, finishReason: finishReason(o.finishReason, toolCalls.length > 0) };
}

// A call cut off by max_tokens keeps "length", so clients know its arguments may be incomplete.
function finishReason(engineReason: string | null, calledTools: boolean): string | null {
  return calledTools && engineReason === "stop" ? "tool_calls" : engineReason;
}

/** One streamed choice's tool calls: feed each text delta, get what to send. */
export class ChoiceToolStream {
  private readonly parser: ToolStreamParser;

  constructor(parser: ToolParser, private readonly parallel: boolean) {
    this.parser = new ToolStreamParser(parser);
  }

  /** The content and call deltas of one step; `final` on the choice's last output. */
  step(textDelta: string, final: boolean): ToolStreamDelta {
    const d = this.parser.push(textDelta);
    const delta = final ? mergeDeltas(d, this.parser.finish()) : d;
    // Without parallel calls only the first one is sent; the rest are dropped, as vLLM does.
    return this.parallel ? delta : { ...delta, toolCalls: delta.toolCalls.filter((c) => c.index === 0) };
  }

  /** finish_reason for the choice's last chunk. */
  finishReason(engineReason: string | null): string | null {
    return finishReason(engineReason, this.parser.hasToolCalls);
  }
}

function mergeDeltas(a: ToolStreamDelta, b: ToolStreamDelta): ToolStreamDelta {
  const content = a.content === null && b.content === null ? null : (a.content ?? "") + (b.content ?? "");
  const toolCalls: ToolCallDelta[] = a.toolCalls.map((c) => ({ ...c, function: { ...c.function } }));
  for (const c of b.toolCalls) {
    const same = toolCalls.find((x) => x.index === c.index);
    if (same === undefined) toolCalls.push(c);
    else same.function.arguments = (same.function.arguments ?? "") + (c.function.arguments ?? "");
  }
  return { content, toolCalls };
}
