/** `vllm generate`: offline generation for one or more prompts, run as one batch. */
import { ENGINE_FLAGS, type EngineArgs, engineArgsFrom } from "../config/engine_args";
import { createEngine } from "../entrypoints/from_engine_args";
import { makeSamplingParams, type SamplingParams } from "../engine/sampling_params";
import type { GenerationConfig } from "../model_loader/generation_config";
import { applyChatTemplate } from "../tokenizer/chat_template";
import { type FlagSpec, formatHelp, parseArgs } from "./arg_parser";
import { HUB_FLAGS, withResolvedModel } from "./hub_flags";

const GENERATE_FLAGS: FlagSpec[] = [
  { name: "prompt", type: "strings", help: "prompt text; repeat the flag (or list several) for a batch" },
  { name: "max-tokens", type: "int", default: 16, help: "tokens to generate per prompt" },
  { name: "temperature", type: "float", help: "sampling temperature, 0 = greedy; default: generation_config.json, else 1.0" },
  { name: "top-p", type: "float", help: "nucleus sampling mass; default: generation_config.json, else 1.0" },
  { name: "top-k", type: "int", help: "sample among the k most likely tokens (0 or -1 = off); default: generation_config.json, else off" },
  { name: "logprobs", type: "int", help: "report the K most likely tokens with logprobs at each step" },
  { name: "chat", type: "bool", default: false, help: "wrap each prompt as one user message through the model's chat template" },
  { name: "json", type: "bool", default: false, help: "print one JSON object per prompt, one per line" },
  ...ENGINE_FLAGS,
  ...HUB_FLAGS,
];

export const GENERATE_USAGE = "vllm generate [--model DIR|ORG/NAME] --prompt TEXT [--prompt TEXT ...] [options]";

export function generateHelp(): string {
  return formatHelp(GENERATE_USAGE,
    "Generates text for each prompt on this machine and prints it. Without --model it uses the built-in demo model, whose weights are random: its text is noise, but the tokens are real and deterministic.",
    GENERATE_FLAGS);
}

export function runGenerate(argv: string[]): number | Promise<number> {
  const { values, positionals, help } = parseArgs(argv, GENERATE_FLAGS);
  if (help) { console.log(generateHelp()); return 0; }
  if (positionals.length > 0) values["model"] = positionals[0];
  const prompts = (values["prompt"] as string[] | undefined) ?? [];
  if (prompts.length === 0) throw new Error("vllm generate: at least one --prompt is required");
  const args = engineArgsFrom(values);
  const info = (l: string) => console.error(`INFO ${l}`);
  return withResolvedModel("generate", values, info, (model) => generate(values, prompts, { ...args, model: model.dir }));
}

function generate(values: Record<string, unknown>, prompts: string[], args: EngineArgs): number {
  const json = values["json"] as boolean;
  const loaded = createEngine(args, json ? () => {} : (l) => console.error(`INFO ${l}`));
  const { engine, tokenizer, modelConfig } = loaded;
  const inputs = prompts.map((p) => ({
    promptTokenIds: values["chat"]
      ? tokenizer.encode(applyChatTemplate(tokenizer, [{ role: "user", content: p }], { addGenerationPrompt: true }), { addSpecialTokens: false })
      : tokenizer.encode(p),
  }));
  const params = prompts.map((_, i) => samplingParamsFor(values, loaded.generationConfig, args.seed + i, modelConfig.vocabSize, args.maxLogprobs));
  for (const input of inputs) {
    if (input.promptTokenIds.length + params[0].maxTokens > loaded.maxModelLen)
      throw new Error(`This model's maximum context length is ${loaded.maxModelLen} tokens. The prompt has ${input.promptTokenIds.length} tokens and --max-tokens asks for ${params[0].maxTokens}.`);
  }
  const outputs = engine.generate(inputs, params);
  outputs.forEach((out, i) => {
    const o = out.outputs[0];
    if (json) {
      console.log(JSON.stringify({
        prompt: prompts[i], prompt_token_ids: out.promptTokenIds, token_ids: o.tokenIds, text: o.text, finish_reason: o.finishReason,
        logprobs: o.logprobs ? o.logprobs.map((lp) => lp.top) : null,
      }));
    } else {
      console.log(`Prompt: ${JSON.stringify(prompts[i])}\nGenerated: ${JSON.stringify(o.text)} (${o.tokenIds.length} tokens, finish_reason=${o.finishReason})\n`);
    }
  });
  return 0;
}

function samplingParamsFor(v: Record<string, unknown>, gen: GenerationConfig | null, seed: number, vocabSize: number, maxLogprobs: number): SamplingParams {
  return makeSamplingParams({
    maxTokens: v["max-tokens"] as number,
    temperature: (v["temperature"] as number | undefined) ?? gen?.temperature ?? undefined,
    topP: (v["top-p"] as number | undefined) ?? gen?.topP ?? undefined,
    topK: (v["top-k"] as number | undefined) ?? gen?.topK ?? undefined,
    logprobs: (v["logprobs"] as number | undefined) ?? null,
    seed,
  }, { maxLogprobs, maxN: 1, maxStopStrings: 0, vocabSize });
}
