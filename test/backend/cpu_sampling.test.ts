// The CPU library's vk_sample (CpuBackend.sample, and sampleEntries over it) against the host sampler
// (src/sample/sampler.ts), the reference, on the same f32 logits, for every built variant this CPU runs:
// greedy; the same token for the same u over temperature / min_p / top_k / top_p at and near their bounds;
// logprobs 0..20 with rank and top-K for sampled and forced tokens; logits processors and grammar bitmasks;
// bad ids. At the engine level, seeded requests give the tokens and logprobs the host sampler gives.
import { describe, expect, test } from "bun:test";
import { MAX_SAMPLE_LOGPROBS, type SamplingBatch, type Tensor } from "../../src/backend/backend";
import { CpuBackend } from "../../src/backend/cpu/cpu_backend";
import { CPU_VARIANTS } from "../../src/backend/native_library";
import { createEngine } from "../../src/entrypoints/from_engine_args";
import type { TokenLogprobs } from "../../src/engine/outputs";
import { makeSamplingParams, type SamplingParams } from "../../src/engine/sampling_params";
import { Generator } from "../../src/sample/generator";
import { argmax, logSoftmax, sampleRow, tokenLogprobs } from "../../src/sample/sampler";
import { promptEntry, sampleEntry, type SamplingEntry, type SamplingView } from "../../src/sample/sampling_metadata";
import { sampleEntries } from "../../src/sample/step_sampler";
import { testEngineArgs } from "../support/engine_args";
import { tinyModelDir } from "../support/tiny_models";

const limits = (vocab: number) => ({ maxLogprobs: 30, maxN: 1, maxStopStrings: 1, vocabSize: vocab });

/** One backend per built variant this CPU can run. */
const backends = CPU_VARIANTS.flatMap((variant) => {
  try {
    return [new CpuBackend({ variant, numThreads: 2 })];
  } catch {
    return []; // not built, or this CPU lacks its features
  }
});

// ---- inputs ----

type Kind = "spread" | "peaked" | "ties";
const KINDS: Kind[] = ["spread", "peaked", "ties"];

/** A logits row: spread (uniform in [-8, 8]), peaked (a handful of clear leaders, like an LM), or ties (steps of 0.5). */
function logitsRow(g: Generator, vocab: number, kind: Kind): Float32Array {
  const x = new Float32Array(vocab);
  for (let i = 0; i < vocab; i++) x[i] = (g.random() * 2 - 1) * 8;
  if (kind === "ties") for (let i = 0; i < vocab; i++) x[i] = Math.round(x[i] / 4) / 2;
  if (kind === "peaked") for (let j = 0; j < 8; j++) x[Math.floor(g.random() * vocab)] = 12 + g.random() * 6;
  return x;
}

function upload(b: CpuBackend, rows: Float32Array[], vocab: number): Tensor {
  const t = b.empty([rows.length, vocab], "f32");
  const flat = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => flat.set(r, i * vocab));
  b.write(t, flat);
  return t;
}

type Plain = Partial<Record<"temperature" | "topP" | "minP" | "topK" | "u" | "forcedToken" | "numLogprobs", number>>;

/** A SamplingBatch without logits processors or bitmasks, entry i reading row i. */
function plainBatch(n: number, f: (i: number) => Plain): SamplingBatch {
  const e = Array.from({ length: n }, (_, i) => f(i));
  const f64 = (k: "temperature" | "topP" | "minP" | "u", d: number) => Float64Array.from(e, (x) => x[k] ?? d);
  const i32 = (k: "topK" | "forcedToken" | "numLogprobs", d: number) => Int32Array.from(e, (x) => x[k] ?? d);
  return {
    rows: Int32Array.from(e, (_, i) => i), temperature: f64("temperature", 0), topP: f64("topP", 1), minP: f64("minP", 0),
    topK: i32("topK", 0), u: f64("u", 0), forcedToken: i32("forcedToken", -1), numLogprobs: i32("numLogprobs", -1),
    opStarts: new Int32Array(n + 1), opTokens: new Int32Array(0), opParams: new Float64Array(0),
    bitmasks: null, bitmaskWords: 0, bitmaskRow: new Int32Array(n).fill(-1),
  };
}

function view(p: Partial<SamplingParams>, vocab: number, prompt: number[] = [1], output: number[] = [], eos: number[] = []): SamplingView {
  const samplingParams = makeSamplingParams(p, limits(vocab));
  return { samplingParams, tokenIds: [...prompt, ...output], numPromptTokens: prompt.length, eosTokenIds: eos, generator: samplingParams.seed === null ? null : new Generator(samplingParams.seed) };
}

/** The host sampler's token for `row` with the draw fixed at u. */
function hostPick(row: Float32Array, p: Partial<SamplingParams>, u: number): number {
  return sampleRow(row.slice(), { ...sampleEntry(view(p, row.length), 0, row.length, new Generator(0), null), u }).tokenId;
}

/** |a - b|, 0 for equal infinities. */
const diff = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b));

/** Same token and rank, values within 1e-4, top ids equal except where values tie within f32 rounding. */
function expectLogprobs(got: TokenLogprobs, want: TokenLogprobs, what: string): void {
  expect(got.tokenId, what).toBe(want.tokenId);
  expect(diff(got.logprob, want.logprob), `${what}: logprob`).toBeLessThanOrEqual(1e-4);
  expect(got.rank, `${what}: rank`).toBe(want.rank);
  expect(got.top.length, `${what}: top length`).toBe(want.top.length);
  got.top.forEach(([id, v], j) => {
    expect(diff(v, want.top[j][1]), `${what}: top ${j} value`).toBeLessThanOrEqual(1e-4);
    if (id !== want.top[j][0]) expect(diff(v, want.top[j][1]), `${what}: top ${j} id differs without a tie`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(v)));
  });
}

function resultLogprobs(res: ReturnType<CpuBackend["sample"]>, i: number, k: number): TokenLogprobs {
  return {
    tokenId: res.tokenIds[i], logprob: res.logprobs[i], rank: res.ranks[i],
    top: Array.from({ length: k }, (_, j) => [res.topIds[i * MAX_SAMPLE_LOGPROBS + j], res.topLogprobs[i * MAX_SAMPLE_LOGPROBS + j]] as [number, number]),
  };
}

// ---- kernel semantics, per variant ----

for (const cpu of backends) {
  describe(`CPU sampling (${cpu.variant}) vs the host sampler`, () => {
    test("greedy is the first maximum of each row (ties, two maxima, all -inf, tiny vocabularies)", () => {
      const g = new Generator(1);
      for (const vocab of [128256, 1000, 33, 1]) {
        const rows = Array.from({ length: 24 }, (_, i) => logitsRow(g, vocab, KINDS[i % 3]));
        rows.push(new Float32Array(vocab).fill(0.25)); // all tied: index 0
        rows.push(new Float32Array(vocab).fill(-Infinity)); // nothing allowed: index 0, as the host's argmax
        const dup = logitsRow(g, vocab, "spread");
        dup[vocab - 1] = dup[Math.floor(vocab / 2)] = 50; // two maxima: the lower index
        rows.push(dup);
        const t = upload(cpu, rows, vocab);
        // Temperatures below SAMPLING_EPS are greedy whatever the draw.
        const res = cpu.sample(t, vocab, plainBatch(rows.length, (i) => ({ temperature: [0, 9e-6][i % 2], u: 0.7, topK: 1 })));
        rows.forEach((r, i) => expect(res.tokenIds[i], `vocab ${vocab} row ${i}`).toBe(argmax(r)));
        cpu.free(t);
      }
    });

    test("the same u picks the host sampler's token under temperature, min_p, top_k and top_p at their bounds", () => {
      const g = new Generator(2);
      const combos: Partial<SamplingParams>[] = [];
      for (const temperature of [1e-5, 0.05, 0.7, 1, 2, 100])
        for (const topK of [0, 1, 2, 50, 1024, 1025, 5000, -1]) // -1: vocab - 1
          for (const topP of [1, 0.999, 0.9, 0.3, 1e-9])
            for (const minP of [0, 0.05, 0.5, 1]) combos.push({ temperature, topK, topP, minP });
      let compared = 0, boundary = 0;
      for (const [vocab, n] of [[128256, 48], [32000, 120], [77, 240]]) {
        const params = Array.from({ length: n }, (_, i) => {
          const c = combos[(i * 37 + vocab) % combos.length];
          return { ...c, topK: c.topK === -1 ? vocab - 1 : Math.min(c.topK!, vocab) };
        });
        const rows = params.map((_, i) => logitsRow(g, vocab, KINDS[i % 3]));
        const us = params.map((_, i) => [0, 1 - 2 ** -53][i % 23] ?? g.random()); // u at both ends too
        const t = upload(cpu, rows, vocab);
        const res = cpu.sample(t, vocab, plainBatch(n, (i) => ({ ...params[i], topK: params[i].topK < vocab ? params[i].topK : 0, u: us[i] })));
        rows.forEach((row, i) => {
          const want = hostPick(row, params[i], us[i]), got = res.tokenIds[i];
          compared++;
          if (got === want) return;
          // Only a u on a cumulative boundary (to f64 rounding of the sums) may land on the neighbour.
          const near = [us[i] - 1e-12, us[i] + 1e-12].some((u) => hostPick(row, params[i], u) === got);
          expect(near, `vocab ${vocab} row ${i} ${JSON.stringify(params[i])} u=${us[i]}: native ${got}, host ${want}`).toBe(true);
          boundary++;
        });
        expect(cpu.readF32(t, n * vocab)).toEqual(Float32Array.from(rows.flatMap((r) => Array.from(r))));
        cpu.free(t);
      }
      console.log(`cpu-sampling ${cpu.variant}: ${compared} draws compared, ${boundary} on a cumulative boundary`);
      expect(boundary).toBeLessThanOrEqual(1);
    }, 120_000);

    test("logprobs 0..20 of the raw logits: the token's logprob and rank, and the top K, for sampled and forced tokens", () => {
      const g = new Generator(3);
      for (const vocab of [128256, 5000, 13]) {
        const n = 42;
        const rows = Array.from({ length: n }, (_, i) => logitsRow(g, vocab, KINDS[i % 3]));
        rows[n - 1].fill(-Infinity, 0, vocab - 1); // one finite logit: every other logprob is -inf
        const ks = rows.map((_, i) => i % (MAX_SAMPLE_LOGPROBS + 1));
        const forced = rows.map((_, i) => (i % 3 === 0 ? (i % 2 === 0 ? Math.floor(g.random() * vocab) : vocab - 1) : -1));
        const temps = rows.map((_, i) => [1, 0, 0.6][i % 3]);
        const us = rows.map(() => g.random());
        const t = upload(cpu, rows, vocab);
        const res = cpu.sample(t, vocab, plainBatch(n, (i) => ({ temperature: temps[i], u: us[i], numLogprobs: ks[i], forcedToken: forced[i] })));
        rows.forEach((row, i) => {
          const token = forced[i] >= 0 ? forced[i] : hostPick(row, { temperature: temps[i] }, us[i]);
          expectLogprobs(resultLogprobs(res, i, Math.min(ks[i], vocab)), tokenLogprobs(logSoftmax(row), token, Math.min(ks[i], vocab)), `vocab ${vocab} row ${i} k=${ks[i]}`);
          for (let j = Math.min(ks[i], vocab); j < MAX_SAMPLE_LOGPROBS; j++) expect(res.topIds[i * MAX_SAMPLE_LOGPROBS + j]).toBe(-1);
        });
        cpu.free(t);
      }
    }, 60_000);

    test("an id outside its table (logits row, forced token, processor token, bitmask row) fails naming it, touching no logits", () => {
      const g = new Generator(5), vocab = 1000, n = 4, words = Math.ceil(vocab / 32);
      const rows = Array.from({ length: n }, (_, i) => logitsRow(g, vocab, KINDS[i % 3]));
      const t = upload(cpu, rows, vocab);
      const greedy = () => plainBatch(n, () => ({ temperature: 0, numLogprobs: 2 }));
      const withOps = (entry: number, tokens: number[]): SamplingBatch => {
        const opStarts = Int32Array.from({ length: n + 1 }, (_, r) => (r > entry ? tokens.length : 0));
        const opParams = Float64Array.from({ length: 3 * tokens.length }, (_, i) => (i % 3 === 1 ? 1 : 5));
        return { ...greedy(), opStarts, opTokens: Int32Array.from(tokens), opParams };
      };
      const masked = (row: number): SamplingBatch => {
        const b = greedy();
        b.bitmasks = new Int32Array(2 * words).fill(-1);
        b.bitmaskWords = words;
        b.bitmaskRow[0] = row;
        return b;
      };
      const forced = (entry: number, token: number) => { const b = greedy(); b.forcedToken[entry] = token; return b; };
      const cases: [SamplingBatch, string][] = [
        [{ ...greedy(), rows: Int32Array.of(0, 1, n, 3) }, `vk_sample: entry 2 reads logits row ${n} of ${n}`],
        [{ ...greedy(), rows: Int32Array.of(0, -1, 2, 3) }, `vk_sample: entry 1 reads logits row -1 of ${n}`],
        [forced(1, vocab), `vk_sample: entry 1 scores token id ${vocab} outside the ${vocab}-token vocabulary`],
        [forced(3, 2 ** 31 - 1), `vk_sample: entry 3 scores token id ${2 ** 31 - 1} outside the ${vocab}-token vocabulary`],
        [withOps(3, [5, vocab]), `vk_sample: logits processor 1 has token id ${vocab} outside the ${vocab}-token vocabulary`],
        [withOps(0, [-3, 7, 9]), `vk_sample: logits processor 0 has token id -3 outside the ${vocab}-token vocabulary`],
        [masked(2), "vk_sample: entry 0 uses bitmask row 2 of 2"],
      ];
      for (const [batch, message] of cases) expect(() => cpu.sample(t, vocab, batch), message).toThrow(message);
      expect(cpu.readF32(t, n * vocab)).toEqual(Float32Array.from(rows.flatMap((r) => Array.from(r))));
      // The library recovers: the same batches with good ids sample as before.
      expect(Array.from(cpu.sample(t, vocab, withOps(3, [5, 6])).tokenIds)).toEqual(rows.map((r, i) => {
        const x = r.slice();
        if (i === 3) for (const id of [5, 6]) x[id] = Math.fround(Math.fround(x[id] + 5) - 5);
        return argmax(x);
      }));
      expect(Array.from(cpu.sample(t, vocab, masked(1)).tokenIds)).toEqual(rows.map(argmax));
      cpu.free(t);
    });

    test("penalties, bias, min_tokens, bitmasks (sparse, all-zero, all-one), prompt logprobs and host fallbacks through sampleEntries", () => {
      const g = new Generator(4), vocab = 50000, eos = [2, 7];
      const words = Math.ceil(vocab / 32);
      const prompt = Array.from({ length: 300 }, () => Math.floor(g.random() * vocab));
      const output = Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? prompt[i] : Math.floor(g.random() * 2000)));
      const bias = new Map([[11, 30], [12, -100], [prompt[3], 5.5], [vocab - 1, 40]]);
      type Mask = "none" | "sparse" | "zero" | "one" | "few";
      const cases: [Partial<SamplingParams>, Mask][] = [
        [{ temperature: 0, logitBias: bias }, "none"],
        [{ temperature: 1, logitBias: bias, seed: 1 }, "none"],
        [{ temperature: 0.7, minTokens: 60, seed: 2, logprobs: 5 }, "none"],
        [{ temperature: 0, minTokens: 60, ignoreEos: true, stopTokenIds: [3] }, "none"],
        [{ temperature: 1.3, repetitionPenalty: 1.3, seed: 3, topP: 0.9 }, "none"],
        [{ temperature: 0, repetitionPenalty: 0.7 }, "none"],
        [{ temperature: 1, repetitionPenalty: 2, presencePenalty: 2, frequencyPenalty: 2, topK: 1, seed: 8, logprobs: 0 }, "none"],
        [{ temperature: 1, presencePenalty: -2, frequencyPenalty: -2, minP: 0.2, seed: 9 }, "none"],
        [{ temperature: 1, presencePenalty: 1.5, frequencyPenalty: -0.5, topK: 40, seed: 4, logprobs: 20 }, "none"],
        [{ temperature: 0.9, repetitionPenalty: 1.1, presencePenalty: 0.5, logitBias: bias, minTokens: 45, minP: 0.1 }, "none"],
        [{ temperature: 1, seed: 5 }, "sparse"],
        [{ temperature: 0 }, "sparse"],
        [{ temperature: 2, topP: 0.5, seed: 10, logprobs: 3 }, "few"],
        [{ temperature: 1, seed: 11 }, "zero"], // nothing allowed
        [{ temperature: 0.5, topK: 3, seed: 12, logitBias: bias }, "one"],
        [{ temperature: 0.8, minTokens: 60, seed: 6 }, "sparse"], // bitmask with min_tokens: host
        [{ temperature: 1, logprobs: 25 }, "none"], // over 20 logprobs: host
        [{ temperature: 0.6, topK: 3, logprobs: 2, promptLogprobs: 3, seed: 7 }, "none"],
        [{ temperature: 1, promptLogprobs: 0 }, "none"],
        [{ temperature: 1, promptLogprobs: 25 }, "none"], // over 20 prompt logprobs: host
      ];
      const maskOf = (m: Mask): Int32Array | null => {
        if (m === "none") return null;
        if (m === "zero" || m === "one") return new Int32Array(words).fill(m === "zero" ? 0 : -1);
        if (m === "few") return Int32Array.from({ length: words }, (_, w) => (w % 97 === 3 ? 0x10204 : 0));
        return Int32Array.from({ length: words }, () => (g.nextU32() & g.nextU32()) | 0);
      };
      const rows = cases.map((_, i) => logitsRow(g, vocab, KINDS[i % 3]));
      rows.forEach((r) => { for (const id of [...eos, 3, 11, 12]) r[id] = 20; }); // processors must matter
      const extra = cases.flatMap(([p]) => (p.promptLogprobs !== undefined ? [logitsRow(g, vocab, "spread"), logitsRow(g, vocab, "peaked")] : []));
      const all = [...rows, ...extra];
      const engineGen = new Generator(99);
      const entries: SamplingEntry[] = [];
      let extraAt = rows.length;
      cases.forEach(([p, m], i) => {
        const v = view({ maxTokens: 100, ...p }, vocab, prompt, output, eos);
        entries.push(sampleEntry(v, i, vocab, engineGen, maskOf(m)));
        const k = p.promptLogprobs;
        if (typeof k === "number") for (const pos of [5, 6]) entries.push(promptEntry(extraAt++, prompt[pos + 1], k));
      });
      const t = upload(cpu, all, vocab);
      const got = sampleEntries(cpu, t, vocab, entries);
      entries.forEach((e, j) => {
        const want = sampleRow(all[e.row].slice(), e);
        const what = `entry ${j} (row ${e.row}${e.forcedToken >= 0 ? ", prompt" : ""})`;
        expect(got[j].tokenId, what).toBe(want.tokenId);
        if (want.logprobs) expectLogprobs(got[j].logprobs!, want.logprobs, `${what} logprobs`);
        else expect(got[j].logprobs).toBeNull();
      });
      const back = cpu.readF32(t, all.length * vocab);
      all.forEach((r, i) => expect(back.subarray(i * vocab, (i + 1) * vocab)).toEqual(r));
      cpu.free(t);
    }, 60_000);
  });
}

test("every built variant this CPU runs is under test", () => {
  expect(backends.map((b) => b.variant)).toContain("portable");
});

// ---- engine level ----

describe("CPU sampling in the engine", () => {
  test("seeded and unseeded requests get the same tokens and logprobs from vk_sample as from the host sampler", () => {
    const vocab = 32000, steps = 16;
    const g = new Generator(11);
    const prompt = (len: number) => ({ promptTokenIds: Array.from({ length: len }, () => 3 + Math.floor(g.random() * 31000)) });
    const prompts = Array.from({ length: 6 }, (_, i) => prompt(20 + 7 * i));
    const mk = (p: Partial<SamplingParams>) => makeSamplingParams({ maxTokens: steps, ignoreEos: true, ...p }, limits(vocab));
    // The tiny model's top-2 margins are large: high temperatures make the draws matter.
    const params = [
      mk({ temperature: 8, seed: 1, logprobs: 5 }), mk({ temperature: 4, topK: 20, seed: 2, logprobs: 20 }),
      mk({ temperature: 6, topP: 0.8, seed: 3, repetitionPenalty: 1.2 }), mk({ temperature: 5, minP: 0.01, seed: 4, presencePenalty: 0.5 }),
      mk({ temperature: 0, logprobs: 3, promptLogprobs: 2 }), mk({ temperature: 10, seed: 5, promptLogprobs: 1, frequencyPenalty: 0.3 }),
    ];
    const run = (native: boolean) => {
      const { engine, backend } = createEngine(testEngineArgs(tinyModelDir("mistral"), { enablePrefixCaching: false, seed: 7 }));
      if (!native) Object.defineProperty(backend, "sample", { value: undefined }); // the host sampler, as before vk_sample
      else expect(typeof backend.sample).toBe("function");
      return engine.generate(prompts, params).map((o) => ({ tokens: o.outputs[0].tokenIds, logprobs: o.outputs[0].logprobs, prompt: o.promptLogprobs }));
    };
    const host = run(false), native = run(true);
    let nonGreedy = 0;
    native.forEach((o, i) => {
      expect(o.tokens, `request ${i}`).toEqual(host[i].tokens);
      o.logprobs?.forEach((lp, s) => {
        expectLogprobs(lp, host[i].logprobs![s], `request ${i} step ${s}`);
        if (lp.rank > 1) nonGreedy++;
      });
      o.prompt?.slice(1).forEach((lp, s) => expectLogprobs(lp!, host[i].prompt![s + 1]!, `request ${i} prompt ${s}`));
    });
    expect(nonGreedy).toBeGreaterThan(0);
  }, 120_000);
});
