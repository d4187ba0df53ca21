/** Serve-time settings: generation_config defaults, a chat template override, several served names, request logs. */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "../../src/server/logger";
import { startStatLogger } from "../../src/server/stat_logger";
import { tinyModelDir } from "../support/tiny_models";
import { post, startTestServer } from "./support";

const base = tinyModelDir("mistral");

/** The tiny model with its own generation_config.json. */
function withGenerationConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), "vllm-genconfig-"));
  for (const f of readdirSync(base)) if (f !== "generation_config.json") symlinkSync(join(base, f), join(dir, f));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: 2, ...config }));
  return dir;
}

describe("serve settings", () => {
  test("--generation-config auto applies the model's defaults; vllm ignores them", async () => {
    const dir = withGenerationConfig({ temperature: 0.25, top_p: 0.5, top_k: 7, max_new_tokens: 3 });
    try {
      for (const mode of ["auto", "vllm"] as const) {
        const s = startTestServer({ modelDir: dir, config: { generationConfig: mode } });
        try {
          const r = await post(`${s.url}/v1/completions`, { prompt: "Hello", ignore_eos: true });
          expect(r.json.usage.completion_tokens).toBe(mode === "auto" ? 3 : 16);
          // An explicit value beats the default, but never the model's own cap.
          const asked = await post(`${s.url}/v1/completions`, { prompt: "Hello", ignore_eos: true, max_tokens: 5 });
          expect(asked.json.usage.completion_tokens).toBe(mode === "auto" ? 3 : 5);
          expect(s.state.defaults).toEqual(mode === "auto" ? { temperature: 0.25, topP: 0.5, topK: 7, maxTokens: 3 } : {});
        } finally {
          await s.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a --chat-template override renders every chat prompt", async () => {
    const s = startTestServer({ config: { chatTemplate: "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}" } });
    try {
      const r = await post(`${s.url}/tokenize`, { messages: [{ role: "user", content: "Hi" }] });
      expect(r.json.tokens).toEqual(s.state.tokenizer.encode("<user>Hi", { addSpecialTokens: false }));
      const c = await s.client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "Hi" }], max_tokens: 1 });
      expect(c.usage!.prompt_tokens).toBe(r.json.count);
    } finally {
      await s.close();
    }
  });

  test("several --served-model-name values are all listed and accepted", async () => {
    const s = startTestServer({ config: { servedModelNames: ["first", "second"] } });
    try {
      expect((await s.client.models.list()).data.map((m) => m.id)).toEqual(["first", "second"]);
      expect((await s.client.completions.create({ model: "second", prompt: "Hi", max_tokens: 1 })).model).toBe("second");
      expect((await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 1 })).json.model).toBe("first");
      expect((await post(`${s.url}/v1/completions`, { model: "tiny", prompt: "Hi", max_tokens: 1 })).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  test("with --enable-log-requests every log line of a request carries its X-Request-Id", async () => {
    const lines: string[] = [];
    const s = startTestServer({ config: { enableLogRequests: true }, log: new Logger("info", (l) => lines.push(l)) });
    try {
      await post(`${s.url}/v1/completions`, { prompt: "Hi", max_tokens: 2 }, { "x-request-id": "rid-77" });
      const mine = lines.filter((l) => l.includes("[rid-77]"));
      expect(mine.some((l) => l.includes("Received request") && l.includes("prompt tokens"))).toBe(true);
      expect(mine.some((l) => l.includes('"POST /v1/completions" 200'))).toBe(true);
      expect(lines.filter((l) => l.includes("/v1/completions")).every((l) => l.includes("[rid-77]"))).toBe(true);
    } finally {
      await s.close();
    }
  });

  test("the periodic stats line reports throughput, queue and KV usage while there is work, and is quiet when idle", async () => {
    const lines: string[] = [];
    const s = startTestServer({ log: new Logger("info", (l) => lines.push(l)) });
    const stop = startStatLogger(s.state, 30);
    try {
      await Bun.sleep(80);
      expect(lines.filter((l) => l.includes("Avg prompt throughput"))).toEqual([]);
      await post(`${s.url}/v1/completions`, { prompt: "Hello", max_tokens: 30, ignore_eos: true });
      await Bun.sleep(80);
      const stats = lines.filter((l) => l.includes("Avg prompt throughput"));
      expect(stats.length).toBeGreaterThanOrEqual(1);
      expect(stats[0]).toMatch(/Avg generation throughput: [\d.]+ tokens\/s, Running: \d+ reqs, Waiting: \d+ reqs, KV cache usage: [\d.]+%, Prefix cache hit rate: [\d.]+%/);
    } finally {
      stop();
      await s.close();
    }
  });
});
