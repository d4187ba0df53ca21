/**
 * The CUDA backend: the kernel library in kernels/cuda (bf16 activations and KV cache, f32
 * accumulation, cuBLASLt GEMMs) bound through bun:ffi. Tensors hold device pointers; weights are
 * uploaded once and stored as bf16 whatever the checkpoint's dtype.
 */
import { type Pointer, ptr } from "bun:ffi";
import type { TensorInfo } from "../../model_loader/safetensors";
import { type AttentionLayerOptions, type AttentionMetadata, type Backend, type DType, type SamplingBatch, type SamplingResult, type Tensor, dtypeBytes, numel, weightDtype } from "../backend";
import { DTYPE_CODE, tableRows, VK_BF16 } from "../kernel_abi";
import { CudaSampler } from "./cuda_sampler";
import type { CudaKernels } from "./ffi";

export class CudaBackend implements Backend {
  readonly name = "cuda" as const;
  readonly activationDtype = "bf16" as const;
  readonly description: string;
  private sampler: CudaSampler | null = null;

  constructor(private readonly k: CudaKernels) {
    if (k.activationDtype() !== VK_BF16) throw new Error("cuda backend: the library's activations are not bf16");
    this.description = `cuda (${k.variant()})`;
    this.check("startup");
  }

  empty(shape: readonly number[], dtype: DType): Tensor {
    const bytes = Math.max(256, numel(shape) * dtypeBytes(dtype));
    const p = this.k.alloc(bytes);
    if (!p) {
      const mem = this.k.memGetInfo();
      const free = mem ? `; ${gib(mem.free)} of ${gib(mem.total)} free` : "";
      throw new Error(`cuda backend: out of device memory allocating ${gib(bytes)} for [${shape}] ${dtype}${free}`);
    }
    this.check("alloc");
    return { ptr: Number(p), dtype, shape: [...shape] };
  }

  weight(info: TensorInfo): Tensor {
    const t = this.empty(info.shape, "bf16");
    this.upload(t, 0, info);
    return t;
  }

  concatRows(parts: readonly TensorInfo[]): Tensor {
    const cols = parts[0].shape.slice(1);
    let rows = 0;
    for (const p of parts) {
      if (p.shape.slice(1).join() !== cols.join())
        throw new Error(`${p.file}: tensor ${p.name} cannot be fused with ${parts[0].name} (shape differs)`);
      rows += p.shape[0];
    }
    const t = this.empty([rows, ...cols], "bf16");
    let off = 0;
    for (const p of parts) off += this.upload(t, off, p);
    return t;
  }

  /** Writes `info` as bf16 at byte `offset` of `dst`; f16/f32 go through a staging buffer and convert there. */
  private upload(dst: Tensor, offset: number, info: TensorInfo): number {
    const dtype = weightDtype(info), n = numel(info.shape);
    if (n === 0) return 0;
    if (dtype === "bf16") {
      this.k.memcpyH2D(at(dst, offset), ptr(info.data), info.data.byteLength);
    } else {
      const staging = this.k.alloc(info.data.byteLength);
      if (!staging) throw new Error(`cuda backend: out of device memory staging ${info.name} (${gib(info.data.byteLength)})`);
      try {
        this.k.memcpyH2D(staging, ptr(info.data), info.data.byteLength);
        this.k.convert(at(dst, offset), VK_BF16, staging, DTYPE_CODE[dtype], n);
      } finally {
        this.k.free(staging);
      }
    }
    this.check(`uploading ${info.name}`);
    return n * 2;
  }

  /** f32 data written to a bf16 tensor is rounded to bf16 on the host first. */
  write(dst: Tensor, src: Int32Array | Float32Array): void {
    const data = dst.dtype === "bf16" && src instanceof Float32Array ? toBf16(src) : src;
    if (data.byteLength === 0) return;
    this.k.memcpyH2D(at(dst, 0), ptr(data), data.byteLength);
    this.check("write");
  }

  /** Copies the first `count` elements to the host as f32 (bf16 tensors are widened); waits for queued work. */
  readF32(src: Tensor, count: number): Float32Array {
    if (src.dtype === "bf16" || src.dtype === "f16") {
      const raw = new Uint16Array(count);
      if (count > 0) this.k.memcpyD2H(ptr(raw), at(src, 0), count * 2);
      this.check("read");
      return src.dtype === "bf16" ? fromBf16(raw) : Float32Array.from(new Float16Array(raw.buffer));
    }
    const out = new Float32Array(count);
    if (count > 0) this.k.memcpyD2H(ptr(out), at(src, 0), count * 4);
    this.check("read");
    return out;
  }

  /** Device-to-device copy of the first `nbytes` of `src` into `dst`. */
  copy(dst: Tensor, src: Tensor, nbytes: number): void {
    this.k.memcpyD2D(at(dst, 0), at(src, 0), nbytes);
    this.check("copy");
  }

  free(t: Tensor): void {
    this.k.free(at(t, 0));
  }

  /** Waits until every queued op has finished; throws the first failure. */
  synchronize(): void {
    this.k.synchronize();
    this.check("synchronize");
  }

  /** Free and total device memory in bytes. */
  memoryInfo(): { free: number; total: number } {
    const info = this.k.memGetInfo();
    this.check("cudaMemGetInfo");
    if (!info) throw new Error("cuda backend: cudaMemGetInfo failed");
    return info;
  }

  /**
   * Turns a recorded library failure into an exception (the engine fails the step's requests). A bad id
   * found by a kernel shows only once the device has run it, so it may surface at a later op's check (the
   * message names the op that found it); every step reaches one through its read back.
   */
  private check(what: string): void {
    const err = this.k.lastError();
    if (err === null) return;
    this.k.clearError();
    throw new Error(`cuda backend: ${what}: ${err}`);
  }

  /** An id outside the table is a failure that throws here or at a later check, naming the id. */
  embedding(out: Tensor, table: Tensor, ids: Tensor, nTokens: number, hidden: number): void {
    this.k.embedding(p(out), p(table), DTYPE_CODE[table.dtype], tableRows(table, hidden), p(ids), nTokens, hidden);
    this.check("embedding");
  }
  rmsNorm(out: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void {
    this.k.rmsNorm(p(out), p(x), p(w), DTYPE_CODE[w.dtype], nRows, hidden, eps);
    this.check("rms_norm");
  }
  addRmsNorm(out: Tensor, residual: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void {
    this.k.addRmsNorm(p(out), p(residual), p(x), p(w), DTYPE_CODE[w.dtype], nRows, hidden, eps);
    this.check("add_rms_norm");
  }
  rope(q: Tensor, k: Tensor, positions: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void {
    this.k.rope(p(q), p(k), p(positions), p(invFreq), nTokens, nQHeads, nKvHeads, headDim);
    this.check("rope");
  }
  siluMul(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void {
    this.k.siluMul(p(out), p(gateUp), nTokens, inter);
    this.check("silu_mul");
  }
  /** An f32 `out` (the logits) gets the f32-output GEMM; otherwise the output is bf16. */
  matmul(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null, m: number, n: number, k: number): void {
    const fn = out.dtype === "f32" ? this.k.matmulF32 : this.k.matmul;
    fn(p(out), p(x), p(w), DTYPE_CODE[w.dtype], bias ? p(bias) : null, m, n, k);
    this.check("matmul");
  }
  reshapeAndCache(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, slotMapping: Tensor, nTokens: number, nKvHeads: number, headDim: number): void {
    this.k.reshapeAndCache(p(kCache), p(vCache), p(k), p(v), p(slotMapping), nTokens, nKvHeads, headDim);
    this.check("reshape_and_cache");
  }
  ropeAndCache(q: Tensor, k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, positions: Tensor, slotMapping: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void {
    this.k.ropeAndCache(p(q), p(k), p(kCache), p(vCache), p(v), p(positions), p(slotMapping), p(invFreq), nTokens, nQHeads, nKvHeads, headDim);
    this.check("rope_and_cache");
  }
  qkvRopeAndCache(qOut: Tensor, qkv: Tensor, kCache: Tensor, vCache: Tensor, qNorm: Tensor | null, kNorm: Tensor | null, eps: number, positions: Tensor, slotMapping: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void {
    if ((qNorm === null) !== (kNorm === null) || (qNorm && kNorm && qNorm.dtype !== kNorm.dtype)) throw new Error("cuda backend: qkv_rope_and_cache: q and k norms must both be given, in one dtype");
    this.k.qkvRopeAndCache(p(qOut), p(kCache), p(vCache), p(qkv), qNorm ? p(qNorm) : null, kNorm ? p(kNorm) : null,
      DTYPE_CODE[qNorm?.dtype ?? "bf16"], eps, p(positions), p(slotMapping), p(invFreq), nTokens, nQHeads, nKvHeads, headDim);
    this.check("qkv_rope_and_cache");
  }
  pagedAttention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, a: AttentionMetadata, nQHeads: number, nKvHeads: number, headDim: number, blockSize: number, scale: number, layer: AttentionLayerOptions = {}): void {
    this.k.pagedAttention(p(out), p(q), p(kCache), p(vCache), p(a.blockTables), a.maxBlocksPerSeq, p(a.seqLens),
      p(a.queryStartLoc), a.numSeqs, a.maxQueryLen, nQHeads, nKvHeads, headDim, blockSize, scale,
      layer.slidingWindow ?? 0, layer.softCap ?? 0);
    this.check("paged_attention");
  }
  geluTanhMul(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void {
    this.k.geluTanhMul(p(out), p(gateUp), nTokens, inter);
    this.check("gelu_tanh_mul");
  }
  softCap(x: Tensor, nRows: number, nCols: number, cap: number): void {
    this.k.softCap(p(x), nRows, nCols, cap);
    this.check("soft_cap");
  }
  scale(x: Tensor, nRows: number, nCols: number, s: number): void {
    this.k.scale(p(x), nRows, nCols, s);
    this.check("scale");
  }
  moeRoute(topkIds: Tensor, topkWeights: Tensor, routerLogits: Tensor, nTokens: number, nExperts: number, topK: number, renormalize: boolean): void {
    this.k.moeRoute(p(topkIds), p(topkWeights), p(routerLogits), nTokens, nExperts, topK, renormalize ? 1 : 0);
    this.check("moe_route");
  }
  moeWorkspaceBytes(nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): number {
    return this.k.moeWorkspaceBytes(nTokens, hidden, inter, nExperts, topK);
  }
  /** An expert id outside [0, nExperts) fails here or at a later check, naming it; that slot adds nothing. */
  moeExperts(out: Tensor, workspace: Tensor, x: Tensor, wGateUp: Tensor, wDown: Tensor, topkIds: Tensor, topkWeights: Tensor, nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): void {
    this.k.moeExperts(p(out), p(workspace), p(x), p(wGateUp), p(wDown), DTYPE_CODE[wGateUp.dtype], p(topkIds), p(topkWeights), nTokens, hidden, inter, nExperts, topK);
    this.check("moe_experts");
  }
  moeSharedAdd(out: Tensor, shared: Tensor, gateLogits: Tensor, nTokens: number, hidden: number): void {
    this.k.moeSharedAdd(p(out), p(shared), p(gateLogits), nTokens, hidden);
    this.check("moe_shared_add");
  }
  logSoftmax(out: Tensor, x: Tensor, nRows: number, nCols: number): void {
    this.k.logSoftmax(p(out), p(x), nRows, nCols);
    this.check("log_softmax");
  }
  topk(outIds: Tensor, outVals: Tensor, x: Tensor, nRows: number, nCols: number, k: number): void {
    this.k.topk(p(outIds), p(outVals), p(x), nRows, nCols, k);
    this.check("topk");
  }
  sample(logits: Tensor, vocab: number, batch: SamplingBatch): SamplingResult {
    this.sampler ??= new CudaSampler(this.k);
    const out = this.sampler.run(p(logits), numel(logits.shape) / vocab, vocab, batch);
    this.check("sample");
    return out;
  }
}

function p(t: Tensor): Pointer {
  return t.ptr as Pointer;
}

function at(t: Tensor, byteOffset: number): Pointer {
  return (t.ptr + byteOffset) as Pointer;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** f32 → bf16 bits, round to nearest even (NaN stays a quiet NaN), as the device's conversion does. */
export function toBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const u = bits[i];
    out[i] = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 0x40 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
  }
  return out;
}

export function fromBf16(src: Uint16Array): Float32Array {
  const bits = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return new Float32Array(bits.buffer);
}
