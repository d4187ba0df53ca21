import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelLoadError } from "../../src/model_loader/errors";
import { loadGenerationConfig, parseGenerationConfig } from "../../src/model_loader/generation_config";
import { loadModelConfig, parseModelConfig } from "../../src/model_loader/hf_config";

const SRC = "/models/x/config.json";

// Trimmed copies of real published configs.
const LLAMA_31_8B = {
  architectures: ["LlamaForCausalLM"], attention_bias: false, bos_token_id: 128000,
  eos_token_id: [128001, 128008, 128009], hidden_act: "silu", hidden_size: 4096, intermediate_size: 14336,
  max_position_embeddings: 131072, mlp_bias: false, model_type: "llama", num_attention_heads: 32,
  num_hidden_layers: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  rope_theta: 500000.0, tie_word_embeddings: false, torch_dtype: "bfloat16", vocab_size: 128256,
};
const MISTRAL_7B_V03 = {
  architectures: ["MistralForCausalLM"], bos_token_id: 1, eos_token_id: 2, hidden_size: 4096,
  intermediate_size: 14336, max_position_embeddings: 32768, model_type: "mistral", num_attention_heads: 32,
  num_hidden_layers: 32, num_key_value_heads: 8, rms_norm_eps: 1e-5, rope_theta: 1000000.0, sliding_window: null,
  tie_word_embeddings: false, torch_dtype: "bfloat16", vocab_size: 32768,
};
const QWEN25_05B = {
  architectures: ["Qwen2ForCausalLM"], bos_token_id: 151643, eos_token_id: 151645, hidden_size: 896,
  intermediate_size: 4864, max_position_embeddings: 32768, max_window_layers: 21, model_type: "qwen2",
  num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_scaling: null,
  rope_theta: 1000000.0, sliding_window: 32768, tie_word_embeddings: true, torch_dtype: "bfloat16",
  use_sliding_window: false, vocab_size: 151936,
};
const QWEN3_06B = {
  architectures: ["Qwen3ForCausalLM"], attention_bias: false, bos_token_id: 151643, eos_token_id: 151645,
  head_dim: 128, hidden_size: 1024, intermediate_size: 3072, max_position_embeddings: 40960, max_window_layers: 28,
  model_type: "qwen3", num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6,
  rope_scaling: null, rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: "bfloat16",
  use_sliding_window: false, vocab_size: 151936,
};

function configError(json: unknown): ModelLoadError {
  try {
    parseModelConfig(json, SRC);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    expect((e as Error).message).toContain(SRC);
    return e as ModelLoadError;
  }
  throw new Error("expected a ModelLoadError");
}

describe("parseModelConfig per architecture", () => {
  test("Llama 3.1: GQA, llama3 rope scaling, eos list", () => {
    const c = parseModelConfig(LLAMA_31_8B, SRC);
    expect(c).toEqual({
      architecture: "LlamaForCausalLM", modelType: "llama", vocabSize: 128256, hiddenSize: 4096,
      intermediateSize: 14336, numHiddenLayers: 32, numAttentionHeads: 32, numKeyValueHeads: 8, headDim: 128,
      rmsNormEps: 1e-5, ropeTheta: 500000,
      ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
      maxPositionEmbeddings: 131072, tieWordEmbeddings: false, attentionBias: false, oProjBias: false,
      mlpBias: false, qkNorm: false, slidingWindow: null, torchDtype: "bfloat16", bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
    });
  });

  test("Llama defaults, tied embeddings, biases, explicit head_dim", () => {
    const minimal = {
      architectures: ["LlamaForCausalLM"], vocab_size: 256, hidden_size: 64, intermediate_size: 128,
      num_hidden_layers: 2, num_attention_heads: 4,
    };
    const c = parseModelConfig(minimal, SRC);
    expect(c.numKeyValueHeads).toBe(4);
    expect(c.headDim).toBe(16);
    expect(c.rmsNormEps).toBe(1e-6);
    expect(c.ropeTheta).toBe(10000);
    expect(c.ropeScaling).toBeNull();
    expect(c.maxPositionEmbeddings).toBe(2048);
    expect(c.tieWordEmbeddings).toBe(false);
    expect(c.modelType).toBe("llama");
    expect(c.bosTokenId).toBeNull();
    expect(c.eosTokenIds).toEqual([]);

    const tied = parseModelConfig({ ...minimal, tie_word_embeddings: true, head_dim: 32, attention_bias: true, mlp_bias: true }, SRC);
    expect(tied.tieWordEmbeddings).toBe(true);
    expect(tied.headDim).toBe(32);
    expect([tied.attentionBias, tied.oProjBias, tied.mlpBias]).toEqual([true, true, true]);
  });

  test("Mistral: no biases, sliding window null, absent (class default 4096) or explicit", () => {
    const c = parseModelConfig(MISTRAL_7B_V03, SRC);
    expect(c.slidingWindow).toBeNull();
    expect([c.attentionBias, c.oProjBias, c.mlpBias, c.qkNorm]).toEqual([false, false, false, false]);
    expect(c.eosTokenIds).toEqual([2]);
    expect(c.ropeTheta).toBe(1e6);
    const { sliding_window: _, ...absent } = MISTRAL_7B_V03;
    expect(parseModelConfig(absent, SRC).slidingWindow).toBe(4096);
    expect(parseModelConfig({ ...MISTRAL_7B_V03, sliding_window: 2048 }, SRC).slidingWindow).toBe(2048);
  });

  test("Qwen2.5: q/k/v bias without o_proj bias, tied, sliding window off", () => {
    const c = parseModelConfig(QWEN25_05B, SRC);
    expect([c.attentionBias, c.oProjBias, c.mlpBias, c.qkNorm]).toEqual([true, false, false, false]);
    expect(c.headDim).toBe(64);
    expect(c.numKeyValueHeads).toBe(2);
    expect(c.tieWordEmbeddings).toBe(true);
    expect(c.slidingWindow).toBeNull();
    expect(c.eosTokenIds).toEqual([151645]);
  });

  test("Qwen2 sliding window applies to the layers from max_window_layers on", () => {
    const on = { ...QWEN25_05B, use_sliding_window: true, sliding_window: 4096 };
    expect(parseModelConfig({ ...on, max_window_layers: 0 }, SRC).slidingWindow).toBe(4096);
    expect(parseModelConfig({ ...on, max_window_layers: 24 }, SRC).slidingWindow).toBeNull();
    const mixed = parseModelConfig({ ...on, max_window_layers: 21 }, SRC);
    expect(mixed.slidingWindow).toBe(4096);
    expect(mixed.layerTypes).toEqual([...Array(21).fill("full_attention"), ...Array(3).fill("sliding_attention")]);
    const allSliding = Array(24).fill("sliding_attention");
    expect(parseModelConfig({ ...on, max_window_layers: 21, layer_types: allSliding }, SRC).slidingWindow).toBe(4096);
    expect(configError({ ...on, layer_types: ["full_attention"] }).message).toMatch(/'layer_types' must be a list of 24/);
  });

  test("Gemma 3 and Phi-3 configs in transformers 4.x spelling", () => {
    const base = { hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 7, intermediate_size: 128, vocab_size: 1000 };
    const g = parseModelConfig({ ...base, architectures: ["Gemma3ForCausalLM"], rope_theta: 1e6, rope_local_base_freq: 10000,
      rope_scaling: { rope_type: "linear", factor: 8 }, sliding_window: 512, sliding_window_pattern: 6 }, SRC);
    expect(g.layerTypes?.map((t) => t[0])).toEqual(["s", "s", "s", "s", "s", "f", "s"]);
    expect([g.ropeTheta, g.ropeScaling, g.gemma?.localRope]).toEqual([1e6, { type: "linear", factor: 8 }, { theta: 10000, scaling: null }]);
    expect([g.tieWordEmbeddings, g.qkNorm, g.headDim, g.gemma?.finalLogitSoftcapping]).toEqual([true, true, 256, null]);
    const p = parseModelConfig({ ...base, architectures: ["Phi3ForCausalLM"], num_hidden_layers: 2, max_position_embeddings: 131072,
      original_max_position_embeddings: 4096, sliding_window: 262144,
      rope_scaling: { type: "su", short_factor: Array(8).fill(1), long_factor: Array(8).fill(2) } }, SRC);
    expect(p.ropeScaling).toMatchObject({ type: "longrope", originalMaxPositionEmbeddings: 4096, attentionFactor: Math.sqrt(1 + Math.log(32) / Math.log(4096)) });
    expect(configError({ ...base, architectures: ["Phi3ForCausalLM"], rope_scaling: { type: "longrope", short_factor: [1], long_factor: [1] } }).message).toMatch(/short_factor/);
  });

  test("Qwen3: explicit head_dim differs from hidden/heads, q/k norm, default head_dim 128", () => {
    const c = parseModelConfig(QWEN3_06B, SRC);
    expect(c.headDim).toBe(128);
    expect(c.hiddenSize / c.numAttentionHeads).toBe(64);
    expect(c.qkNorm).toBe(true);
    expect([c.attentionBias, c.oProjBias]).toEqual([false, false]);
    expect(c.tieWordEmbeddings).toBe(true);
    const { head_dim: _, ...noHeadDim } = QWEN3_06B;
    expect(parseModelConfig(noHeadDim, SRC).headDim).toBe(128);
    const biased = parseModelConfig({ ...QWEN3_06B, attention_bias: true }, SRC);
    expect([biased.attentionBias, biased.oProjBias]).toEqual([true, true]);
  });
});

describe("rope settings", () => {
  test("linear scaling, legacy 'type' key, and 'default' meaning none", () => {
    expect(parseModelConfig({ ...LLAMA_31_8B, rope_scaling: { type: "linear", factor: 2 } }, SRC).ropeScaling)
      .toEqual({ type: "linear", factor: 2 });
    expect(parseModelConfig({ ...LLAMA_31_8B, rope_scaling: { rope_type: "default" } }, SRC).ropeScaling).toBeNull();
    expect(parseModelConfig({ ...LLAMA_31_8B, rope_scaling: "default" }, SRC).ropeScaling).toBeNull();
  });

  test("rope_parameters (newer config layout)", () => {
    const { rope_theta: _, rope_scaling: __, ...base } = LLAMA_31_8B;
    const c = parseModelConfig({ ...base, rope_parameters: { ...LLAMA_31_8B.rope_scaling, rope_theta: 500000 } }, SRC);
    expect(c.ropeTheta).toBe(500000);
    expect(c.ropeScaling?.type).toBe("llama3");
    const plain = parseModelConfig({ ...base, rope_parameters: { rope_type: "default", rope_theta: 1e6 } }, SRC);
    expect([plain.ropeTheta, plain.ropeScaling]).toEqual([1e6, null]);
  });

  test("unsupported or malformed scaling names the problem", () => {
    expect(configError({ ...LLAMA_31_8B, rope_scaling: { rope_type: "yarn", factor: 4 } }).message).toMatch(/'yarn' is not supported/);
    expect(configError({ ...LLAMA_31_8B, rope_scaling: { factor: 4 } }).message).toMatch(/'rope_scaling\.rope_type'/);
    const noLow = { ...LLAMA_31_8B.rope_scaling, low_freq_factor: undefined };
    expect(configError({ ...LLAMA_31_8B, rope_scaling: noLow }).message).toMatch(/'rope_scaling\.low_freq_factor' must be a positive number/);
    expect(configError({ ...LLAMA_31_8B, rope_scaling: { type: "linear", factor: "2" } }).message).toMatch(/'rope_scaling\.factor'/);
  });
});

describe("config validation errors", () => {
  test("unknown architecture lists the supported ones", () => {
    const m = configError({ ...LLAMA_31_8B, architectures: ["GPT2LMHeadModel"] }).message;
    expect(m).toMatch(/'GPT2LMHeadModel' is not supported/);
    for (const a of ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"]) expect(m).toContain(a);
    expect(configError({ ...LLAMA_31_8B, architectures: undefined }).message).toMatch(/'architectures'.*supported/);
  });

  test("missing or mistyped required fields name the field", () => {
    expect(configError({ ...LLAMA_31_8B, vocab_size: undefined }).message).toMatch(/'vocab_size' must be a positive integer, got nothing/);
    expect(configError({ ...LLAMA_31_8B, hidden_size: "4096" }).message).toMatch(/'hidden_size' must be an integer, got "4096"/);
    expect(configError({ ...LLAMA_31_8B, num_hidden_layers: 0 }).message).toMatch(/'num_hidden_layers' must be a positive integer, got 0/);
    expect(configError({ ...LLAMA_31_8B, tie_word_embeddings: "yes" }).message).toMatch(/'tie_word_embeddings' must be true or false/);
    expect(configError({ ...LLAMA_31_8B, eos_token_id: [1, "2"] }).message).toMatch(/'eos_token_id'/);
    expect(configError([LLAMA_31_8B]).message).toMatch(/must hold a JSON object/);
  });

  test("GQA heads must divide, head_dim derivation must be exact", () => {
    expect(configError({ ...LLAMA_31_8B, num_key_value_heads: 5 }).message).toMatch(/'num_key_value_heads' must be a divisor of num_attention_heads \(32\)/);
    expect(configError({ ...LLAMA_31_8B, hidden_size: 4100 }).message).toMatch(/'hidden_size' must be divisible/);
  });

  test("dtype spellings", () => {
    expect(parseModelConfig({ ...LLAMA_31_8B, torch_dtype: "half" }, SRC).torchDtype).toBe("float16");
    expect(parseModelConfig({ ...LLAMA_31_8B, torch_dtype: "float" }, SRC).torchDtype).toBe("float32");
    expect(parseModelConfig({ ...LLAMA_31_8B, torch_dtype: undefined, dtype: "float16" }, SRC).torchDtype).toBe("float16");
    expect(parseModelConfig({ ...LLAMA_31_8B, torch_dtype: undefined }, SRC).torchDtype).toBe("bfloat16");
    expect(configError({ ...LLAMA_31_8B, torch_dtype: "int8" }).message).toMatch(/'torch_dtype' must be one of float32/);
  });

  test("activations other than silu are refused", () => {
    expect(configError({ ...LLAMA_31_8B, hidden_act: "gelu" }).message).toMatch(/'hidden_act'/);
  });
});

describe("files on disk", () => {
  const root = mkdtempSync(join(tmpdir(), "vllm-bun-config-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const modelDir = (files: Record<string, string>) => {
    const d = join(root, `m${n++}`);
    mkdirSync(d);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
    return d;
  };

  test("loadModelConfig reads config.json and names it in errors", () => {
    const d = modelDir({ "config.json": JSON.stringify(QWEN3_06B) });
    expect(loadModelConfig(d).architecture).toBe("Qwen3ForCausalLM");
    const missing = modelDir({});
    expect(() => loadModelConfig(missing)).toThrow(`${join(missing, "config.json")}: not found`);
    const bad = modelDir({ "config.json": "{ not json" });
    expect(() => loadModelConfig(bad)).toThrow(`${join(bad, "config.json")}: invalid JSON`);
  });

  test("generation_config.json: full, absent, malformed", () => {
    const d = modelDir({
      "generation_config.json": JSON.stringify({
        bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128009], temperature: 0.6, top_p: 0.9,
        top_k: 20, min_p: 0, repetition_penalty: 1.05, max_new_tokens: 512, transformers_version: "4.45.0",
      }),
    });
    expect(loadGenerationConfig(d)).toEqual({
      eosTokenIds: [128001, 128009], bosTokenId: 128000, padTokenId: null, doSample: true, temperature: 0.6,
      topP: 0.9, topK: 20, minP: 0, repetitionPenalty: 1.05, maxNewTokens: 512,
    });
    expect(loadGenerationConfig(modelDir({}))).toBeNull();
    const bad = modelDir({ "generation_config.json": "[1," });
    expect(() => loadGenerationConfig(bad)).toThrow(`${join(bad, "generation_config.json")}: invalid JSON`);
  });

  test("generation_config.json wrong types name the field", () => {
    const g = parseGenerationConfig({ eos_token_id: 2, pad_token_id: null }, "g.json");
    expect([g.eosTokenIds, g.padTokenId, g.temperature]).toEqual([[2], null, null]);
    expect(() => parseGenerationConfig({ temperature: "0.7" }, "g.json")).toThrow("g.json: field 'temperature' must be a number");
    expect(() => parseGenerationConfig({ top_k: 2.5 }, "g.json")).toThrow("'top_k' must be an integer");
    expect(() => parseGenerationConfig({ do_sample: 1 }, "g.json")).toThrow("'do_sample' must be true or false");
    expect(() => parseGenerationConfig({ eos_token_id: -1 }, "g.json")).toThrow("'eos_token_id'");
  });
});
