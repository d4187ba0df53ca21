/** Where `bench serve --save-result` writes, named as vLLM names it, so collection scripts find the files. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pyFloat } from "./py_format";

export interface ResultFileOptions {
  label: string;
  requestRate: number;
  maxConcurrency: number | null;
  modelId: string;
  resultDir: string | null;
  resultFilename: string | null;
}

/** `{label}-{rate}qps[-concurrency{N}]-{model basename}-{YYYYMMDD-HHMMSS}.json`, or --result-filename; under --result-dir. */
export function resultFilename(o: ResultFileOptions, date: string): string {
  const concurrency = o.maxConcurrency !== null ? `-concurrency${o.maxConcurrency}` : "";
  const base = o.modelId.split("/").filter(Boolean).pop() ?? o.modelId;
  const name = o.resultFilename ?? `${o.label}-${pyFloat(o.requestRate)}qps${concurrency}-${base}-${date}.json`;
  return o.resultDir !== null ? join(o.resultDir, name) : name;
}

/** Local time as `%Y%m%d-%H%M%S`. */
export function resultDate(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export function writeResult(path: string, result: Record<string, unknown>, resultDir: string | null): void {
  if (resultDir !== null) mkdirSync(resultDir, { recursive: true });
  writeFileSync(path, JSON.stringify(result, jsonSafe));
}

// JSON has no Infinity or NaN; vLLM writes an infinite rate as the string "inf".
function jsonSafe(_key: string, v: unknown): unknown {
  return typeof v === "number" && !Number.isFinite(v) ? pyFloat(v) : v;
}
