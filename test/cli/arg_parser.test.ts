import { describe, expect, test } from "bun:test";
import { ArgError, parseArgs, parseSize } from "../../src/cli/arg_parser";
import { ENGINE_FLAGS, engineArgsFrom } from "../../src/config/engine_args";
import { createVllmConfig, schedulerDefaults } from "../../src/config/vllm_config";
import type { ModelConfig } from "../../src/model_loader/model_config";

describe("arg parser", () => {
  test("sizes read as vLLM reads them", () => {
    expect(parseSize("4096", "x")).toBe(4096);
    expect(parseSize("1k", "x")).toBe(1000);
    expect(parseSize("1K", "x")).toBe(1024);
    expect(parseSize("2GiB", "x")).toBe(2 * 1024 ** 3);
    expect(parseSize("1.5gb", "x")).toBe(1.5e9);
    expect(() => parseSize("lots", "max-model-len")).toThrow(/--max-model-len/);
  });

  test("unknown flags and bad values name the flag", () => {
    expect(() => parseArgs(["--nope"], ENGINE_FLAGS)).toThrow(ArgError);
    expect(() => parseArgs(["--max-num-seqs", "x"], ENGINE_FLAGS)).toThrow(/--max-num-seqs/);
    expect(() => engineArgsFrom(parseArgs(["--block-size", "12"], ENGINE_FLAGS).values)).toThrow(/--block-size/);
    expect(() => engineArgsFrom(parseArgs(["--max-num-seqs", "0"], ENGINE_FLAGS).values)).toThrow(/--max-num-seqs/);
  });

  test("defaults, negation, = syntax and underscores", () => {
    const a = engineArgsFrom(parseArgs(["--no-enable-prefix-caching", "--max_model_len=2k", "--kv-cache-memory", "1GiB"], ENGINE_FLAGS).values);
    expect(a.enablePrefixCaching).toBe(false);
    expect(a.maxModelLen).toBe(2000);
    expect(a.kvCacheMemory).toBe(1024 ** 3);
    expect(a.blockSize).toBe(16);
    expect(a.maxNumSeqs).toBeNull(); // resolved per device by schedulerDefaults
    expect(a.maxNumBatchedTokens).toBeNull();
  });
});

describe("vLLM's device-dependent scheduler defaults", () => {
  const GiB = 1024 ** 3;
  test("a >= 70 GiB GPU that is not an A100 gets 1024 sequences and 16384 / 8192 tokens; smaller GPUs 256 and 8192 / 2048; the CPU 256 and 8192", () => {
    const h200 = { totalMemoryBytes: 141 * GiB, name: "cuda (NVIDIA H200)" };
    expect(schedulerDefaults(h200, "llm")).toEqual({ maxNumSeqs: 1024, maxNumBatchedTokens: 16384 });
    expect(schedulerDefaults(h200, "server")).toEqual({ maxNumSeqs: 1024, maxNumBatchedTokens: 8192 });
    expect(schedulerDefaults({ totalMemoryBytes: 70 * GiB, name: "cuda (NVIDIA H100)" }, "llm").maxNumSeqs).toBe(1024);
    const a100 = { totalMemoryBytes: 80 * GiB, name: "cuda (NVIDIA A100-SXM4-80GB)" };
    expect(schedulerDefaults(a100, "llm")).toEqual({ maxNumSeqs: 256, maxNumBatchedTokens: 8192 });
    expect(schedulerDefaults({ totalMemoryBytes: 24 * GiB, name: "cuda (NVIDIA L4)" }, "server")).toEqual({ maxNumSeqs: 256, maxNumBatchedTokens: 2048 });
    expect(schedulerDefaults({ totalMemoryBytes: 70 * GiB - 1, name: "cuda" }, "llm").maxNumSeqs).toBe(256);
    expect(schedulerDefaults({ totalMemoryBytes: null, name: "cpu" }, "server")).toEqual({ maxNumSeqs: 256, maxNumBatchedTokens: 8192 });
  });
  test("flags given win over the defaults", () => {
    const args = engineArgsFrom(parseArgs(["--max-num-seqs", "8", "--max-num-batched-tokens", "300", "--max-model-len", "256"], ENGINE_FLAGS).values);
    const model = { maxPositionEmbeddings: 512 } as ModelConfig;
    const c = createVllmConfig(args, "m", model, { totalMemoryBytes: 141 * GiB, name: "cuda (NVIDIA H200)" });
    expect(c.scheduler.maxNumSeqs).toBe(8);
    expect(c.scheduler.maxNumBatchedTokens).toBe(300);
    const d = createVllmConfig(engineArgsFrom(parseArgs(["--max-model-len", "256"], ENGINE_FLAGS).values), "m", model, { totalMemoryBytes: 141 * GiB, name: "cuda (NVIDIA H200)" });
    expect(d.scheduler.maxNumSeqs).toBe(1024);
    expect(d.scheduler.maxNumBatchedTokens).toBe(16384);
  });
});

describe("--structured-outputs-max-whitespace bounds", () => {
  const parse = (v: string) => engineArgsFrom(parseArgs(["--structured-outputs-max-whitespace", v], ENGINE_FLAGS).values).structuredOutputsMaxWhitespace;
  test("0, the default 4 and 1024 are taken; -1 is unbounded; 1025 is refused naming the flag", () => {
    expect(parse("0")).toBe(0);
    expect(engineArgsFrom(parseArgs([], ENGINE_FLAGS).values).structuredOutputsMaxWhitespace).toBe(4);
    expect(parse("1024")).toBe(1024);
    expect(parse("-1")).toBeNull();
    expect(() => parse("1025")).toThrow(/--structured-outputs-max-whitespace/);
  });
});
