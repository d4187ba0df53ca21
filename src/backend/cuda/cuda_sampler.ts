/**
 * Backend.sample on CUDA: packs a SamplingBatch into one device buffer (one upload), runs vk_sample, and
 * reads every output back in one copy, so a step's sampling costs two small transfers whatever the batch.
 * Both buffers only grow.
 */
import { type Pointer, ptr } from "bun:ffi";
import { MAX_SAMPLE_LOGPROBS as K, type SamplingBatch, type SamplingResult } from "../backend";
import type { CudaKernels } from "./ffi";

/** Byte offsets of consecutive arrays in one buffer. */
class Layout {
  end = 0;
  take(bytes: number, align = 4): number {
    const at = Math.ceil(this.end / align) * align;
    this.end = at + bytes;
    return at;
  }
}

export class CudaSampler {
  private dev: Pointer | null = null;
  private devBytes = 0;
  private host = new ArrayBuffer(0);

  constructor(private readonly k: CudaKernels) {}

  /** `logits`: device pointer to [rows, vocab] f32. Returns once the outputs are on the host. */
  run(logits: Pointer, logitsRows: number, vocab: number, b: SamplingBatch): SamplingResult {
    validate(b);
    const n = b.rows.length, nOps = b.opTokens.length, nMask = b.bitmasks?.length ?? 0;
    const L = new Layout();
    const o = { tokens: L.take(n * 4), logprobs: L.take(n * 4), ranks: L.take(n * 4), topIds: L.take(n * K * 4), topLps: L.take(n * K * 4) };
    const outBytes = L.end;
    const i = {
      fparams: L.take(n * 32, 8), opParams: L.take(nOps * 24, 8), rows: L.take(n * 4), iparams: L.take(n * 16),
      opStarts: L.take((n + 1) * 4), opTokens: L.take(nOps * 4), bitmasks: L.take(nMask * 4),
    };
    const inEnd = L.end;
    const opSaved = L.take(nOps * 4);
    this.reserve(L.end);
    this.pack(b, i);
    const d = (off: number) => (Number(this.dev) + off) as Pointer;
    this.k.memcpyH2D(d(outBytes), ptr(new Uint8Array(this.host, outBytes, inEnd - outBytes)), inEnd - outBytes);
    this.k.sample(d(o.tokens), d(o.logprobs), d(o.ranks), d(o.topIds), d(o.topLps), d(opSaved), logits, logitsRows, vocab,
      d(i.rows), n, d(i.fparams), d(i.iparams), d(i.opStarts), d(i.opTokens), d(i.opParams), d(i.bitmasks),
      bitmaskRows(b), b.bitmaskWords);
    this.k.memcpyD2H(ptr(new Uint8Array(this.host, 0, outBytes)), d(0), outBytes);
    return {
      tokenIds: new Int32Array(this.host.slice(o.tokens, o.tokens + n * 4)),
      logprobs: new Float32Array(this.host.slice(o.logprobs, o.logprobs + n * 4)),
      ranks: new Int32Array(this.host.slice(o.ranks, o.ranks + n * 4)),
      topIds: new Int32Array(this.host.slice(o.topIds, o.topIds + n * K * 4)),
      topLogprobs: new Float32Array(this.host.slice(o.topLps, o.topLps + n * K * 4)),
    };
  }

  private pack(b: SamplingBatch, i: Record<"fparams" | "opParams" | "rows" | "iparams" | "opStarts" | "opTokens" | "bitmasks", number>): void {
    const n = b.rows.length, h = this.host;
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

  private reserve(bytes: number): void {
    if (bytes > this.host.byteLength) this.host = new ArrayBuffer(Math.ceil(bytes * 1.25));
    if (bytes <= this.devBytes) return;
    if (this.dev) this.k.free(this.dev); // cudaFree waits for queued kernels that may still read it
    const want = Math.ceil(bytes * 1.25);
    this.dev = this.k.alloc(want);
    if (!this.dev) throw new Error(`cuda backend: out of device memory allocating ${want} bytes for sampling`);
    this.devBytes = want;
  }
}

/** Whole rows of `bitmaskWords` words in the batch's bitmasks (vk_sample checks each entry's row against it). */
function bitmaskRows(b: SamplingBatch): number {
  return b.bitmasks && b.bitmaskWords > 0 ? Math.floor(b.bitmasks.length / b.bitmaskWords) : 0;
}

// The layout vk_sample relies on but cannot check itself; the ids it indexes by (logits rows, forced and
// processor tokens, bitmask rows) it checks on the device.
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
  // Ops rewrite their row in place while the kernel runs: no other entry may read it meanwhile.
  const readers = new Map<number, number>();
  for (const row of b.rows) readers.set(row, (readers.get(row) ?? 0) + 1);
  for (let r = 0; r < n; r++)
    if (b.opStarts[r + 1] > b.opStarts[r] && readers.get(b.rows[r])! > 1) throw new Error(`sample: logits row ${b.rows[r]} has logits processors and several entries`);
}
