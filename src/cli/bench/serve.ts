/** `vllm bench serve` flags (vLLM's names and defaults) → `benchServe`. */
import { randomUUID } from "node:crypto";
import { type BenchServeOptions, benchServe } from "../../benchmarks/serve";
import { type GoodputSlos, METRIC_NAMES, type MetricName } from "../../benchmarks/metrics";
import { type Backend, BACKENDS } from "../../benchmarks/request_func";
import { ArgError, type FlagSpec, formatHelp, parseArgs } from "../arg_parser";
import { datasetFlags, datasetOptionsFrom } from "./dataset_flags";

export const SERVE_FLAGS: FlagSpec[] = [
  { name: "backend", type: "string", default: "openai", choices: BACKENDS, help: "openai: /v1/completions; openai-chat: /v1/chat/completions" },
  { name: "base-url", type: "string", help: "server base URL, e.g. http://10.0.0.2:8000 (instead of --host / --port)" },
  { name: "host", type: "string", default: "127.0.0.1", help: "server host" },
  { name: "port", type: "int", default: 8000, help: "server port" },
  { name: "endpoint", type: "string", help: "API path; default: /v1/completions, or /v1/chat/completions for openai-chat" },
  { name: "model", type: "string", help: "model name sent in requests; default: the first model the server lists" },
  { name: "served-model-name", type: "string", help: "the `model` field sent, when it differs from --model" },
  { name: "tokenizer", type: "string", help: "local tokenizer directory; default: --model when it is a local directory, else the server's model root" },
  { name: "label", type: "string", help: "prefix of the result file name; default: --backend" },
  { name: "num-prompts", type: "int", default: 1000, help: "number of requests" },
  ...datasetFlags({ inputLen: 1024, outputLen: 128 }),
  { name: "skip-chat-template", type: "bool", default: false, help: "custom: send prompts without the chat template (openai backend)" },
  { name: "request-rate", type: "string", default: "inf", help: "requests per second (Poisson / gamma arrivals), or inf to send all at once" },
  { name: "burstiness", type: "float", default: 1, help: "gamma shape of the arrival gaps: 1 is Poisson, <1 burstier, >1 steadier" },
  { name: "max-concurrency", type: "int", help: "most requests in flight at once; default: no limit" },
  { name: "seed", type: "int", default: 0, help: "seed for the dataset and the arrival times" },
  { name: "ignore-eos", type: "bool", default: false, help: "send ignore_eos (always on for the random dataset)" },
  { name: "percentile-metrics", type: "string", default: "ttft,tpot,itl", help: `metrics to report, comma-separated, from ${METRIC_NAMES.join(",")}` },
  { name: "metric-percentiles", type: "string", default: "99", help: "percentiles to report, comma-separated, e.g. 25,50,75,99" },
  { name: "goodput", type: "strings", help: "service-level objectives as KEY:MS pairs (ttft, tpot, e2el) for the goodput" },
  { name: "temperature", type: "float", help: "sampling temperature sent; default: the server's" },
  { name: "top-p", type: "float", help: "top_p sent" },
  { name: "top-k", type: "int", help: "top_k sent" },
  { name: "min-p", type: "float", help: "min_p sent" },
  { name: "extra-body", type: "string", help: "JSON object merged into every request body" },
  { name: "header", type: "strings", help: "KEY=VALUE headers sent with every request (OPENAI_API_KEY sets the bearer token)" },
  { name: "metadata", type: "strings", help: "KEY=VALUE pairs recorded in the result JSON" },
  { name: "request-id-prefix", type: "string", help: "prefix of the x-request-id of each request; default: bench-<random>-" },
  { name: "ready-check-timeout-sec", type: "int", default: 0, help: "wait up to this long for a first request to succeed; 0 skips the check" },
  { name: "disable-tqdm", type: "bool", default: false, help: "no progress bar" },
  { name: "save-result", type: "bool", default: false, help: "write the result JSON" },
  { name: "result-dir", type: "string", help: "directory for the result JSON; default: the current directory" },
  { name: "result-filename", type: "string", help: "file name; default: {label}-{rate}qps[-concurrency{N}]-{model}-{date}.json" },
];

const USAGE = "vllm bench serve [--backend openai|openai-chat] [--base-url URL | --host H --port P] [--model NAME] [--dataset-name random|sharegpt|custom] [options]";
const DESCRIPTION = "Benchmarks a running OpenAI-compatible server over HTTP (streaming) and prints vLLM's serving table: throughput, TTFT, TPOT, ITL.";

export async function runBenchServe(argv: string[]): Promise<number> {
  const { values, help } = parseArgs(argv, SERVE_FLAGS);
  if (help) {
    console.log(formatHelp(USAGE, DESCRIPTION, SERVE_FLAGS));
    return 0;
  }
  await benchServe(serveOptionsFrom(values), (line) => console.log(line));
  return 0;
}

export function serveOptionsFrom(v: Record<string, unknown>): BenchServeOptions {
  const str = (name: string) => (v[name] as string | undefined) ?? null;
  const backend = v["backend"] as Backend;
  const endpoint = str("endpoint") ?? (backend === "openai" ? "/v1/completions" : "/v1/chat/completions");
  const expected = backend === "openai" ? "completions" : "chat/completions";
  if (!endpoint.endsWith(expected)) throw new ArgError(`argument --endpoint: the ${backend} backend needs a path ending in ${expected}, got ${endpoint}`);
  const numPrompts = v["num-prompts"] as number;
  const maxConcurrency = (v["max-concurrency"] as number | undefined) ?? null;
  if (maxConcurrency !== null && maxConcurrency < 1) throw new ArgError(`argument --max-concurrency: must be at least 1, got ${maxConcurrency}`);
  return {
    backend, baseUrl: (str("base-url") ?? hostUrl(v["host"] as string, v["port"] as number)).replace(/\/+$/, ""), endpoint,
    model: str("model"), servedModelName: str("served-model-name"), tokenizer: str("tokenizer"),
    dataset: datasetOptionsFrom(v, numPrompts, v["seed"] as number, str("request-id-prefix") ?? `bench-${randomUUID().slice(0, 8)}-`),
    skipChatTemplate: v["skip-chat-template"] as boolean,
    requestRate: requestRate(v["request-rate"] as string), burstiness: v["burstiness"] as number, maxConcurrency,
    ignoreEos: v["ignore-eos"] as boolean,
    percentileMetrics: metricNames(v["percentile-metrics"] as string), metricPercentiles: percentiles(v["metric-percentiles"] as string),
    goodput: goodputSlos((v["goodput"] as string[] | undefined) ?? []),
    extraBody: { ...samplingBody(v), ...jsonObject(str("extra-body")) }, headers: keyValues("header", v["header"]),
    label: str("label"), metadata: keyValues("metadata", v["metadata"]),
    readyCheckTimeoutS: v["ready-check-timeout-sec"] as number, progress: !(v["disable-tqdm"] as boolean),
    saveResult: v["save-result"] as boolean, resultDir: str("result-dir"), resultFilename: str("result-filename"),
  };
}

function hostUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function requestRate(raw: string): number {
  const v = /^\+?inf(inity)?$/i.test(raw.trim()) ? Infinity : Number(raw);
  if (raw.trim() === "" || !(v > 0)) throw new ArgError(`argument --request-rate: expected a positive number or inf, got '${raw}'`);
  return v;
}

function metricNames(raw: string): MetricName[] {
  const names = raw.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names)
    if (!(METRIC_NAMES as readonly string[]).includes(n)) throw new ArgError(`argument --percentile-metrics: unknown metric '${n}' (choose from ${METRIC_NAMES.join(", ")})`);
  return names as MetricName[];
}

function percentiles(raw: string): number[] {
  return raw.split(",").map((s) => {
    const p = Number(s.trim());
    if (s.trim() === "" || !(p >= 0 && p <= 100)) throw new ArgError(`argument --metric-percentiles: '${s}' is not a percentile in [0, 100]`);
    return p;
  });
}

function goodputSlos(pairs: string[]): GoodputSlos {
  const slos: GoodputSlos = {};
  for (const pair of pairs) {
    const [k, ms] = pair.split(":");
    const v = Number(ms);
    if (!["ttft", "tpot", "e2el"].includes(k) || ms === undefined || !(v >= 0))
      throw new ArgError(`argument --goodput: expected KEY:MS with KEY one of ttft, tpot, e2el and MS non-negative, got '${pair}'`);
    slos[k as keyof GoodputSlos] = v;
  }
  return slos;
}

function samplingBody(v: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const [flag, key] of [["temperature", "temperature"], ["top-p", "top_p"], ["top-k", "top_k"], ["min-p", "min_p"]])
    if (v[flag] !== undefined) body[key] = v[flag];
  return body;
}

function jsonObject(raw: string | null): Record<string, unknown> {
  if (raw === null) return {};
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new ArgError(`argument --extra-body: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ArgError("argument --extra-body: expected a JSON object");
  return v as Record<string, unknown>;
}

function keyValues(flag: string, raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of (raw as string[] | undefined) ?? []) {
    const i = item.indexOf("=");
    if (i <= 0) throw new ArgError(`argument --${flag}: expected KEY=VALUE, got '${item}'`);
    out[item.slice(0, i).trim()] = item.slice(i + 1).trim();
  }
  return out;
}
