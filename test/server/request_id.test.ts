/**
 * Issue 9, item 11: X-Request-Id follows the body's request_id rule (1 to 256 printable ASCII characters
 * without spaces). An invalid one is a 400 that neither echoes nor logs it; a valid one with quotes or
 * brackets is echoed but escaped in log lines. (Before: 8 KB ids were echoed, quotes logged verbatim.)
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Logger } from "../../src/server/logger";
import { post, startTestServer } from "./support";

const lines: string[] = [];
const s = startTestServer({ log: new Logger("info", (l) => lines.push(l)) });
afterAll(() => s.close());

const HEX_ID = /^[0-9a-f]{32}$/;

describe("X-Request-Id", () => {
  test("an 8 KB id, or one with spaces or control characters, is a 400 that does not echo it", async () => {
    for (const bad of ["x".repeat(8192), "x".repeat(257), "a b", "tab\there", "\u00e9t\u00e9"]) {
      lines.length = 0;
      const r = await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 }, { "x-request-id": bad });
      expect(r.status).toBe(400);
      expect(r.json.error.param).toBe("X-Request-Id");
      expect(r.json.error.message).toContain("1 to 256 printable ASCII characters without spaces");
      expect(r.headers.get("x-request-id")).toMatch(HEX_ID);
      expect(r.text).not.toContain(bad);
      expect(lines.join("\n")).not.toContain(bad);
      const health = await fetch(`${s.url}/health`, { headers: { "x-request-id": bad } });
      expect(health.status).toBe(400);
    }
  });

  test("a valid id is echoed and names the response; quotes and brackets are escaped in the log line", async () => {
    lines.length = 0;
    const id = 'evil"] 200 [x';
    expect((await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 }, { "x-request-id": id })).status).toBe(400); // a space
    const quoted = 'abc"]-INFO-[x\\y';
    const r = await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 }, { "x-request-id": quoted });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-request-id")).toBe(quoted);
    expect(r.json.id).toBe(`cmpl-${quoted}`);
    const access = lines.find((l) => l.includes("/v1/completions") && l.includes(" 200"))!;
    expect(access).toContain("[abc\\x22\\x5d-INFO-\\x5bx\\x5cy]");
    expect(lines.join("\n")).not.toContain(quoted);
  });

  test("the body's request_id follows the same rule", async () => {
    const r = await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1, request_id: "x".repeat(300) });
    expect(r.status).toBe(400);
    expect(r.json.error.param).toBe("request_id");
    expect(r.json.error.message).toContain("1 to 256 printable ASCII characters without spaces");
  });
});
