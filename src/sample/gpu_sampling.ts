/**
 * Sampling on the device for ModelRunner (Backend.sample): one SamplingBatch per step, so only token ids and
 * logprobs cross to the host. It follows sampler.ts exactly: logits processors become per-token ops
 * (logit_bias, min_tokens, repetition / presence / frequency penalties), grammar bitmasks go along, prompt
 * logprobs score the next prompt token, and each row's uniform draw comes from the same generator, in the
 * same row order, as the host sampler would take it, so seeded requests reproduce whatever else is batched.
 * Rows the device does not cover (over MAX_SAMPLE_LOGPROBS logprobs, or a grammar bitmask while min_tokens
 * still holds stop tokens back) are copied to the host alone and sampled by sampler.ts.
 */
import { type Backend, MAX_SAMPLE_LOGPROBS, type SamplingBatch, type SamplingResult, type Tensor } from "../backend/backend";
import type { Request, TokenLogprobs } from "../engine/request";
import { Generator } from "./generator";
import { logSoftmax, sampleToken, tokenLogprobs } from "./sampler";

const SAMPLING_EPS = 1e-5; // sampler.ts: below it temperature means greedy

/** One request's logits rows in a step: `promptRows` ([row, position]) score the next prompt token; `sampleRow` (-1: none) samples. */
export interface StepRows {
  req: Request;
  sampleRow: number;
  promptRows: [number, number][];
}

export interface SampledToken {
  tokenId: number;
  logprobs: TokenLogprobs | null;
}

/** A step's results by request id (ModelRunnerOutput's fields). */
export interface StepSamples {
  sampled: Map<string, SampledToken>;
  promptLogprobs: Map<string, (TokenLogprobs | null)[]>;
}

/** A Generator whose draw is already made: hands a pre-drawn u to the host sampler. */
export class PresetDraw extends Generator {
  constructor(private readonly u: number) {
    super(0);
  }
  override random(): number {
    return this.u;
  }
}

type Op = [add: number, repetition: number, subtract: number];

export class GpuSampler {
  constructor(private readonly backend: Backend, private readonly vocab: number) {
    if (!backend.sample) throw new Error(`GpuSampler: the ${backend.name} backend cannot sample`);
  }

  /** Samples every row of `rows` from the device logits [*, vocab] into `out`; `generator` serves unseeded requests. */
  sample(logits: Tensor, rows: readonly StepRows[], bitmasks: ReadonlyMap<string, Int32Array> | null, generator: Generator, out: StepSamples): void {
    const batch = new BatchBuilder();
    const onDevice: ((res: SamplingResult) => void)[] = [];
    const onHost: (() => void)[] = [];
    for (const r of rows) {
      const req = r.req, p = req.samplingParams, id = req.requestId;
      if (r.promptRows.length > 0) {
        const k = p.promptLogprobs!, next = ([, pos]: [number, number]) => req.promptTokenIds[pos + 1];
        if (k <= MAX_SAMPLE_LOGPROBS) {
          const entries = r.promptRows.map((pr) => batch.add({ row: pr[0], forcedToken: next(pr), numLogprobs: k }));
          onDevice.push((res) => out.promptLogprobs.set(id, entries.map((e) => logprobsOf(res, e, k))));
        } else {
          onHost.push(() => out.promptLogprobs.set(id, r.promptRows.map((pr) => tokenLogprobs(logSoftmax(this.readRow(logits, pr[0])), next(pr), k))));
        }
      }
      if (r.sampleRow < 0) continue;
      const mask = bitmasks?.get(id) ?? null, greedy = p.temperature < SAMPLING_EPS;
      if ((p.logprobs ?? -1) > MAX_SAMPLE_LOGPROBS || (mask !== null && (req.outputTokenIds.length < p.minTokens || !batch.fitsMask(mask)))) {
        // The engine's generator is shared, so its draw is taken now, in row order; a seeded request draws its own later.
        const gen = greedy || req.generator ? generator : new PresetDraw(generator.random());
        onHost.push(() => out.sampled.set(id, sampleToken(this.readRow(logits, r.sampleRow), req, gen, mask)));
        continue;
      }
      const e = batch.add({
        row: r.sampleRow, temperature: p.temperature, topP: p.topP, minP: p.minP,
        topK: p.topK > 0 && p.topK < this.vocab ? p.topK : 0, u: greedy ? 0 : (req.generator ?? generator).random(),
        numLogprobs: p.logprobs ?? -1, ops: processorOps(req, this.vocab), mask,
      });
      onDevice.push((res) => out.sampled.set(id, { tokenId: res.tokenIds[e], logprobs: p.logprobs === null ? null : logprobsOf(res, e, p.logprobs) }));
    }
    if (onDevice.length > 0) {
      const res = this.backend.sample!(logits, this.vocab, batch.build());
      for (const f of onDevice) f(res);
    }
    for (const f of onHost) f();
  }

  private readRow(logits: Tensor, row: number): Float32Array {
    const view: Tensor = { ptr: logits.ptr + row * this.vocab * 4, dtype: "f32", shape: [this.vocab], owner: logits };
    return this.backend.readF32(view, this.vocab);
  }
}

function logprobsOf(res: SamplingResult, e: number, k: number): TokenLogprobs {
  const top: [number, number][] = [];
  for (let j = 0; j < k; j++) {
    const id = res.topIds[e * MAX_SAMPLE_LOGPROBS + j];
    if (id >= 0) top.push([id, res.topLogprobs[e * MAX_SAMPLE_LOGPROBS + j]]);
  }
  return { tokenId: res.tokenIds[e], logprob: res.logprobs[e], rank: res.ranks[e], top };
}

/**
 * The request's logits processors as per-token ops, in sampler.ts's order: logit_bias, min_tokens (-inf),
 * repetition penalty over prompt and output, presence / frequency penalties over the output. Null when none.
 * Ids past the vocabulary are dropped (the host's typed-array writes ignore them too).
 */
export function processorOps(req: Request, vocab: number): Map<number, Op> | null {
  const p = req.samplingParams, masked = req.outputTokenIds.length < p.minTokens;
  if (!p.logitBias && !masked && p.repetitionPenalty === 1 && p.presencePenalty === 0 && p.frequencyPenalty === 0) return null;
  const ops = new Map<number, Op>();
  const op = (id: number): Op => {
    let o = ops.get(id);
    if (!o) ops.set(id, (o = [0, 1, 0]));
    return o;
  };
  if (p.logitBias) for (const [id, b] of p.logitBias) op(id)[0] = b;
  if (masked) for (const id of p.ignoreEos ? p.stopTokenIds : [...p.stopTokenIds, ...req.eosTokenIds]) op(id)[0] = -Infinity;
  if (p.repetitionPenalty !== 1) {
    for (const id of req.promptTokenIds) op(id)[1] = p.repetitionPenalty;
    for (const id of req.outputTokenIds) op(id)[1] = p.repetitionPenalty;
  }
  if (p.presencePenalty !== 0 || p.frequencyPenalty !== 0) {
    const counts = new Map<number, number>();
    for (const id of req.outputTokenIds) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, c] of counts) op(id)[2] = p.frequencyPenalty * c + p.presencePenalty;
  }
  for (const id of ops.keys()) if (!(id >= 0 && id < vocab)) ops.delete(id);
  return ops.size > 0 ? ops : null;
}

interface Entry {
  row: number; temperature?: number; topP?: number; minP?: number; topK?: number; u?: number;
  forcedToken?: number; numLogprobs: number; ops?: Map<number, Op> | null; mask?: Int32Array | null;
}

/** Accumulates entries, then packs them into a SamplingBatch. */
class BatchBuilder {
  private readonly entries: Entry[] = [];
  private readonly masks: Int32Array[] = [];
  private maskWords = -1;

  /** Bitmasks of one batch share a width (one tokenizer); a mask of another width goes to the host. */
  fitsMask(mask: Int32Array): boolean {
    return this.maskWords < 0 || mask.length === this.maskWords;
  }

  add(e: Entry): number {
    this.entries.push(e);
    if (e.mask) {
      this.maskWords = e.mask.length;
      this.masks.push(e.mask);
    }
    return this.entries.length - 1;
  }

  build(): SamplingBatch {
    const n = this.entries.length;
    const f64 = (f: (e: Entry) => number) => Float64Array.from(this.entries, f);
    const i32 = (f: (e: Entry) => number) => Int32Array.from(this.entries, f);
    const opStarts = new Int32Array(n + 1), opTokens: number[] = [], opParams: number[] = [];
    let maskRow = 0;
    const bitmaskRow = i32((e) => (e.mask ? maskRow++ : -1));
    this.entries.forEach((e, r) => {
      for (const [id, o] of e.ops ?? []) opTokens.push(id), opParams.push(...o);
      opStarts[r + 1] = opTokens.length;
    });
    const bitmasks = this.masks.length > 0 ? new Int32Array(this.masks.length * this.maskWords) : null;
    this.masks.forEach((m, i) => bitmasks!.set(m, i * this.maskWords));
    return {
      rows: i32((e) => e.row), temperature: f64((e) => e.temperature ?? 0), topP: f64((e) => e.topP ?? 1),
      minP: f64((e) => e.minP ?? 0), topK: i32((e) => e.topK ?? 0), u: f64((e) => e.u ?? 0),
      forcedToken: i32((e) => e.forcedToken ?? -1), numLogprobs: i32((e) => e.numLogprobs),
      opStarts, opTokens: Int32Array.from(opTokens), opParams: Float64Array.from(opParams),
      bitmasks, bitmaskWords: Math.max(this.maskWords, 0), bitmaskRow,
    };
  }
}
