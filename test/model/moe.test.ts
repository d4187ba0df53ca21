/** Mixture-of-experts config parsing (which layers are sparse, routing flags, refusals) and the load-time op check. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Backend } from "../../src/backend/backend";
import { CpuBackend } from "../../src/backend/cpu/cpu_backend";
import { openCheckpoint } from "../../src/model_loader/checkpoint";
import { parseModelConfig } from "../../src/model_loader/hf_config";
import { createCausalLM } from "../../src/model/causal_lm";
import { tinyModelDir } from "../support/tiny_models";

const configOf = (name: "mixtral" | "qwen2_moe" | "qwen3_moe") => JSON.parse(readFileSync(join(tinyModelDir(name), "config.json"), "utf8"));

describe("mixture-of-experts models", () => {
  test("config: experts, top-k, renormalisation and the sparse layers of each family", () => {
    const mixtral = parseModelConfig(configOf("mixtral"), "config.json");
    expect(mixtral.moe).toEqual({ numExperts: 8, numExpertsPerTok: 2, expertIntermediateSize: 96, normTopkProb: true, sparseLayers: [true, true], sharedExpertIntermediateSize: 0 });
    expect([mixtral.attentionBias, mixtral.qkNorm, mixtral.slidingWindow]).toEqual([false, false, null]);
    // decoder_sparse_step 2: layers 1 and 3 are sparse; a shared expert; q/k/v biases.
    const qwen2 = parseModelConfig(configOf("qwen2_moe"), "config.json");
    expect(qwen2.moe).toEqual({ numExperts: 6, numExpertsPerTok: 2, expertIntermediateSize: 32, normTopkProb: false, sparseLayers: [false, true, false, true], sharedExpertIntermediateSize: 80 });
    expect([qwen2.attentionBias, qwen2.oProjBias, qwen2.intermediateSize]).toEqual([true, false, 128]);
    // mlp_only_layers [1].
    const qwen3 = parseModelConfig(configOf("qwen3_moe"), "config.json");
    expect(qwen3.moe!.sparseLayers).toEqual([true, false, true]);
    expect([qwen3.moe!.normTopkProb, qwen3.qkNorm, qwen3.headDim]).toEqual([true, true, 32]);
  });

  test("config: refusals name the field", () => {
    const bad = (name: "mixtral" | "qwen2_moe" | "qwen3_moe", patch: object) => () => parseModelConfig({ ...configOf(name), ...patch }, "config.json");
    expect(bad("mixtral", { num_experts_per_tok: 9 })).toThrow(/num_experts_per_tok' must be at most min\(32, the 8 experts\)/);
    expect(bad("qwen3_moe", { use_sliding_window: true })).toThrow(/use_sliding_window' must be false/);
    expect(bad("qwen2_moe", { mlp_only_layers: [4] })).toThrow(/mlp_only_layers' must be a list of layer indices in \[0, 4\)/);
    expect(bad("qwen3_moe", { num_experts: 0 })).toThrow(/num_experts' must be a positive integer/);
  });

  test("a backend without the MoE ops is refused at load, naming the op", () => {
    const dir = tinyModelDir("qwen2_moe");
    const config = parseModelConfig(configOf("qwen2_moe"), "config.json");
    const cpu = new CpuBackend({ numThreads: 1 });
    const lacking = (op: keyof Backend) => new Proxy(cpu, { get: (t, k) => (k === op ? undefined : Reflect.get(t, k, t)) }) as Backend;
    for (const op of ["moeExperts", "moeSharedAdd"] as const) {
      expect(() => createCausalLM(config, lacking(op), openCheckpoint(dir), { maxNumTokens: 8, maxNumLogits: 8 }))
        .toThrow(`Qwen2MoeForCausalLM needs the ${op} op, which the cpu backend does not have yet`);
    }
  });
});
