/** --dataset-name → sample requests, shared by `bench serve` and `bench throughput`. */
import { Generator } from "../../sample/generator";
import type { Tokenizer } from "../../tokenizer/tokenizer";
import { sampleCustom } from "./custom";
import { type RandomDatasetOptions, sampleRandom } from "./random";
import { oversample, type SampleRequest } from "./sample_request";
import { sampleShareGpt } from "./sharegpt";

export type { SampleRequest } from "./sample_request";

export const DATASET_NAMES = ["random", "sharegpt", "custom"] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export interface DatasetOptions {
  name: DatasetName;
  path: string | null;
  numPrompts: number;
  seed: number;
  random: RandomDatasetOptions;
  /** Fixes every ShareGPT output length; null: the second turn's length. */
  sharegptOutputLen: number | null;
  customOutputLen: number;
  /** Wrap custom prompts in the chat template (completions endpoints only). */
  applyChatTemplate: boolean;
  noOversample: boolean;
  requestIdPrefix: string;
}

export function getSamples(tok: Tokenizer, o: DatasetOptions): SampleRequest[] {
  if (!(o.numPrompts >= 1)) throw new Error(`--num-prompts must be at least 1, got ${o.numPrompts}`);
  const g = new Generator(o.seed);
  const p = o.requestIdPrefix;
  if (o.name === "random") return sampleRandom(tok, g, o.numPrompts, o.random, p);
  if (o.path === null) throw new Error(`--dataset-name ${o.name} needs --dataset-path`);
  const reqs = o.name === "sharegpt"
    ? sampleShareGpt(tok, g, o.path, o.numPrompts, o.sharegptOutputLen, p)
    : sampleCustom(tok, g, o.path, o.numPrompts, { outputLen: o.customOutputLen, applyTemplate: o.applyChatTemplate }, p);
  return oversample(g, reqs, o.numPrompts, p, o.noOversample);
}
