/** EngineArgs: the engine flags shared by `vllm generate`, `vllm bench` and `vllm serve`, with vLLM's names. */
import { ArgError, type FlagSpec } from "../cli/arg_parser";

export interface EngineArgs {
  model: string; // a model directory, or "demo"
  maxModelLen: number | null;
  maxNumSeqs: number | null; // null: vLLM's default for the device (schedulerDefaults in vllm_config.ts)
  maxNumBatchedTokens: number | null;
  /** Overlap step N's output processing with step N+1's forward pass (LLMEngine); default: on for cuda. */
  overlapOutputProcessing?: boolean;
  /** Which of vLLM's usage contexts picks the defaults: offline (generate, bench) or the API server. */
  usageContext?: "llm" | "server";
  blockSize: number;
  enablePrefixCaching: boolean;
  enableChunkedPrefill: boolean;
  kvCacheMemory: number; // bytes
  cpuThreads: number | null;
  seed: number;
  maxLogprobs: number;
  device: "auto" | "cpu" | "cuda"; // auto: CUDA when its runtime and a device are present, else the CPU
  gpuMemoryUtilization: number; // fraction of device memory for weights, activations and the KV cache
  numGpuBlocksOverride: number | null; // KV cache blocks to use instead of the measured or budgeted count
  structuredOutputsMaxWhitespace: number | null; // whitespace characters between JSON elements under a JSON constraint; null: unbounded
}

export const ENGINE_FLAGS: FlagSpec[] = [
  { name: "model", type: "string", default: "demo", help: "model directory (Hugging Face layout), or 'demo' for the built-in random-weight demo model" },
  { name: "max-model-len", type: "size", help: "context length (prompt + output); accepts 1k (1000) and 1K (1024); default: from config.json" },
  { name: "max-num-seqs", type: "int", help: "most sequences in one step; default as vLLM's: 1024 on a GPU with >= 70 GiB (not an A100), else 256" },
  { name: "max-num-batched-tokens", type: "int", help: "token budget of one step; default as vLLM's: on a GPU with >= 70 GiB (not an A100) 16384 offline and 8192 for serve, on other GPUs 8192 and 2048, on the CPU 8192" },
  { name: "block-size", type: "int", default: 16, help: "tokens per KV cache block", choices: undefined },
  { name: "enable-prefix-caching", type: "bool", default: true, negatable: true, help: "reuse KV blocks of prompt prefixes seen before" },
  { name: "enable-chunked-prefill", type: "bool", default: true, negatable: true, help: "split long prompts across steps" },
  { name: "kv-cache-memory", type: "size", default: 4 * 1024 ** 3, aliases: ["kv-cache-memory-bytes"], help: "bytes for the KV cache on the CPU (e.g. 2GiB); also --kv-cache-memory-bytes (vLLM's name)" },
  { name: "cpu-threads", type: "int", help: "kernel threads on the CPU backend; default: all CPUs" },
  { name: "seed", type: "int", default: 0, help: "random seed for requests without their own seed" },
  { name: "max-logprobs", type: "int", default: 20, help: "largest logprobs / prompt_logprobs a request may ask for" },
  { name: "device", type: "string", default: "auto", choices: ["auto", "cpu", "cuda"], help: "backend: auto picks CUDA when its runtime and a GPU are present, else the CPU (the log says why)" },
  { name: "gpu-memory-utilization", type: "float", default: 0.9, help: "fraction of GPU memory for the engine, in (0, 1]; the KV cache gets what weights and a profiling step leave of it (CUDA only)" },
  { name: "structured-outputs-max-whitespace", type: "int", default: 4, help: "most whitespace characters between JSON elements in JSON-constrained output (-1: unbounded); without a bound weak models fill JSON with newlines" },
  { name: "num-gpu-blocks-override", type: "int", help: "use this many KV cache blocks whatever memory allows (testing preemption); default: sized from memory" },
];

/** Builds EngineArgs from parsed flag values, failing with a message that names the flag. */
export function engineArgsFrom(v: Record<string, unknown>): EngineArgs {
  const a: EngineArgs = {
    model: v["model"] as string,
    maxModelLen: (v["max-model-len"] as number | undefined) ?? null,
    maxNumSeqs: (v["max-num-seqs"] as number | undefined) ?? null,
    maxNumBatchedTokens: (v["max-num-batched-tokens"] as number | undefined) ?? null,
    blockSize: v["block-size"] as number,
    enablePrefixCaching: v["enable-prefix-caching"] as boolean,
    enableChunkedPrefill: v["enable-chunked-prefill"] as boolean,
    kvCacheMemory: v["kv-cache-memory"] as number,
    cpuThreads: (v["cpu-threads"] as number | undefined) ?? null,
    seed: v["seed"] as number,
    maxLogprobs: v["max-logprobs"] as number,
    device: v["device"] as EngineArgs["device"],
    gpuMemoryUtilization: v["gpu-memory-utilization"] as number,
    numGpuBlocksOverride: (v["num-gpu-blocks-override"] as number | undefined) ?? null,
    structuredOutputsMaxWhitespace: (v["structured-outputs-max-whitespace"] as number) < 0 ? null : (v["structured-outputs-max-whitespace"] as number),
  };
  const positive = (flag: string, x: number | null, max = 2 ** 31 - 1) => {
    if (x !== null && !(Number.isSafeInteger(x) && x >= 1 && x <= max)) throw new ArgError(`argument --${flag}: must be an integer in [1, ${max}], got ${x}`);
  };
  positive("max-model-len", a.maxModelLen);
  positive("max-num-seqs", a.maxNumSeqs, 65536);
  positive("max-num-batched-tokens", a.maxNumBatchedTokens, 1 << 20);
  positive("cpu-threads", a.cpuThreads, 1024);
  positive("num-gpu-blocks-override", a.numGpuBlocksOverride);
  if (![1, 2, 4, 8, 16, 32, 64, 128].includes(a.blockSize)) throw new ArgError(`argument --block-size: must be a power of two up to 128, got ${a.blockSize}`);
  if (!(a.gpuMemoryUtilization > 0 && a.gpuMemoryUtilization <= 1)) throw new ArgError(`argument --gpu-memory-utilization: must be in (0, 1], got ${a.gpuMemoryUtilization}`);
  if (a.structuredOutputsMaxWhitespace !== null && !(Number.isInteger(a.structuredOutputsMaxWhitespace) && a.structuredOutputsMaxWhitespace <= 1024))
    throw new ArgError(`argument --structured-outputs-max-whitespace: must be an integer up to 1024 (or -1 for unbounded), got ${a.structuredOutputsMaxWhitespace}`);
  if (a.maxLogprobs < 0) throw new ArgError(`argument --max-logprobs: must be non-negative, got ${a.maxLogprobs}`);
  if (!a.enableChunkedPrefill && a.maxModelLen !== null && a.maxNumBatchedTokens !== null && a.maxModelLen > a.maxNumBatchedTokens)
    throw new ArgError(`argument --max-num-batched-tokens: ${a.maxNumBatchedTokens} is smaller than --max-model-len ${a.maxModelLen}; enable chunked prefill or raise it`);
  return a;
}
