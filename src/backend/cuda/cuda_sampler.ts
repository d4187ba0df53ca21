/**
 * Backend.sample on CUDA: stages a SamplingBatch in one host buffer (sampling_abi.ts), uploads it in one copy,
 * runs vk_sample, and reads every output back in one copy, so a step's sampling costs two small transfers
 * whatever the batch. The device buffer only grows.
 */
import type { Pointer } from "bun:ffi";
import type { SamplingBatch, SamplingResult } from "../backend";
import { callSample, SampleStaging } from "../sampling_abi";
import type { CudaKernels } from "./ffi";

export class CudaSampler {
  private dev: Pointer | null = null;
  private devBytes = 0;
  private readonly staging = new SampleStaging();

  constructor(private readonly k: CudaKernels) {}

  /** `logits`: device pointer to [rows, vocab] f32. Returns once the outputs are on the host. */
  run(logits: Pointer, logitsRows: number, vocab: number, b: SamplingBatch): SamplingResult {
    const L = this.staging.stage(b);
    this.reserve(L.bytes);
    const base = Number(this.dev);
    this.k.memcpyH2D((base + L.outBytes) as Pointer, this.staging.bytes(L.outBytes, L.inEnd), L.inEnd - L.outBytes);
    callSample(this.k, base, L, logits, logitsRows, vocab, b);
    this.k.memcpyD2H(this.staging.bytes(0, L.outBytes), base as Pointer, L.outBytes);
    return this.staging.results(L);
  }

  private reserve(bytes: number): void {
    if (bytes <= this.devBytes) return;
    if (this.dev) this.k.free(this.dev); // cudaFree waits for queued kernels that may still read it
    const want = Math.ceil(bytes * 1.25);
    this.dev = this.k.alloc(want);
    if (!this.dev) throw new Error(`cuda backend: out of device memory allocating ${want} bytes for sampling`);
    this.devBytes = want;
  }
}
