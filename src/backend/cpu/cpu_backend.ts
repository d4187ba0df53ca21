/** The CPU backend: the SIMD C kernel library (kernels/cpu) bound through bun:ffi. */
import { toArrayBuffer } from "bun:ffi";
import type { TensorInfo } from "../../model_loader/safetensors";
import { type AttentionLayerOptions, type AttentionMetadata, type Backend, type DType, type SamplingBatch, type SamplingResult, type Tensor, dtypeBytes, numel, weightDtype } from "../backend";
import { DTYPE_CODE, tableRows, VK_F32 } from "../kernel_abi";
import type { CpuKernels } from "./ffi";
import { loadCpuKernels } from "../native_library";
import { callSample, SampleStaging } from "../sampling_abi";

export interface CpuBackendOptions {
  /** Worker threads for the kernels (`--cpu-threads`); defaults to the number of CPUs. */
  numThreads?: number;
  /** Forces a kernel variant (portable, avx2, avx512, avx512bf16). */
  variant?: string;
}

export class CpuBackend implements Backend {
  readonly name = "cpu" as const;
  readonly activationDtype = "f32" as const;
  readonly description: string;
  readonly variant: string;
  readonly numThreads: number;
  private readonly k: CpuKernels;
  private readonly staging = new SampleStaging();

  constructor(opts: CpuBackendOptions = {}) {
    const loaded = loadCpuKernels({ variant: opts.variant });
    this.k = loaded.kernels;
    this.variant = loaded.variant;
    if (this.k.activationDtype() !== VK_F32) throw new Error(`cpu backend: ${loaded.path} does not compute in f32`);
    const want = opts.numThreads ?? navigator.hardwareConcurrency ?? 1;
    this.numThreads = this.k.setNumThreads(Math.max(1, want));
    this.description = `cpu (${this.variant}, ${this.numThreads} threads)`;
  }

  empty(shape: readonly number[], dtype: DType): Tensor {
    const bytes = Math.max(64, numel(shape) * dtypeBytes(dtype));
    const p = this.k.alloc(bytes);
    if (!p) throw new Error(`cpu backend: out of memory allocating ${bytes} bytes`);
    return { ptr: Number(p), dtype, shape: [...shape] };
  }

  weight(info: TensorInfo): Tensor {
    // Copied out of the file mapping into huge-page-backed memory: decode GEMVs stream weights ~10%
    // faster from there, and a copy costs well under a second per GB at load.
    const dtype = weightDtype(info);
    const t = this.empty(info.shape, dtype);
    this.bytes(t, info.data.byteLength).set(info.data);
    return t;
  }

  concatRows(parts: readonly TensorInfo[]): Tensor {
    const dtype = weightDtype(parts[0]);
    const cols = parts[0].shape.slice(1);
    let rows = 0;
    for (const p of parts) {
      if (weightDtype(p) !== dtype || p.shape.slice(1).join() !== cols.join())
        throw new Error(`${p.file}: tensor ${p.name} cannot be fused with ${parts[0].name} (dtype or shape differs)`);
      rows += p.shape[0];
    }
    const t = this.empty([rows, ...cols], dtype);
    const dst = this.bytes(t, numel(t.shape) * dtypeBytes(dtype));
    let off = 0;
    for (const p of parts) { dst.set(p.data, off); off += p.data.byteLength; }
    return t;
  }

  write(dst: Tensor, src: Int32Array | Float32Array): void {
    this.bytes(dst, src.byteLength).set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  }

  readF32(src: Tensor, count: number): Float32Array {
    return new Float32Array(toArrayBuffer(src.ptr as never, 0, count * 4).slice(0));
  }

  free(t: Tensor): void {
    if (t.owner === undefined) this.k.free(t.ptr as never);
  }

  /** Turns a failure the library recorded (a bad id) into an exception. */
  private check(op: string): void {
    const err = this.k.lastError();
    if (err === null) return;
    this.k.clearError();
    throw new Error(`cpu backend: ${op}: ${err}`);
  }

  private bytes(t: Tensor, n: number): Uint8Array {
    return new Uint8Array(toArrayBuffer(t.ptr as never, 0, n));
  }

  /** Throws, naming the bad id, when an id is outside the table (nothing is written then). */
  embedding(out: Tensor, table: Tensor, ids: Tensor, nTokens: number, hidden: number): void {
    this.k.embedding(p(out), p(table), DTYPE_CODE[table.dtype], tableRows(table, hidden), p(ids), nTokens, hidden);
    this.check("embedding");
  }
  rmsNorm(out: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void {
    this.k.rmsNorm(p(out), p(x), p(w), DTYPE_CODE[w.dtype], nRows, hidden, eps);
  }
  addRmsNorm(out: Tensor, residual: Tensor, x: Tensor, w: Tensor, nRows: number, hidden: number, eps: number): void {
    this.k.addRmsNorm(p(out), p(residual), p(x), p(w), DTYPE_CODE[w.dtype], nRows, hidden, eps);
  }
  rope(q: Tensor, k: Tensor, positions: Tensor, invFreq: Tensor, nTokens: number, nQHeads: number, nKvHeads: number, headDim: number): void {
    this.k.rope(p(q), p(k), p(positions), p(invFreq), nTokens, nQHeads, nKvHeads, headDim);
  }
  siluMul(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void {
    this.k.siluMul(p(out), p(gateUp), nTokens, inter);
  }
  matmul(out: Tensor, x: Tensor, w: Tensor, bias: Tensor | null, m: number, n: number, k: number): void {
    this.k.matmul(p(out), p(x), p(w), DTYPE_CODE[w.dtype], bias ? p(bias) : null, m, n, k);
  }
  reshapeAndCache(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, slotMapping: Tensor, nTokens: number, nKvHeads: number, headDim: number): void {
    this.k.reshapeAndCache(p(kCache), p(vCache), p(k), p(v), p(slotMapping), nTokens, nKvHeads, headDim);
  }
  pagedAttention(out: Tensor, q: Tensor, kCache: Tensor, vCache: Tensor, a: AttentionMetadata, nQHeads: number, nKvHeads: number, headDim: number, blockSize: number, scale: number, layer: AttentionLayerOptions = {}): void {
    this.k.pagedAttention(p(out), p(q), p(kCache), p(vCache), p(a.blockTables), a.maxBlocksPerSeq, p(a.seqLens),
      p(a.queryStartLoc), a.numSeqs, a.maxQueryLen, nQHeads, nKvHeads, headDim, blockSize, scale,
      layer.slidingWindow ?? 0, layer.softCap ?? 0);
  }
  geluTanhMul(out: Tensor, gateUp: Tensor, nTokens: number, inter: number): void {
    this.k.geluTanhMul(p(out), p(gateUp), nTokens, inter);
  }
  softCap(x: Tensor, nRows: number, nCols: number, cap: number): void {
    this.k.softCap(p(x), nRows, nCols, cap);
  }
  scale(x: Tensor, nRows: number, nCols: number, s: number): void {
    this.k.scale(p(x), nRows, nCols, s);
  }
  moeRoute(topkIds: Tensor, topkWeights: Tensor, routerLogits: Tensor, nTokens: number, nExperts: number, topK: number, renormalize: boolean): void {
    this.k.moeRoute(p(topkIds), p(topkWeights), p(routerLogits), nTokens, nExperts, topK, renormalize ? 1 : 0);
    this.check("moe_route");
  }
  moeWorkspaceBytes(nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): number {
    return this.k.moeWorkspaceBytes(nTokens, hidden, inter, nExperts, topK);
  }
  /** Throws, naming it, on an expert id outside [0, nExperts) (nothing is written then). */
  moeExperts(out: Tensor, workspace: Tensor, x: Tensor, wGateUp: Tensor, wDown: Tensor, topkIds: Tensor, topkWeights: Tensor, nTokens: number, hidden: number, inter: number, nExperts: number, topK: number): void {
    if (wGateUp.dtype !== wDown.dtype) throw new Error("cpu backend: moe_experts: gate_up and down weights must share a dtype");
    this.k.moeExperts(p(out), p(workspace), p(x), p(wGateUp), p(wDown), DTYPE_CODE[wGateUp.dtype], p(topkIds), p(topkWeights), nTokens, hidden, inter, nExperts, topK);
    this.check("moe_experts");
  }
  moeSharedAdd(out: Tensor, shared: Tensor, gateLogits: Tensor, nTokens: number, hidden: number): void {
    this.k.moeSharedAdd(p(out), p(shared), p(gateLogits), nTokens, hidden);
  }
  logSoftmax(out: Tensor, x: Tensor, nRows: number, nCols: number): void {
    this.k.logSoftmax(p(out), p(x), nRows, nCols);
  }
  topk(outIds: Tensor, outVals: Tensor, x: Tensor, nRows: number, nCols: number, k: number): void {
    this.k.topk(p(outIds), p(outVals), p(x), nRows, nCols, k);
  }
  /** vk_sample on the worker pool, reading the staged batch in place; throws, naming it, on an id outside its table. */
  sample(logits: Tensor, vocab: number, batch: SamplingBatch): SamplingResult {
    const L = this.staging.stage(batch);
    callSample(this.k, Number(this.staging.bytes(0, L.bytes)), L, p(logits), Math.floor(numel(logits.shape) / vocab), vocab, batch);
    this.check("sample");
    return this.staging.results(L);
  }
}

function p(t: Tensor): never {
  return t.ptr as never;
}
