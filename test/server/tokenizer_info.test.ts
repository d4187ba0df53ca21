/**
 * GET /tokenizer_info behind --enable-tokenizer-info-endpoint (vLLM's shape: tokenizer_config.json without file
 * paths, added tokens as their text, tokenizer_class, the serving chat template), and the /tokenize parity check
 * on continue_final_message with add_generation_prompt.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseServeFlags } from "../../src/cli/serve";
import { type TinyModelName, tinyModelDir } from "../support/tiny_models";
import type { ServerConfig } from "../../src/server/state";
import { MODEL_NAME, post, startTestServer, type TestServer } from "./support";

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.close())));
const serve = (model: TinyModelName, config: Partial<ServerConfig> = {}) => {
  const s = startTestServer({ model, config: { enableTokenizerInfoEndpoint: true, ...config } });
  servers.push(s);
  return s;
};
const fileConfig = (model: TinyModelName) => JSON.parse(readFileSync(join(tinyModelDir(model), "tokenizer_config.json"), "utf8"));
const getInfo = async (s: TestServer, headers: Record<string, string> = {}) => {
  const res = await fetch(`${s.url}/tokenizer_info`, { headers });
  return { status: res.status, json: (await res.json()) as any };
};

describe("GET /tokenizer_info", () => {
  test("Llama 3: every tokenizer_config.json setting, added tokens as text, the Fast class, the template", async () => {
    const s = serve("llama3");
    const { status, json } = await getInfo(s);
    expect(status).toBe(200);
    const file = fileConfig("llama3");
    for (const key of Object.keys(file)) expect(json).toHaveProperty(key);
    expect(json.tokenizer_class).toBe("PreTrainedTokenizerFast");
    expect(json.bos_token).toBe("<|begin_of_text|>");
    expect(json.model_max_length).toBe(file.model_max_length);
    const added = json.added_tokens_decoder as Record<string, unknown>;
    expect(Object.keys(added).length).toBe(Object.keys(file.added_tokens_decoder).length);
    for (const [id, token] of Object.entries(file.added_tokens_decoder as Record<string, { content: string }>)) expect(added[id]).toBe(token.content);
    expect(json.chat_template).toBe(s.state.tokenizer.chatTemplate!);
  });

  test("Llama 2 style (Mistral): AddedToken objects read as text, the slow class name becomes its Fast one", async () => {
    const s = serve("mistral");
    const { json } = await getInfo(s);
    expect(json.tokenizer_class).toBe("LlamaTokenizerFast");
    for (const key of ["bos_token", "eos_token", "unk_token"]) expect(typeof json[key]).toBe("string");
    expect(json.eos_token).toBe("</s>");
    for (const key of ["vocab_file", "merges_file", "tokenizer_file"]) expect(json).not.toHaveProperty(key);
    expect(JSON.stringify(json)).not.toContain('"content"');
  });

  test("--chat-template: the served template is the one reported", async () => {
    const template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}";
    const s = serve("qwen3", { chatTemplate: template });
    const { json } = await getInfo(s);
    expect(json.chat_template).toBe(template);
    expect(json.tokenizer_class).toBe("Qwen2TokenizerFast");
  });

  test("off by default: a 404 in OpenAI's shape; behind the API key when one is set", async () => {
    const off = startTestServer({ model: "mistral" });
    servers.push(off);
    const r = await getInfo(off);
    expect(r.status).toBe(404);
    expect(r.json.error.type).toBe("NotFoundError");
    const keyed = serve("mistral", { apiKey: "sk-test" });
    expect((await getInfo(keyed)).status).toBe(401);
    expect((await getInfo(keyed, { authorization: "Bearer sk-test" })).status).toBe(200);
  });

  test("listed in the OpenAPI document", async () => {
    const s = serve("mistral");
    const doc = (await (await fetch(`${s.url}/openapi.json`)).json()) as any;
    expect(doc.paths["/tokenizer_info"].get).toBeDefined();
  });

  test("the serve flag maps to the server config", () => {
    const dir = tinyModelDir("mistral");
    const on = parseServeFlags([dir, "--enable-tokenizer-info-endpoint"]);
    const off = parseServeFlags([dir]);
    expect(on === "help" ? null : on.serve.config.enableTokenizerInfoEndpoint).toBe(true);
    expect(off === "help" ? null : off.serve.config.enableTokenizerInfoEndpoint).toBe(false);
  });
});

describe("/tokenize and chat: continue_final_message with add_generation_prompt", () => {
  test("both set true is vLLM's 400; continue_final_message alone continues the last message", async () => {
    const s = serve("mistral");
    const messages = [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello the" }];
    for (const path of ["/tokenize", "/v1/chat/completions"]) {
      const bad = await post(`${s.url}${path}`, { model: MODEL_NAME, messages, continue_final_message: true, add_generation_prompt: true, max_tokens: 1 });
      expect(bad.status).toBe(400);
      expect(bad.json.error.message).toBe("Cannot set both `continue_final_message` and `add_generation_prompt` to True.");
    }
    const ok = await post(`${s.url}/tokenize`, { messages, continue_final_message: true, return_token_strs: true });
    expect(ok.status).toBe(200);
    const text = await post(`${s.url}/detokenize`, { tokens: ok.json.tokens });
    expect(text.json.prompt.trimEnd().endsWith("Hello the")).toBe(true);
    expect(ok.json.token_strs.length).toBe(ok.json.count);
  });
});
