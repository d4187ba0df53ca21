/** Runs a model's forward pass directly (no engine) over a hand-built paged KV layout, for logits tests. */
import type { Backend, Tensor } from "../../src/backend/backend";
import { CpuBackend } from "../../src/backend/cpu/cpu_backend";
import { openCheckpoint } from "../../src/model_loader/checkpoint";
import { loadModelConfig } from "../../src/model_loader/hf_config";
import { type CausalLM, createCausalLM } from "../../src/model/causal_lm";
import type { KVCache } from "../../src/model/forward_batch";

let sharedBackend: CpuBackend | null = null;
export function cpuBackend(): CpuBackend {
  sharedBackend ??= new CpuBackend({ numThreads: 2 });
  return sharedBackend;
}

/** One sequence decoded step by step: `run(ids)` appends ids and returns logits for every new position. */
export class SequenceHarness {
  readonly model: CausalLM;
  private readonly kv: KVCache[];
  private readonly blockSize = 4;
  private readonly blockIds: number[];
  private len = 0;
  private readonly b: Backend;
  private readonly t: Record<string, Tensor>;

  constructor(dir: string, maxLen = 256, backend: Backend = cpuBackend(), maxModelLen = 512) {
    this.b = backend;
    const config = loadModelConfig(dir);
    this.model = createCausalLM(config, backend, openCheckpoint(dir), { maxNumTokens: maxLen, maxNumLogits: maxLen, maxModelLen });
    const numBlocks = Math.ceil(maxLen / this.blockSize) + 3;
    // A scrambled block table, so the attention kernel must follow it rather than assume contiguity.
    this.blockIds = Array.from({ length: numBlocks - 1 }, (_, i) => (i * 7 + 3) % (numBlocks - 1) + 1);
    const shape = [numBlocks, this.blockSize, config.numKeyValueHeads, config.headDim];
    this.kv = Array.from({ length: config.numHiddenLayers }, () => ({ k: backend.empty(shape, "f32"), v: backend.empty(shape, "f32"), blockSize: this.blockSize }));
    const n = maxLen;
    this.t = Object.fromEntries(["ids", "pos", "slots", "logitsIdx"].map((k) => [k, backend.empty([n], "i32")]).concat(
      [["bt", backend.empty([this.blockIds.length], "i32")], ["seqLens", backend.empty([1], "i32")], ["qsl", backend.empty([2], "i32")]]));
    backend.write(this.t.bt, Int32Array.from(this.blockIds));
  }

  /** Feeds `ids` as one chunk; returns one logits row (Float32Array) per fed token. */
  run(ids: number[]): Float32Array[] {
    const n = ids.length, start = this.len, bs = this.blockSize, V = this.model.config.vocabSize;
    const pos = Int32Array.from(ids, (_, i) => start + i);
    this.b.write(this.t.ids, Int32Array.from(ids));
    this.b.write(this.t.pos, pos);
    this.b.write(this.t.slots, pos.map((p) => this.blockIds[Math.floor(p / bs)] * bs + (p % bs)));
    this.b.write(this.t.logitsIdx, Int32Array.from(ids, (_, i) => i));
    this.b.write(this.t.seqLens, Int32Array.of(start + n));
    this.b.write(this.t.qsl, Int32Array.of(0, n));
    this.len += n;
    const logits = this.model.forward({
      numTokens: n, inputIds: this.t.ids, positions: this.t.pos, slotMapping: this.t.slots,
      attn: { blockTables: this.t.bt, maxBlocksPerSeq: this.blockIds.length, seqLens: this.t.seqLens, queryStartLoc: this.t.qsl, numSeqs: 1, maxQueryLen: n },
      numLogits: n, logitsIndices: this.t.logitsIdx,
    }, this.kv);
    const host = this.b.readF32(logits, n * V);
    return Array.from({ length: n }, (_, i) => host.slice(i * V, (i + 1) * V));
  }
}

/** max |a - b| / max |b| over a row: the relative error the parity tests bound. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}
