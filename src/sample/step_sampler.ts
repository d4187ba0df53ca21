/**
 * Samples a step's entries from its logits: in the kernel library with the backend's `sample` op where it has
 * one and the entry fits it (on a GPU only token ids and logprobs cross to the host), else on the host with
 * sampler.ts, reading just the rows it needs.
 */
import { type Backend, MAX_SAMPLE_LOGPROBS, type SamplingResult, type Tensor } from "../backend/backend";
import type { TokenLogprobs } from "../engine/outputs";
import { type SampledToken, sampleRow } from "./sampler";
import { deviceCanSample, packSamplingBatch, type SamplingEntry } from "./sampling_metadata";

/** One result per entry, in order. `logits` is [*, vocab] f32 on the backend. */
export function sampleEntries(backend: Backend, logits: Tensor, vocab: number, entries: readonly SamplingEntry[]): SampledToken[] {
  const results = new Array<SampledToken>(entries.length);
  const onDevice: number[] = [];
  entries.forEach((e, i) => { if (backend.sample && deviceCanSample(e)) onDevice.push(i); });
  if (onDevice.length > 0) {
    const res = backend.sample!(logits, vocab, packSamplingBatch(onDevice.map((i) => entries[i])));
    onDevice.forEach((i, j) => (results[i] = deviceResult(res, j, entries[i].numLogprobs)));
  }
  const onHost = entries.map((_, i) => i).filter((i) => results[i] === undefined);
  if (onHost.length === 0) return results;
  // Every row is read once; an entry modifies its copy.
  const rows = new Map<number, Float32Array>();
  if (onHost.length === entries.length && !backend.sample) {
    const numRows = Math.max(...entries.map((e) => e.row)) + 1;
    const all = backend.readF32(logits, numRows * vocab);
    for (const i of onHost) rows.set(entries[i].row, all.subarray(entries[i].row * vocab, (entries[i].row + 1) * vocab));
  } else {
    for (const i of onHost) rows.set(entries[i].row, readRow(backend, logits, entries[i].row, vocab));
  }
  for (const i of onHost) results[i] = sampleRow(rows.get(entries[i].row)!.slice(), entries[i]);
  return results;
}

function readRow(backend: Backend, logits: Tensor, row: number, vocab: number): Float32Array {
  const view: Tensor = { ptr: logits.ptr + row * vocab * 4, dtype: "f32", shape: [vocab], owner: logits };
  return backend.readF32(view, vocab);
}

function deviceResult(res: SamplingResult, e: number, k: number): SampledToken {
  if (k < 0) return { tokenId: res.tokenIds[e], logprobs: null };
  const top: [number, number][] = [];
  for (let j = 0; j < k; j++) {
    const id = res.topIds[e * MAX_SAMPLE_LOGPROBS + j];
    if (id >= 0) top.push([id, res.topLogprobs[e * MAX_SAMPLE_LOGPROBS + j]]);
  }
  const logprobs: TokenLogprobs = { tokenId: res.tokenIds[e], logprob: res.logprobs[e], rank: res.ranks[e], top };
  return { tokenId: res.tokenIds[e], logprobs };
}
