/** Server-sent events as each API sends them, and merging the streams of several engine requests. */
import { toOpenAIError } from "./errors";

const ENCODER = new TextEncoder();
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

export interface SseHooks {
  /** The client went away before the end: stop the work behind the stream. */
  onCancel(): void;
  /** Called once, however the stream ends. */
  onClose(): void;
}

/** How one API writes its events: each chunk, an error that ends the stream, and the closing line. */
export interface SseFormat {
  event(chunk: unknown): string;
  error(e: unknown): string;
  done: string;
}

/** OpenAI's chat and completions streams: `data: {chunk}`, an error as `data: {"error": ...}`, then `data: [DONE]`. */
export const OPENAI_SSE: SseFormat = {
  event: (chunk) => `data: ${JSON.stringify(chunk)}\n\n`,
  error: (e) => `data: ${JSON.stringify(toOpenAIError(e))}\n\n`,
  done: "data: [DONE]\n\n",
};

/** Typed events (the Responses and Anthropic APIs): `event: {type}` before each `data:` line, no [DONE]. */
export function namedEvents(errorEvent: (e: unknown) => { type: string }): SseFormat {
  const line = (chunk: unknown) => `event: ${(chunk as { type: string }).type}\ndata: ${JSON.stringify(chunk)}\n\n`;
  return { event: line, error: (e) => line(errorEvent(e)), done: "" };
}

/**
 * An SSE stream of `chunks` in `format` (OpenAI's by default). An error mid-stream is sent as the format's
 * error event, then the stream closes. Chunks are pulled only as the client reads.
 */
export function sseResponse(chunks: AsyncIterable<unknown>, hooks: SseHooks, format: SseFormat = OPENAI_SSE): Response {
  const it = chunks[Symbol.asyncIterator]();
  let closed = false;
  const close = () => {
    if (closed) return false;
    closed = true;
    hooks.onClose();
    return true;
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let text: string;
      let last = false;
      try {
        const r = await it.next();
        last = r.done === true;
        text = last ? format.done : format.event(r.value);
      } catch (e) {
        last = true;
        text = format.error(e) + format.done;
      }
      if (closed) return; // cancelled while waiting for the engine
      if (text !== "") controller.enqueue(ENCODER.encode(text));
      if (last && close()) controller.close();
    },
    cancel() {
      if (closed) return;
      hooks.onCancel();
      close();
      // Not awaited: the generator finishes once the abort above reaches it.
      it.return?.(undefined)?.catch(() => {});
    },
  });
  return new Response(stream, { headers: SSE_HEADERS });
}

/** Interleaves several async iterators as their items arrive, tagging each item with its source index. */
export async function* mergeStreams<T>(streams: readonly AsyncIterator<T>[]): AsyncGenerator<[number, T]> {
  const pending = new Map<number, Promise<[number, IteratorResult<T>]>>();
  const pull = (i: number) => {
    const p = streams[i].next().then((r) => [i, r] as [number, IteratorResult<T>]);
    p.catch(() => {}); // observed through Promise.race; a late rejection must not go unhandled
    pending.set(i, p);
  };
  streams.forEach((_, i) => pull(i));
  try {
    while (pending.size > 0) {
      const [i, r] = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
        continue;
      }
      pull(i);
      yield [i, r.value];
    }
  } finally {
    for (const i of pending.keys()) streams[i].return?.(undefined)?.catch(() => {});
  }
}
