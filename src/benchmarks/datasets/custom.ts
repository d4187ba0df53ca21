/**
 * vLLM's custom dataset: JSON Lines of `{"prompt": ...}`, optionally with `output_tokens` per line, else
 * --custom-output-len. Prompts for a completions endpoint are wrapped in the model's chat template unless
 * --skip-chat-template; a chat endpoint applies the template itself.
 */
import { applyChatTemplate } from "../../tokenizer/chat_template";
import type { Generator } from "../../sample/generator";
import type { Tokenizer } from "../../tokenizer/tokenizer";
import { readRecords } from "./dataset_file";
import { type SampleRequest, shuffle } from "./sample_request";

export interface CustomDatasetOptions {
  outputLen: number;
  applyTemplate: boolean;
}

export function sampleCustom(tok: Tokenizer, g: Generator, path: string, num: number, o: CustomDatasetOptions, idPrefix: string): SampleRequest[] {
  const records = readRecords(path);
  const bad = records.findIndex((r) => typeof r.prompt !== "string");
  if (bad >= 0) throw new Error(`--dataset-path ${path}: entry ${bad + 1} has no string "prompt"`);
  return shuffle(g, records).slice(0, num).map((r, i) => {
    const templated = o.applyTemplate && tok.chatTemplate !== null;
    const prompt = templated ? applyChatTemplate(tok, [{ role: "user", content: r.prompt as string }], { addGenerationPrompt: true }) : (r.prompt as string);
    return {
      prompt,
      // Counted as a completions server will tokenize it (special tokens added).
      promptLen: tok.encode(prompt).length,
      expectedOutputLen: outputTokens(r, o.outputLen, path),
      requestId: `${idPrefix}${i}`,
    };
  });
}

function outputTokens(r: Record<string, unknown>, fallback: number, path: string): number {
  const v = r.output_tokens;
  if (v === undefined || v === null) return fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw new Error(`--dataset-path ${path}: "output_tokens" must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}
