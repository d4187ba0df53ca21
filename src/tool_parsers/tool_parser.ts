/**
 * Tool parsers turn a model's text into OpenAI tool calls. Each parser only says what it knows about a
 * text so far (parse); the same function serves the complete output (extractToolCalls) and streaming
 * (ToolStreamParser diffs successive views into OpenAI-shaped deltas), so streamed deltas always join into
 * exactly the non-streamed result.
 */

/** One call: `arguments` is JSON text, as OpenAI's `function.arguments`. */
export interface ToolCall {
  name: string;
  arguments: string;
}

export interface ExtractedToolCalls {
  content: string | null;
  toolCalls: ToolCall[];
}

/** OpenAI's streamed `tool_calls[]` item: the first one of a call carries id, type and name. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments?: string };
}

export interface ToolStreamDelta {
  content: string | null;
  toolCalls: ToolCallDelta[];
}

/** What a parser knows about an output so far. `content` and each call's `arguments` only ever grow. */
export interface ToolParseView {
  content: string;
  calls: { name: string | null; arguments: string }[];
}

export interface ToolParser {
  readonly name: string;
  /** The call markers are special tokens, so the server must detokenize with skip_special_tokens = false. */
  readonly needsSpecialTokens: boolean;
  /**
   * final = false: `text` may still grow; report only what no continuation can change (hold back text that
   * may start a call marker). final = true: `text` is the whole output; a malformed call makes it all content.
   */
  parse(text: string, final: boolean): ToolParseView;
}

/** The tool calls and remaining content of a complete output. */
export function extractToolCalls(parser: ToolParser, text: string): ExtractedToolCalls {
  const view = parser.parse(text, true);
  const toolCalls = view.calls.map((c) => {
    if (c.name === null) throw new Error(`${parser.name}: a complete parse returned a call without a name`);
    return { name: c.name, arguments: c.arguments };
  });
  if (toolCalls.length === 0) return { content: view.content, toolCalls };
  return { content: view.content.length > 0 ? view.content : null, toolCalls };
}

/** A tool-call id in vLLM's form. */
export function makeToolCallId(): string {
  return `chatcmpl-tool-${crypto.randomUUID().replaceAll("-", "")}`;
}

/** Streams one output: push() each text delta, then finish() once; each returns what is new. */
export class ToolStreamParser {
  private text = "";
  private sentContent = 0;
  private readonly sent: { id: string | null; args: number }[] = [];
  private finished = false;

  constructor(readonly parser: ToolParser, private readonly newId: () => string = makeToolCallId) {}

  /** Whether any tool call has been streamed (the choice's finish_reason is then "tool_calls"). */
  get hasToolCalls(): boolean {
    return this.sent.some((s) => s.id !== null);
  }

  push(delta: string): ToolStreamDelta {
    if (this.finished) throw new Error("ToolStreamParser.push after finish");
    this.text += delta;
    return this.diff(this.parser.parse(this.text, false));
  }

  finish(): ToolStreamDelta {
    if (this.finished) throw new Error("ToolStreamParser.finish called twice");
    this.finished = true;
    return this.diff(this.parser.parse(this.text, true));
  }

  private diff(view: ToolParseView): ToolStreamDelta {
    let content: string | null = null;
    if (view.content.length > this.sentContent) {
      content = view.content.slice(this.sentContent);
      this.sentContent = view.content.length;
    }
    const toolCalls: ToolCallDelta[] = [];
    view.calls.forEach((call, index) => {
      const s = (this.sent[index] ??= { id: null, args: 0 });
      if (call.name === null) return;
      const args = call.arguments.slice(s.args);
      s.args = call.arguments.length;
      if (s.id === null) {
        s.id = this.newId();
        toolCalls.push({ index, id: s.id, type: "function", function: { name: call.name, arguments: args } });
      } else if (args.length > 0) toolCalls.push({ index, function: { arguments: args } });
    });
    return { content, toolCalls };
  }
}

/** Whether `text` is one complete JSON value. */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
