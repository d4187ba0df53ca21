/** Streams a text through a parser in chunks and joins the deltas back into one result. */
import { Generator } from "../../src/sample/generator";
import { type ExtractedToolCalls, type ToolParser, ToolStreamParser } from "../../src/tool_parsers/tool_parser";

export interface Joined extends ExtractedToolCalls {
  ids: string[];
  /** Deltas that carried arguments, per call (a streamed call gets them piece by piece). */
  argDeltas: number[];
  /** Content deltas seen before the final one (content streams rather than arriving at the end). */
  earlyContent: string;
}

/** Feeds `chunks` as deltas; checks the delta shapes OpenAI clients rely on while joining them. */
export function streamJoin(parser: ToolParser, chunks: string[]): Joined {
  let n = 0;
  const stream = new ToolStreamParser(parser, () => `call_${n++}`);
  let content = "";
  const calls: { id: string; name: string; arguments: string }[] = [];
  const argDeltas: number[] = [];
  const take = (d: ReturnType<ToolStreamParser["push"]>) => {
    if (d.content !== null) content += d.content;
    for (const t of d.toolCalls) {
      if (t.id !== undefined) {
        if (t.index !== calls.length || t.type !== "function" || t.function.name === undefined) throw new Error(`bad first delta ${JSON.stringify(t)}`);
        calls.push({ id: t.id, name: t.function.name, arguments: "" });
        argDeltas.push(0);
      } else if (t.index >= calls.length || t.function.name !== undefined || t.type !== undefined) throw new Error(`bad later delta ${JSON.stringify(t)}`);
      if (t.function.arguments) {
        calls[t.index].arguments += t.function.arguments;
        argDeltas[t.index]++;
      }
    }
  };
  for (const c of chunks) take(stream.push(c));
  const earlyContent = content;
  take(stream.finish());
  if (stream.hasToolCalls !== calls.length > 0) throw new Error("hasToolCalls disagrees with the deltas");
  return {
    content: calls.length > 0 ? (content.length > 0 ? content : null) : content,
    toolCalls: calls.map(({ name, arguments: a }) => ({ name, arguments: a })),
    ids: calls.map((c) => c.id), argDeltas, earlyContent,
  };
}

/** Splits: one chunk, every single cut point, char by char, and seeded random chunkings. */
export function chunkings(text: string, randomRuns = 20): string[][] {
  const out: string[][] = [[text], [...text]];
  for (let cut = 1; cut < text.length; cut++) out.push([text.slice(0, cut), text.slice(cut)]);
  const g = new Generator(text.length);
  for (let r = 0; r < randomRuns; r++) {
    const chunks: string[] = [];
    for (let i = 0; i < text.length; ) {
      const n = 1 + Math.floor(g.random() * 7);
      chunks.push(text.slice(i, i + n));
      i += n;
    }
    out.push(chunks);
  }
  return out;
}
