/**
 * The profiling forward: one step at the largest batch the scheduler can form (max_num_batched_tokens
 * prompt tokens spread over max_num_seqs sequences, each sampling a row), over a scratch KV cache
 * freed afterwards. It sizes every lazily grown device buffer before the KV cache is measured.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { ForwardBatch, KVCache } from "../model/forward_batch";
import type { CausalLM } from "../model/causal_lm";

export function profileRun(model: CausalLM, backend: Backend, maxNumTokens: number, maxNumSeqs: number, blockSize: number): void {
  const c = model.config;
  const numSeqs = Math.min(maxNumSeqs, maxNumTokens, model.maxNumLogits);
  const lens = Array.from({ length: numSeqs }, (_, s) => Math.floor(maxNumTokens / numSeqs) + (s < maxNumTokens % numSeqs ? 1 : 0));
  const maxBlocksPerSeq = Math.ceil(Math.max(...lens) / blockSize);
  const numBlocks = numSeqs * maxBlocksPerSeq;
  const ids = new Int32Array(maxNumTokens), positions = new Int32Array(maxNumTokens), slots = new Int32Array(maxNumTokens);
  const blockTables = new Int32Array(numSeqs * maxBlocksPerSeq), seqLens = Int32Array.from(lens);
  const queryStartLoc = new Int32Array(numSeqs + 1), logitsIndices = new Int32Array(numSeqs);
  let t = 0;
  for (let s = 0; s < numSeqs; s++) {
    for (let b = 0; b < maxBlocksPerSeq; b++) blockTables[s * maxBlocksPerSeq + b] = s * maxBlocksPerSeq + b;
    for (let i = 0; i < lens[s]; i++, t++) {
      ids[t] = (t * 7919) % c.vocabSize;
      positions[t] = i;
      slots[t] = s * maxBlocksPerSeq * blockSize + i;
    }
    queryStartLoc[s + 1] = t;
    logitsIndices[s] = t - 1;
  }
  const owned: Tensor[] = [];
  const dev = (a: Int32Array) => {
    const x = backend.empty([a.length], "i32");
    owned.push(x);
    backend.write(x, a);
    return x;
  };
  const kvShape = [numBlocks, blockSize, c.numKeyValueHeads, c.headDim];
  const kvCaches: KVCache[] = Array.from({ length: c.numHiddenLayers }, () => {
    const k = backend.empty(kvShape, backend.activationDtype), v = backend.empty(kvShape, backend.activationDtype);
    owned.push(k, v);
    return { k, v, blockSize };
  });
  try {
    const batch: ForwardBatch = {
      numTokens: maxNumTokens, inputIds: dev(ids), positions: dev(positions), slotMapping: dev(slots),
      attn: { blockTables: dev(blockTables), maxBlocksPerSeq, seqLens: dev(seqLens), queryStartLoc: dev(queryStartLoc), numSeqs, maxQueryLen: Math.max(...lens) },
      numLogits: numSeqs, logitsIndices: dev(logitsIndices),
    };
    const logits = model.forward(batch, kvCaches);
    backend.readF32(logits, 1); // waits for the step and surfaces any device failure
  } finally {
    for (const x of owned) backend.free(x);
  }
}
