/** Reads a request's JSON body under a size cap, so oversized or malformed bodies are a 400, never a 500. */
import { BadRequestError } from "./errors";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** The parsed JSON body; throws a 400 when it is missing, larger than `maxBytes`, not UTF-8 or not JSON. */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length"));
  if (declared > maxBytes) throw tooLarge(maxBytes);
  if (request.body === null) throw new BadRequestError("the request body is empty; a JSON object is expected");
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      void reader.cancel().catch(() => {}); // not awaited: cancelling a re-wrapped request body can wait on the client
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.byteLength; }
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new BadRequestError("the request body is not valid UTF-8");
  }
  if (text.trim() === "") throw new BadRequestError("the request body is empty; a JSON object is expected");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequestError(`Invalid JSON in the request body: ${(e as Error).message}`);
  }
}

function tooLarge(maxBytes: number): BadRequestError {
  return new BadRequestError(`the request body is larger than the limit of ${maxBytes} bytes`);
}
