/**
 * 1,000+ malformed or randomized bodies: every one gets a 4xx in OpenAI's error shape (never a 500 or a
 * hang), and the server is healthy afterwards. Each body breaks at least one rule on purpose; the other
 * fields are random valid values or unknown extras, so the break is found in varied company.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { Generator } from "../../src/sample/generator";
import { metrics, metricValue, MODEL_NAME, startTestServer } from "./support";

const s = startTestServer();
afterAll(() => s.close());
const g = new Generator(2024);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(g.random() * xs.length)];
const int = (lo: number, hi: number) => lo + Math.floor(g.random() * (hi - lo + 1));

// Valid values, mixed into every body so breaks meet many combinations.
const VALID: Record<string, () => unknown> = {
  temperature: () => pick([0, 0.5, 1, null]),
  top_p: () => pick([0.5, 1, null]),
  top_k: () => pick([-1, 0, 5, null]),
  n: () => pick([1, 2, null]),
  seed: () => pick([0, 42, null]),
  stop: () => pick(["\n", ["a", "b"], null]),
  presence_penalty: () => pick([0, 1, null]),
  logit_bias: () => pick([{ "5": 1 }, null]),
  min_tokens: () => pick([0, 1, null]),
  ignore_eos: () => pick([true, false]),
  skip_special_tokens: () => pick([true, false, null]),
  unknown_extra_field: () => pick([1, "x", { a: [1] }]),
};

// Each entry is a deliberate break; every one must be refused.
const BREAKS: Record<string, unknown[]> = {
  model: [5, {}, "no-such-model", ["tiny"]],
  temperature: ["hot", -1, true, [], {}, -0.5],
  top_p: [0, 1.5, "a", -1],
  top_k: [-2, 1.5, "k"],
  min_p: [2, -0.1, "p"],
  n: [0, -1, 1000, 1.5, "2"],
  max_tokens: [0, -5, 100000, "10", 1.5, true],
  stop: [5, [1], Array.from({ length: 100 }, (_, i) => `s${i}`), [""], { a: 1 }],
  seed: [1.5, "s", 2 ** 60],
  logit_bias: [{ a: 1 }, { "1": "x" }, { "1": 1000 }, [], { "-3": 1 }, { "99999999": 1 }],
  presence_penalty: [5, "x"],
  frequency_penalty: [-3, []],
  repetition_penalty: [0, -1, "r"],
  min_tokens: [-1, 100000, "m"],
  stop_token_ids: [[-1], "x", [1e9], [1.5]],
  stream: ["yes", 1],
  stream_options: [5, "x", { include_usage: "yes" }],
  response_format: [{ type: "yaml" }, { type: "json_schema", json_schema: {} }, { type: "json_schema", json_schema: { name: "x" } }, "json", 5],
  guided_json: [5, ["x"], "{not json", { type: "fancy" }],
  guided_regex: [5, "[", "(a"],
  guided_choice: [[], "x", [1]],
  structured_outputs: ["x", { regex: 5 }, { regex: "a", choice: ["b"] }, { grammar: "root ::= " }],
  use_beam_search: [true],
  request_id: ["has space", "\u00e9t\u00e9", 5],
};
const CHAT_BREAKS: Record<string, unknown[]> = {
  messages: [5, "hi", [], [{}], [{ role: 5 }], [{ role: "user", content: 123 }], [{ role: "wizard", content: "x" }],
    [{ role: "user", content: [{ type: "image_url", image_url: { url: "x" } }] }], [{ role: "tool", content: "x" }], null],
  logprobs: ["yes", 2],
  top_logprobs: [21, -1, "3"],
  max_completion_tokens: [0, -1, 100000],
  tools: [[{ type: "function", function: { name: "f" } }], "x"],
  chat_template_kwargs: ["x", 5],
  add_generation_prompt: ["x"],
};
const COMPLETION_BREAKS: Record<string, unknown[]> = {
  prompt: [5, {}, [], [[]], [-1], [1e9], [1.5], [true], [[1], "x"], null, Array.from({ length: 600 }, () => 7)],
  logprobs: [-1, 21, "x"], // true reads as 1 (vLLM), so it is not a break
  echo: ["yes"],
  suffix: ["x"],
  best_of: [5],
};
const RAW_BODIES = [
  "", "{", "}", "null", "[]", "123", '"str"', "true", "{\"messages\": [", "{'single': 1}", "\u0000\u0001", "[".repeat(5000) + "]".repeat(5000),
  "{\"prompt\": \"x\",}", "{\"prompt\": NaN}", "{\"prompt\": Infinity}", "{\"max_tokens\": 1e999, \"prompt\": \"x\"}",
];

function baseBody(endpoint: "chat" | "completion"): Record<string, unknown> {
  const body: Record<string, unknown> = endpoint === "chat"
    ? { model: MODEL_NAME, messages: [{ role: "user", content: "Hi" }], max_tokens: 2 }
    : { model: MODEL_NAME, prompt: pick(["Hi", ["a", "b"], [1, 5, 7]]), max_tokens: 2 };
  for (const key of Object.keys(VALID)) if (g.random() < 0.3) body[key] = VALID[key]();
  return body;
}

/** One broken request: [path, raw body text, what was broken]. */
function brokenRequest(i: number): [string, string | Uint8Array, string] {
  const kind = i % 10;
  if (kind === 0) {
    const raw = pick(RAW_BODIES);
    // Generation endpoints only: some raw bodies (e.g. max_tokens: 1e999) are fine for /tokenize.
    return [pick(["/v1/chat/completions", "/v1/completions"]), raw, `raw ${JSON.stringify(raw.slice(0, 40))}`];
  }
  if (kind === 1) {
    const bytes = Uint8Array.from({ length: int(1, 64) }, () => int(0, 255));
    return [pick(["/v1/chat/completions", "/v1/completions"]), bytes, "random bytes"];
  }
  if (kind === 2) {
    const body = pick([{ prompt: 5 }, { messages: "x" }, { prompt: "x", model: "nope" }, { tokens: [-1] }, { tokens: "x" }, { tokens: [1.5] }, {}]);
    return [pick(["/tokenize", "/detokenize"]), JSON.stringify(body), `tokenizer ${JSON.stringify(body)}`];
  }
  const endpoint = kind < 6 ? "chat" : "completion";
  const body = baseBody(endpoint);
  const breaks = { ...BREAKS, ...(endpoint === "chat" ? CHAT_BREAKS : COMPLETION_BREAKS) };
  const field = pick(Object.keys(breaks));
  body[field] = pick(breaks[field]);
  if (field === "top_logprobs" && g.random() < 0.5) body.logprobs = false;
  const text = JSON.stringify(body);
  // Some bodies are also cut short, which must still be a 400.
  const cut = g.random() < 0.1 ? text.slice(0, int(1, text.length - 1)) : text;
  return [endpoint === "chat" ? "/v1/chat/completions" : "/v1/completions", cut, `${field}=${JSON.stringify(body[field])?.slice(0, 60)}`];
}

describe("fuzz", () => {
  test("1,000 malformed bodies each get a 4xx with an OpenAI error, and the server stays healthy", async () => {
    const requests = Array.from({ length: 1000 }, (_, i) => brokenRequest(i));
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const [path, body, what] = requests[next++];
        const res = await fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        let shaped = false;
        try {
          const e = JSON.parse(text).error;
          shaped = typeof e.message === "string" && typeof e.type === "string" && e.code === res.status && "param" in e;
        } catch { /* not JSON */ }
        if (res.status < 400 || res.status >= 500 || !shaped) failures.push(`${path} ${what}: ${res.status} ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(failures).toEqual([]);
    expect([...statuses.keys()].every((st) => st >= 400 && st < 500)).toBe(true);
    expect(statuses.get(400)!).toBeGreaterThan(900);

    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    const ok = await s.client.completions.create({ model: MODEL_NAME, prompt: "Hi", max_tokens: 3 });
    expect(ok.choices[0].finish_reason).not.toBeNull();
    const m = await metrics(s.url);
    expect(metricValue(m, "vllm:num_requests_running")).toBe(0);
    expect(metricValue(m, "vllm:kv_cache_usage_perc")).toBe(0);
    expect(s.state.inFlight).toBe(0);
  });
});
