/**
 * Reads a request's JSON body under a size cap, a time limit and a nesting bound, so oversized, slow,
 * malformed or deeply nested bodies are a 4xx, never a 500 or a stalled connection.
 */
import { BadRequestError, RequestTimeoutError } from "./errors";
import { checkJsonDepth, JsonDepthScanner } from "./json_depth";

const YIELD_ABOVE_BYTES = 1024 * 1024;

/**
 * The parsed JSON body; throws a 400 when it is missing, larger than `maxBytes`, not UTF-8, not JSON or
 * nested too deep, and a 408 when it has not fully arrived within `timeoutMs`.
 */
export async function readJsonBody(request: Request, maxBytes: number, timeoutMs: number | null = null): Promise<unknown> {
  const declared = Number(request.headers.get("content-length"));
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (request.body === null) throw new BadRequestError("the request body is empty; a JSON object is expected");
  // Decoded and scanned chunk by chunk as the body arrives, so a large body never blocks the thread for long.
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const depth = new JsonDepthScanner();
  const pieces: string[] = [];
  let total = 0;
  const reader = request.body.getReader();
  const deadline = timeoutMs === null ? Infinity : performance.now() + timeoutMs;
  for (;;) {
    const { done, value } = await readBefore(reader as BodyReader, deadline, timeoutMs ?? 0);
    if (done || value === undefined) break;
    total += value.byteLength;
    if (total > maxBytes) {
      void reader.cancel().catch(() => {}); // not awaited: cancelling a re-wrapped request body can wait on the client
      throw tooLarge(maxBytes);
    }
    const piece = decode(utf8, value);
    depth.feed(piece);
    pieces.push(piece);
  }
  pieces.push(decode(utf8, undefined));
  if (pieces.every((p) => p.trim() === "")) throw new BadRequestError("the request body is empty; a JSON object is expected");
  checkJsonDepth(depth.max, "the request body");
  // Joining and parsing a 16 MB body take tens of ms each: other requests get a turn in between.
  const text = pieces.join("");
  if (total > YIELD_ABOVE_BYTES) await new Promise((resolve) => setImmediate(resolve));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`Invalid JSON in the request body: ${(e as Error).message}`);
  }
}

// One chunk in streaming mode (a character split across chunks completes in the next); no chunk: the end.
function decode(utf8: TextDecoder, chunk: Uint8Array | undefined): string {
  try {
    return chunk === undefined ? utf8.decode() : utf8.decode(chunk, { stream: true });
  } catch {
    throw new BadRequestError("the request body is not valid UTF-8");
  }
}

function tooLarge(maxBytes: number): BadRequestError {
  return new BadRequestError(`the request body is larger than the limit of ${maxBytes} bytes`);
}

interface BodyReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(): Promise<void>;
}

async function readBefore(reader: BodyReader, deadline: number, timeoutMs: number): Promise<{ done: boolean; value?: Uint8Array }> {
  if (deadline === Infinity) return reader.read();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RequestTimeoutError(`the request body did not arrive within ${timeoutMs / 1000} s (--request-body-timeout)`)),
      Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([reader.read(), expired]);
  } catch (e) {
    void reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
}
