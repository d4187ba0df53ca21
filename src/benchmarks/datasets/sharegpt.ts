/**
 * vLLM's ShareGPT dataset: the first turn of each conversation is the prompt, the second sets the output
 * length (unless --sharegpt-output-len fixes it); entries too short or too long are skipped as vLLM skips them.
 */
import type { Generator } from "../../sample/generator";
import type { Tokenizer } from "../../tokenizer/tokenizer";
import { readRecords } from "./dataset_file";
import { type SampleRequest, shuffle } from "./sample_request";

// vLLM's is_valid_sequence bounds, inherited from the original ShareGPT sampling.
const MIN_LEN = 4, MAX_PROMPT_LEN = 1024, MAX_TOTAL_LEN = 2048;

export function sampleShareGpt(tok: Tokenizer, g: Generator, path: string, num: number, outputLen: number | null, idPrefix: string): SampleRequest[] {
  const entries = shuffle(g, readRecords(path).filter((e) => Array.isArray(e.conversations) && e.conversations.length >= 2));
  const out: SampleRequest[] = [];
  for (const e of entries) {
    if (out.length >= num) break;
    const [first, second] = e.conversations as { value?: unknown }[];
    if (typeof first?.value !== "string" || typeof second?.value !== "string") continue;
    const promptLen = tok.encode(first.value).length;
    const len = outputLen ?? tok.encode(second.value).length;
    if (!isValidSequence(promptLen, len, outputLen !== null)) continue;
    out.push({ prompt: first.value, promptLen, expectedOutputLen: len, requestId: `${idPrefix}${out.length}` });
  }
  if (out.length === 0) throw new Error(`--dataset-path ${path}: no ShareGPT conversation with two turns of usable length`);
  return out;
}

function isValidSequence(promptLen: number, outputLen: number, fixedOutput: boolean): boolean {
  if (promptLen < MIN_LEN || (!fixedOutput && outputLen < MIN_LEN)) return false;
  return promptLen <= MAX_PROMPT_LEN && promptLen + outputLen <= MAX_TOTAL_LEN;
}
