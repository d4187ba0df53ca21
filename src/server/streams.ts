/** Server-sent events exactly as OpenAI sends them, and merging the streams of several engine requests. */
import { toOpenAIError } from "./errors";

const ENCODER = new TextEncoder();
const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" };

export interface SseHooks {
  /** The client went away before the end: stop the work behind the stream. */
  onCancel(): void;
  /** Called once, however the stream ends. */
  onClose(): void;
}

/**
 * A `data: {chunk}\n\n` stream ending with `data: [DONE]\n\n`. An error mid-stream is sent as one
 * `data: {"error": ...}` event before [DONE], as vLLM does. Chunks are pulled only as the client reads.
 */
export function sseResponse(chunks: AsyncIterable<unknown>, hooks: SseHooks): Response {
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
        text = last ? "data: [DONE]\n\n" : `data: ${JSON.stringify(r.value)}\n\n`;
      } catch (e) {
        last = true;
        text = `data: ${JSON.stringify(toOpenAIError(e))}\n\ndata: [DONE]\n\n`;
      }
      if (closed) return; // cancelled while waiting for the engine
      controller.enqueue(ENCODER.encode(text));
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
