/**
 * Reading a body in pieces (issue 9, items 5 and 8): decoded and scanned for nesting chunk by chunk as it
 * arrives, under a deadline. Characters and strings split across chunks are handled; a stalled body is a 408.
 */
import { describe, expect, test } from "bun:test";
import { OpenAIError } from "../../src/server/errors";
import { MAX_JSON_DEPTH } from "../../src/server/json_depth";
import { readJsonBody } from "../../src/server/request_body";

/** A request whose body arrives as these byte chunks, then ends (or, with `stall`, never ends). */
function chunked(chunks: (string | Uint8Array)[], stall = false): Request {
  const enc = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of chunks) c.enqueue(typeof x === "string" ? enc.encode(x) : x);
      if (!stall) c.close();
    },
  });
  return new Request("http://x/", { method: "POST", body });
}

async function status(req: Request, timeoutMs: number | null = null): Promise<[number, string]> {
  try {
    await readJsonBody(req, 1 << 20, timeoutMs);
    return [200, ""];
  } catch (e) {
    return [(e as OpenAIError).status, (e as Error).message];
  }
}

describe("readJsonBody", () => {
  test("a multi-byte character and a string split across chunks parse as one", async () => {
    const bytes = new TextEncoder().encode('{"a":"h\u00e9llo [{\\"","b":[1]}');
    const at = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
    const parts = [bytes.slice(0, at), bytes.slice(at, at + 4), bytes.slice(at + 4)];
    expect(await readJsonBody(chunked(parts), 1 << 20)).toEqual({ a: 'h\u00e9llo [{"', b: [1] });
  });

  test("invalid UTF-8, a blank body and nesting past the bound across chunks are 400s", async () => {
    expect(await status(chunked([new Uint8Array([0x7b, 0xff, 0x7d])]))).toEqual([400, "the request body is not valid UTF-8"]);
    expect(await status(chunked([new Uint8Array([0x22, 0xc3])]))).toEqual([400, "the request body is not valid UTF-8"]); // cut short
    expect((await status(chunked(["  ", "\n"])))[1]).toContain("the request body is empty");
    const deep = "[".repeat(MAX_JSON_DEPTH + 1) + "]".repeat(MAX_JSON_DEPTH + 1);
    const pieces = deep.match(/.{1,7}/g)!;
    expect((await status(chunked(pieces)))[1]).toContain(`nests deeper than ${MAX_JSON_DEPTH} levels`);
    const ok = "[".repeat(MAX_JSON_DEPTH) + "]".repeat(MAX_JSON_DEPTH);
    expect((await status(chunked(ok.match(/.{1,7}/g)!)))[0]).toBe(200);
  });

  test("a body that stops arriving is a 408 naming --request-body-timeout", async () => {
    const t0 = performance.now();
    const [code, message] = await status(chunked(['{"prompt":'], true), 200);
    expect(code).toBe(408);
    expect(message).toContain("--request-body-timeout");
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
