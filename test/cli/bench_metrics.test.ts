/** The pieces of the benchmarks that must match vLLM's numbers exactly: numpy statistics, Python formatting, arrivals, SSE. */
import { describe, expect, test } from "bun:test";
import { arrivalOffsets, gamma } from "../../src/benchmarks/arrivals";
import { calculateMetrics } from "../../src/benchmarks/metrics";
import { ProgressBar } from "../../src/benchmarks/progress";
import { centered, pyFloat, row, rowF } from "../../src/benchmarks/py_format";
import type { RequestFuncOutput } from "../../src/benchmarks/request_func";
import { resultFilename } from "../../src/benchmarks/result_file";
import { SseReader } from "../../src/benchmarks/sse_reader";
import { mean, median, percentile, std } from "../../src/benchmarks/stats";
import { Generator } from "../../src/sample/generator";

describe("numpy statistics", () => {
  test("percentile interpolates linearly between ranks; std is the population std", () => {
    const xs = [15, 20, 35, 40, 50];
    // numpy.percentile(xs, [0, 25, 40, 50, 99, 100]) = 15, 20, 29, 35, 49.6, 50
    const expected: [number, number][] = [[0, 15], [25, 20], [40, 29], [50, 35], [99, 49.6], [100, 50]];
    for (const [p, v] of expected) expect(percentile(xs, p)).toBeCloseTo(v, 10);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(mean(xs)).toBe(32);
    expect(std([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2);
    expect([mean([]), std([]), percentile([], 99)]).toEqual([0, 0, 0]);
  });
});

describe("Python formatting", () => {
  test("str(float), '{:<40} {:<10}' rows and centred headers", () => {
    expect([Infinity, 10, 0.5, 1e-5, 1.5e-7, 2e16, 0.0001].map(pyFloat)).toEqual(["inf", "10.0", "0.5", "1e-05", "1.5e-07", "2e+16", "0.0001"]);
    expect(row("Successful requests:", 6)).toBe("Successful requests:                     6         ");
    expect(rowF("Mean TTFT (ms):", 12.345)).toBe(`Mean TTFT (ms):${" ".repeat(26)}12.35     `);
    expect(rowF("Total Token throughput (tok/s):", 123456789.5)).toBe("Total Token throughput (tok/s):          123456789.50");
    expect(centered(" Serving Benchmark Result ", "=")).toBe("============ Serving Benchmark Result ============");
    expect(centered("Time to First Token", "-")).toBe("---------------Time to First Token----------------");
  });

  test("the default result file name", () => {
    const o = { label: "openai", requestRate: Infinity, maxConcurrency: null, modelId: "/models/Llama-3.2-1B", resultDir: null, resultFilename: null };
    expect(resultFilename(o, "20261201-101500")).toBe("openai-infqps-Llama-3.2-1B-20261201-101500.json");
    expect(resultFilename({ ...o, requestRate: 4, maxConcurrency: 64, resultDir: "out" }, "20261201-101500")).toBe("out/openai-4.0qps-concurrency64-Llama-3.2-1B-20261201-101500.json");
    expect(resultFilename({ ...o, resultFilename: "r.json", resultDir: "d" }, "x")).toBe("d/r.json");
  });
});

describe("arrivals", () => {
  test("an infinite rate sends everything at once", () => {
    expect(arrivalOffsets(new Generator(0), 4, Infinity, 1)).toEqual([0, 0, 0, 0]);
  });

  test("a finite rate ends at num/rate, increasing; infinite burstiness is evenly spaced", () => {
    const offs = arrivalOffsets(new Generator(1), 50, 10, 1);
    expect(offs.at(-1)).toBeCloseTo(5, 9);
    for (let i = 1; i < offs.length; i++) expect(offs[i]).toBeGreaterThan(offs[i - 1]);
    expect(arrivalOffsets(new Generator(1), 4, 2, Infinity)).toEqual([0.5, 1, 1.5, 2]);
    expect(arrivalOffsets(new Generator(1), 3, 2, 1)).toEqual(arrivalOffsets(new Generator(1), 3, 2, 1));
  });

  test("gamma draws have mean = shape and variance = shape", () => {
    for (const shape of [0.5, 1, 3]) {
      const g = new Generator(7);
      const xs = Array.from({ length: 20000 }, () => gamma(g, shape));
      expect(mean(xs)).toBeCloseTo(shape, 1);
      expect(std(xs) ** 2 / shape).toBeGreaterThan(0.9);
      expect(std(xs) ** 2 / shape).toBeLessThan(1.1);
    }
  });
});

describe("metrics", () => {
  const out = (o: Partial<RequestFuncOutput>): RequestFuncOutput => ({
    generatedText: "", success: true, latency: 0, outputTokens: 0, ttft: 0, itl: [], promptLen: 10, error: "", startTime: 0, ...o,
  });

  test("TPOT excludes the first token; ITL pools chunk gaps; failures count apart", () => {
    const outputs = [
      out({ ttft: 0.1, latency: 0.5, outputTokens: 5, itl: [0.1, 0.1, 0.1, 0.1], startTime: 0 }),
      out({ ttft: 0.2, latency: 0.2, outputTokens: 1, startTime: 0.05 }),
      out({ success: false, error: "HTTP 400", startTime: 0.2 }),
      out({ ttft: 0.05, latency: 0.35, generatedText: "abc", itl: [0.3], startTime: 0.3 }),
    ];
    const { metrics: m, outputLens } = calculateMetrics(outputs, 2, (t) => t.length, [50, 99], { ttft: 150 });
    expect(outputLens).toEqual([5, 1, 0, 3]);
    expect(m.completed).toBe(3);
    expect(m.failed).toBe(1);
    expect(m.totalInput).toBe(30);
    expect(m.totalOutput).toBe(9);
    expect(m.outputThroughput).toBe(4.5);
    expect(m.summaries.ttft.mean).toBeCloseTo(((0.1 + 0.2 + 0.05) / 3) * 1000, 9);
    // (0.5 − 0.1) / 4 and (0.35 − 0.05) / 2; the one-token request has no TPOT.
    expect(m.summaries.tpot.mean).toBeCloseTo(((0.1 + 0.15) / 2) * 1000, 9);
    expect(m.summaries.itl.median).toBeCloseTo(100, 9);
    expect(m.summaries.e2el.percentiles[0]).toEqual([50, expect.closeTo(350, 9)]);
    expect(m.requestGoodput).toBe(1);
    expect(m.maxConcurrentRequests).toBe(2);
  });
});

describe("SSE reader", () => {
  test("events split across chunks and CRLF line ends", () => {
    const r = new SseReader();
    const enc = (s: string) => new TextEncoder().encode(s);
    expect(r.push(enc('data: {"a":'))).toEqual([]);
    expect(r.push(enc('1}\r\n\r\n: ping\n\ndata: [DO'))).toEqual(['{"a":1}']);
    expect(r.push(enc("NE]\n\n"))).toEqual(["[DONE]"]);
    expect(r.push(enc("data: tail"))).toEqual([]);
    expect(r.flush()).toEqual(["tail"]);
  });
});

describe("progress", () => {
  test("without a TTY: a line at each tenth, nothing drawn in place", () => {
    const lines: string[] = [];
    const bar = new ProgressBar(20, "Requests", { isTTY: false, write: (t) => void lines.push(t) });
    for (let i = 0; i < 20; i++) bar.update();
    bar.close();
    expect(lines).toHaveLength(10);
    expect(lines.at(-1)).toMatch(/^Requests: 100% 20\/20 \[\d\d:\d\d<00:00, [\d.]+it\/s\]\n$/);
    expect(lines.join("")).not.toContain("\r");
  });

  test("on a TTY: one line redrawn with a bar", () => {
    let text = "";
    const bar = new ProgressBar(4, "Bench iterations", { isTTY: true, write: (t) => void (text += t) });
    bar.update(2);
    expect(text.split("\r").at(-1)).toMatch(/^Bench iterations:  50%\|█{15} {15}\| 2\/4 /);
    bar.update(2);
    bar.close();
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\r").at(-1)).toContain("100%|" + "█".repeat(30) + "|");
  });
});
