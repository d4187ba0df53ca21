/**
 * vk_sample's arguments from a SamplingBatch, for every library that has the op: the checks the kernel relies
 * on but cannot make, and one host staging buffer holding every input and output array at fixed offsets (so a
 * GPU library uploads the inputs in one copy and reads the outputs back in one; the CPU library reads it in
 * place). The buffer only grows.
 */
import { type Pointer, ptr } from "bun:ffi";
import { MAX_SAMPLE_LOGPROBS as K, type SamplingBatch, type SamplingResult } from "./backend";
import type { CoreKernels } from "./kernel_abi";

/** Byte offsets of one batch's arrays: outputs in [0, outBytes), inputs in [outBytes, inEnd), then op_saved. */
export interface SampleLayout {
  n: number;
  out: Record<"tokens" | "logprobs" | "ranks" | "topIds" | "topLps", number>;
  in: Record<"fparams" | "opParams" | "rows" | "iparams" | "opStarts" | "opTokens" | "bitmasks", number>;
  outBytes: number;
  inEnd: number;
  opSaved: number;
  bytes: number;
}

export class SampleStaging {
  private host = new ArrayBuffer(0);

  /** Checks `b`, lays it out and packs its inputs into the staging buffer. */
  stage(b: SamplingBatch): SampleLayout {
    validate(b);
    const L = layout(b);
    if (L.bytes > this.host.byteLength) this.host = new ArrayBuffer(Math.ceil(L.bytes * 1.25));
    this.pack(b, L);
    return L;
  }

  /** The staging buffer's bytes [from, to) (valid until the next stage()). */
  bytes(from: number, to: number): Pointer {
    return ptr(new Uint8Array(this.host, from, Math.max(to - from, 1)));
  }

  /** The outputs, copied out of the staging buffer. */
  results(L: SampleLayout): SamplingResult {
    const o = L.out, n = L.n, h = this.host;
    return {
      tokenIds: new Int32Array(h.slice(o.tokens, o.tokens + n * 4)),
      logprobs: new Float32Array(h.slice(o.logprobs, o.logprobs + n * 4)),
      ranks: new Int32Array(h.slice(o.ranks, o.ranks + n * 4)),
      topIds: new Int32Array(h.slice(o.topIds, o.topIds + n * K * 4)),
      topLogprobs: new Float32Array(h.slice(o.topLps, o.topLps + n * K * 4)),
    };
  }

  private pack(b: SamplingBatch, L: SampleLayout): void {
    const n = L.n, h = this.host, i = L.in;
    const fp = new Float64Array(h, i.fparams, n * 4), ip = new Int32Array(h, i.iparams, n * 4);
    for (let r = 0; r < n; r++) {
      fp[4 * r] = b.temperature[r]; fp[4 * r + 1] = b.topP[r]; fp[4 * r + 2] = b.minP[r]; fp[4 * r + 3] = b.u[r];
      ip[4 * r] = b.topK[r]; ip[4 * r + 1] = b.numLogprobs[r]; ip[4 * r + 2] = b.forcedToken[r]; ip[4 * r + 3] = b.bitmaskRow[r];
    }
    new Int32Array(h, i.rows, n).set(b.rows);
    new Int32Array(h, i.opStarts, n + 1).set(b.opStarts);
    new Int32Array(h, i.opTokens, b.opTokens.length).set(b.opTokens);
    new Float64Array(h, i.opParams, b.opParams.length).set(b.opParams);
    if (b.bitmasks) new Int32Array(h, i.bitmasks, b.bitmasks.length).set(b.bitmasks);
  }
}

/** Calls vk_sample with every array at `base + offset`: the staging buffer itself (cpu) or its device copy (gpu). */
export function callSample(k: Pick<CoreKernels, "sample">, base: number, L: SampleLayout, logits: Pointer, logitsRows: number,
  vocab: number, b: SamplingBatch): void {
  const d = (off: number) => (base + off) as Pointer, o = L.out, i = L.in;
  k.sample(d(o.tokens), d(o.logprobs), d(o.ranks), d(o.topIds), d(o.topLps), d(L.opSaved), logits, logitsRows, vocab,
    d(i.rows), L.n, d(i.fparams), d(i.iparams), d(i.opStarts), d(i.opTokens), d(i.opParams), d(i.bitmasks),
    bitmaskRows(b), b.bitmaskWords);
}

/** Byte offsets of consecutive arrays in one buffer. */
class Offsets {
  end = 0;
  take(bytes: number, align = 4): number {
    const at = Math.ceil(this.end / align) * align;
    this.end = at + bytes;
    return at;
  }
}

function layout(b: SamplingBatch): SampleLayout {
  const n = b.rows.length, nOps = b.opTokens.length, nMask = b.bitmasks?.length ?? 0;
  const L = new Offsets();
  const out = { tokens: L.take(n * 4), logprobs: L.take(n * 4), ranks: L.take(n * 4), topIds: L.take(n * K * 4), topLps: L.take(n * K * 4) };
  const outBytes = L.end;
  const inputs = {
    fparams: L.take(n * 32, 8), opParams: L.take(nOps * 24, 8), rows: L.take(n * 4), iparams: L.take(n * 16),
    opStarts: L.take((n + 1) * 4), opTokens: L.take(nOps * 4), bitmasks: L.take(nMask * 4),
  };
  const inEnd = L.end;
  const opSaved = L.take(nOps * 4);
  return { n, out, in: inputs, outBytes, inEnd, opSaved, bytes: L.end };
}

/** Whole rows of `bitmaskWords` words in the batch's bitmasks (vk_sample checks each entry's row against it). */
function bitmaskRows(b: SamplingBatch): number {
  return b.bitmasks && b.bitmaskWords > 0 ? Math.floor(b.bitmasks.length / b.bitmaskWords) : 0;
}

// The layout vk_sample relies on but cannot check itself; the ids it indexes by (logits rows, forced and
// processor tokens, bitmask rows) it checks.
function validate(b: SamplingBatch): void {
  const n = b.rows.length;
  const sizes = [b.temperature, b.topP, b.minP, b.topK, b.u, b.forcedToken, b.numLogprobs, b.bitmaskRow].map((a) => a.length);
  if (sizes.some((s) => s !== n) || b.opStarts.length !== n + 1) throw new Error("sample: batch arrays differ in length");
  if (b.opStarts[0] !== 0 || b.opStarts[n] !== b.opTokens.length || b.opParams.length !== 3 * b.opTokens.length)
    throw new Error("sample: opStarts does not cover opTokens / opParams");
  for (let r = 0; r < n; r++) {
    if (b.numLogprobs[r] > K) throw new Error(`sample: entry ${r} asks for ${b.numLogprobs[r]} logprobs; at most ${K}`);
    if (b.opStarts[r + 1] < b.opStarts[r]) throw new Error("sample: opStarts must not decrease");
  }
  if (b.opTokens.length === 0) return;
  // A GPU library rewrites a row with ops in place while the kernel runs: no other entry may read it meanwhile.
  const readers = new Map<number, number>();
  for (const row of b.rows) readers.set(row, (readers.get(row) ?? 0) + 1);
  for (let r = 0; r < n; r++)
    if (b.opStarts[r + 1] > b.opStarts[r] && readers.get(b.rows[r])! > 1) throw new Error(`sample: logits row ${b.rows[r]} has logits processors and several entries`);
}
