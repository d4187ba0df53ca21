import { describe, expect, test } from "bun:test";
import { ArgError, parseArgs, parseSize } from "../../src/cli/arg_parser";
import { ENGINE_FLAGS, engineArgsFrom } from "../../src/config/engine_args";

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
    expect(a.maxNumSeqs).toBe(256);
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
