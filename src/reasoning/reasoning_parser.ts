/**
 * Reasoning parsers (--reasoning-parser): split a model's `<think>…</think>` block from its answer. A finished
 * output and a stream of text deltas split the same way, whatever tokens the tags arrived in.
 */

/** One output split into its reasoning and its answer; null where there is none. */
export interface ReasoningSplit {
  reasoning: string | null;
  content: string | null;
}

/** What a parser reads from the request besides the output. */
export interface ReasoningRequest {
  promptTokenIds: readonly number[];
  chatTemplateKwargs: Record<string, unknown> | null;
}

/** How one request's output is read: the whole text at once, or delta by delta. */
export interface RequestReasoning {
  extract(text: string): ReasoningSplit;
  stream(): ReasoningStream;
}

export interface ReasoningParser {
  readonly name: string;
  forRequest(req: ReasoningRequest): RequestReasoning;
}

/** Feeds text deltas, gets what each adds to reasoning and content; a tag split over deltas is held back until it is whole. */
export interface ReasoningStream {
  push(delta: string): ReasoningSplit;
  /** The text still held back (a tag prefix that never completed), at the end of the output. */
  finish(): ReasoningSplit;
}

/** The token ids of a parser's tags in the served tokenizer. */
export interface ThinkTagIds {
  start: number;
  end: number;
}

/** Tags vLLM's thinking parsers delimit reasoning with. */
export const THINK_START = "<think>";
export const THINK_END = "</think>";

/**
 * Whether the prompt already closed the think block (its last think tag is the end tag), as a chat template
 * does when thinking is switched off: then the whole output is the answer.
 */
export function promptEndsReasoning(promptTokenIds: readonly number[], ids: ThinkTagIds): boolean {
  for (let i = promptTokenIds.length - 1; i >= 0; i--) {
    if (promptTokenIds[i] === ids.start) return false;
    if (promptTokenIds[i] === ids.end) return true;
  }
  return false;
}

/** Everything is the answer (thinking off, or already closed in the prompt). */
export const CONTENT_ONLY: RequestReasoning = {
  extract: (text) => ({ reasoning: null, content: text === "" ? null : text }),
  stream: () => ({ push: (d) => ({ reasoning: null, content: d === "" ? null : d }), finish: () => ({ reasoning: null, content: null }) }),
};

/**
 * The think block as deepseek_r1 and qwen3 read it: everything up to the first end tag is reasoning (one start
 * tag in it is dropped, and it may be absent, as when the template opened the block in the prompt); what follows
 * is the answer. Without an end tag the whole output is reasoning (the model was cut off while thinking).
 */
export const THINK_BLOCK: RequestReasoning = {
  extract(text) {
    const end = text.indexOf(THINK_END);
    const head = end < 0 ? text : text.slice(0, end);
    const start = head.indexOf(THINK_START);
    const reasoning = start < 0 ? head : head.slice(0, start) + head.slice(start + THINK_START.length);
    const content = end < 0 ? "" : text.slice(end + THINK_END.length);
    return { reasoning, content: content === "" ? null : content };
  },
  stream: () => new ThinkBlockStream(),
};

class ThinkBlockStream implements ReasoningStream {
  private held = "";
  private sawStart = false;
  private inContent = false;

  push(delta: string): ReasoningSplit {
    if (this.inContent) return split(null, delta);
    let text = this.held + delta;
    this.held = "";
    let reasoning = "";
    for (;;) {
      const end = text.indexOf(THINK_END);
      const start = this.sawStart ? -1 : text.indexOf(THINK_START);
      if (start >= 0 && (end < 0 || start < end)) {
        reasoning += text.slice(0, start);
        text = text.slice(start + THINK_START.length);
        this.sawStart = true;
        continue;
      }
      if (end >= 0) {
        this.inContent = true;
        return split(reasoning + text.slice(0, end), text.slice(end + THINK_END.length));
      }
      break;
    }
    const keep = partialTagLength(text, this.sawStart ? [THINK_END] : [THINK_END, THINK_START]);
    this.held = text.slice(text.length - keep);
    return split(reasoning + text.slice(0, text.length - keep), null);
  }

  finish(): ReasoningSplit {
    const held = this.held;
    this.held = "";
    return this.inContent ? split(null, held) : split(held, null);
  }
}

function split(reasoning: string | null, content: string | null): ReasoningSplit {
  return { reasoning: reasoning === "" ? null : reasoning, content: content === "" ? null : content };
}

// The longest suffix of `text` that is a proper prefix of one of the tags.
function partialTagLength(text: string, tags: string[]): number {
  let best = 0;
  for (const tag of tags) {
    for (let n = Math.min(tag.length - 1, text.length); n > best; n--) {
      if (text.endsWith(tag.slice(0, n))) { best = n; break; }
    }
  }
  return best;
}
