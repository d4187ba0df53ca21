/** Small-footprint EngineArgs for tests. */
import type { EngineArgs } from "../../src/config/engine_args";

export function testEngineArgs(model: string, over: Partial<EngineArgs> = {}): EngineArgs {
  return {
    model, maxModelLen: 512, maxNumSeqs: 64, maxNumBatchedTokens: 512, blockSize: 16, enablePrefixCaching: true,
    enableChunkedPrefill: true, kvCacheMemory: 64 * 1024 * 1024, cpuThreads: 2, seed: 0, maxLogprobs: 20,
    device: "cpu", gpuMemoryUtilization: 0.9, numGpuBlocksOverride: null, structuredOutputsMaxWhitespace: 4, ...over,
  };
}
