/**
 * `vllm bench serve`: benchmarks any OpenAI-compatible server over HTTP as vLLM's `bench serve` does —
 * same datasets, arrival process, metrics, printed table and result JSON.
 */
import { type DatasetOptions, getSamples, type SampleRequest } from "./datasets";
import { calculateMetrics, type GoodputSlos, type MetricName } from "./metrics";
import { pyFloat } from "./py_format";
import { authHeaders, type Backend } from "./request_func";
import { resultDate, resultFilename, writeResult } from "./result_file";
import { type LoadConfig, runLoad, waitForEndpoint } from "./serve_benchmark";
import { formatTable, resultKeys } from "./serve_report";
import { hasLocalTokenizer, loadBenchTokenizer } from "./tokenizer_source";

export interface BenchServeOptions {
  backend: Backend;
  baseUrl: string;
  endpoint: string;
  /** null: the first model the server lists. */
  model: string | null;
  servedModelName: string | null;
  tokenizer: string | null;
  dataset: Omit<DatasetOptions, "applyChatTemplate">;
  skipChatTemplate: boolean;
  requestRate: number;
  burstiness: number;
  maxConcurrency: number | null;
  ignoreEos: boolean;
  percentileMetrics: MetricName[];
  metricPercentiles: number[];
  goodput: GoodputSlos;
  extraBody: Record<string, unknown>;
  headers: Record<string, string>;
  label: string | null;
  metadata: Record<string, string>;
  readyCheckTimeoutS: number;
  progress: boolean;
  saveResult: boolean;
  resultDir: string | null;
  resultFilename: string | null;
}

/** Runs the benchmark, prints its lines through `print`, saves the JSON if asked, and returns it. */
export async function benchServe(o: BenchServeOptions, print: (line: string) => void): Promise<Record<string, unknown>> {
  const { modelId, modelName, root } = await resolveModel(o, print);
  const { tokenizer, id: tokenizerId } = loadBenchTokenizer(o.tokenizer, [modelId, root ?? (await serverRoot(o, modelId, modelName))]);
  const requests = getSamples(tokenizer, { ...o.dataset, applyChatTemplate: !o.skipChatTemplate && o.backend === "openai" });
  const load: LoadConfig = {
    backend: o.backend, apiUrl: o.baseUrl + o.endpoint, model: modelName, requestRate: o.requestRate, burstiness: o.burstiness,
    maxConcurrency: o.maxConcurrency, ignoreEos: o.ignoreEos || o.dataset.name === "random", extraBody: o.extraBody, headers: o.headers,
    seed: o.dataset.seed, progress: o.progress,
  };
  await readyCheck(load, requests[0], o.readyCheckTimeoutS, print);
  print("Starting main benchmark run...");
  print(`Traffic request rate: ${pyFloat(o.requestRate)}`);
  print(`Burstiness factor: ${pyFloat(o.burstiness)} (${o.burstiness === 1 ? "Poisson process" : "Gamma distribution"})`);
  print(`Maximum request concurrency: ${o.maxConcurrency ?? "None"}`);
  const { outputs, duration } = await runLoad(load, requests);
  const countTokens = (text: string) => tokenizer.encode(text, { addSpecialTokens: false }).length;
  const { metrics, outputLens } = calculateMetrics(outputs, duration, countTokens, o.metricPercentiles, o.goodput);
  reportFailures(outputs.map((x) => x.error).filter((e) => e !== ""), print);
  const goodput = Object.keys(o.goodput).length > 0;
  for (const line of formatTable(metrics, { duration, maxConcurrency: o.maxConcurrency, requestRate: o.requestRate, goodput }, o.percentileMetrics)) print(line);

  const date = resultDate();
  const label = o.label ?? o.backend;
  const result: Record<string, unknown> = {
    date, endpoint_type: o.backend, backend: o.backend, label, model_id: modelId, tokenizer_id: tokenizerId, num_prompts: o.dataset.numPrompts,
    ...o.metadata, request_rate: o.requestRate === Infinity ? "inf" : o.requestRate, burstiness: o.burstiness, max_concurrency: o.maxConcurrency,
    ...resultKeys(metrics, outputs, outputLens, duration, o.percentileMetrics, goodput),
  };
  if (o.saveResult) {
    const path = resultFilename({ label, requestRate: o.requestRate, maxConcurrency: o.maxConcurrency, modelId, resultDir: o.resultDir, resultFilename: o.resultFilename }, date);
    writeResult(path, result, o.resultDir);
  }
  return result;
}

/** --model, else the first model of /v1/models (its id is sent, its root names the model as vLLM records it). */
async function resolveModel(o: BenchServeOptions, print: (line: string) => void): Promise<{ modelId: string; modelName: string; root: string | null }> {
  if (o.model !== null) return { modelId: o.model, modelName: o.servedModelName ?? o.model, root: null };
  print("Model not specified, fetching first model from server...");
  const first = (await listModels(o))[0];
  if (first === undefined) throw new Error(`no models found on the server at ${o.baseUrl}`);
  print(`First model name: ${first.id}, first model id: ${first.root}`);
  return { modelId: first.root, modelName: o.servedModelName ?? first.id, root: first.root };
}

/** A served name is no directory; the server's root for it may be one (on this machine). Asked only when needed. */
async function serverRoot(o: BenchServeOptions, modelId: string, modelName: string): Promise<string | null> {
  if (o.tokenizer !== null || hasLocalTokenizer(modelId)) return null;
  return (await listModels(o)).find((m) => m.id === modelName)?.root ?? null;
}

async function listModels(o: BenchServeOptions): Promise<{ id: string; root: string }[]> {
  const url = `${o.baseUrl}/v1/models`;
  try {
    const res = await fetch(url, { headers: authHeaders(o.headers) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    const body = (await res.json()) as { data?: { id?: unknown; root?: unknown }[] };
    return (body.data ?? []).filter((m) => typeof m.id === "string").map((m) => ({ id: m.id as string, root: typeof m.root === "string" ? m.root : (m.id as string) }));
  } catch (e) {
    throw new Error(`cannot list models at ${url} (is the server running? are --base-url / --host / --port right?): ${(e as Error).message}`);
  }
}

async function readyCheck(load: LoadConfig, first: SampleRequest, timeoutS: number, print: (line: string) => void): Promise<void> {
  print("Starting initial single prompt test run...");
  if (timeoutS <= 0) return print("Skipping endpoint ready check.");
  const out = await waitForEndpoint(load, first, timeoutS);
  if (!out.success) throw new Error(`Initial test run failed - Please make sure benchmark arguments are correctly specified. Error: ${out.error}`);
  print("Initial test run completed.");
}

function reportFailures(errors: string[], print: (line: string) => void): void {
  if (errors.length === 0) return;
  print("Failed requests during benchmark run detected (capping to 10):");
  errors.slice(0, 10).forEach((e, i) => print(`Error ${i}: ${e}`));
}
