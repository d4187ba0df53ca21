/** The dataset flags `bench serve` and `bench throughput` share, named and defaulted as vLLM's. */
import { DATASET_NAMES, type DatasetName, type DatasetOptions } from "../../benchmarks/datasets";
import { ArgError, type FlagSpec } from "../arg_parser";

/** `random` gives the random dataset's mean lengths (the commands keep different defaults). */
export function datasetFlags(random: { inputLen: number; outputLen: number }): FlagSpec[] {
  return [
    { name: "dataset-name", type: "string", default: "random", choices: DATASET_NAMES, help: "where prompts come from" },
    { name: "dataset-path", type: "string", help: "sharegpt: JSON/JSONL with `conversations`; custom: JSONL with `prompt` (and optional `output_tokens`)" },
    { name: "input-len", type: "int", help: "general prompt length; sets --random-input-len" },
    { name: "output-len", type: "int", help: "general output length; sets --random-output-len, --sharegpt-output-len and --custom-output-len" },
    { name: "random-input-len", type: "int", default: random.inputLen, help: "random: mean prompt tokens" },
    { name: "random-output-len", type: "int", default: random.outputLen, help: "random: mean output tokens" },
    { name: "random-range-ratio", type: "float", default: 0, help: "random: lengths drawn uniformly from [len·(1−r), len·(1+r)], r in [0, 1)" },
    { name: "random-prefix-len", type: "int", default: 0, help: "random: tokens of one random prefix shared by every prompt" },
    { name: "sharegpt-output-len", type: "int", help: "sharegpt: fixed output tokens; default: the length of the second turn" },
    { name: "custom-output-len", type: "int", default: 256, help: "custom: output tokens of lines without `output_tokens`" },
    { name: "no-oversample", type: "bool", default: false, help: "do not repeat entries when the file has fewer than --num-prompts" },
  ];
}

/** Flag values → dataset options (the general --input-len / --output-len win over the per-dataset ones). */
export function datasetOptionsFrom(v: Record<string, unknown>, numPrompts: number, seed: number, requestIdPrefix: string): Omit<DatasetOptions, "applyChatTemplate"> {
  const int = (name: string) => v[name] as number | undefined;
  const inputLen = int("input-len") ?? int("random-input-len")!;
  const outputLen = int("output-len") ?? int("random-output-len")!;
  const customOutputLen = int("output-len") ?? int("custom-output-len")!;
  const name = v["dataset-name"] as DatasetName, path = (v["dataset-path"] as string | undefined) ?? null;
  if (name === "random" && path !== null) throw new ArgError(`argument --dataset-path: the random dataset reads no file; use --dataset-name sharegpt or custom for ${path}`);
  if (name !== "random" && path === null) throw new ArgError(`argument --dataset-path: --dataset-name ${name} needs a file`);
  for (const [flag, x] of [["input-len", inputLen], ["output-len", outputLen], ["custom-output-len", customOutputLen]] as const)
    if (!(x >= 1)) throw new ArgError(`argument --${flag}: must be at least 1, got ${x}`);
  return {
    name, path, numPrompts, seed,
    random: { inputLen, outputLen, rangeRatio: v["random-range-ratio"] as number, prefixLen: int("random-prefix-len")! },
    sharegptOutputLen: int("output-len") ?? int("sharegpt-output-len") ?? null, customOutputLen,
    noOversample: v["no-oversample"] as boolean, requestIdPrefix,
  };
}
