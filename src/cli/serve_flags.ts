/**
 * vLLM serve flags that launch scripts pass but this engine has no use for (accepted, with a warning that
 * says so) or cannot honour without changing results (a startup error naming the flag).
 */
import type { ServerConfig } from "../server/state";
import { ArgError, type FlagSpec } from "./arg_parser";

/** vLLM serve flags of the HTTP layer (read from ServerConfig). */
export const SERVER_FEATURE_FLAGS: FlagSpec[] = [
  { name: "enable-tokenizer-info-endpoint", type: "bool", default: false, help: "serve GET /tokenizer_info: the tokenizer's configuration and chat template" },
  { name: "allowed-origins", type: "string", default: '["*"]', help: "CORS: origins browsers may call from, a JSON list (\"*\": any)" },
  { name: "allowed-methods", type: "string", default: '["*"]', help: "CORS: methods a preflight allows, a JSON list (\"*\": any)" },
  { name: "allowed-headers", type: "string", default: '["*"]', help: "CORS: request headers a preflight allows, a JSON list (\"*\": any)" },
  { name: "allow-credentials", type: "bool", default: false, help: "CORS: allow cookies and auth headers from other origins (answers name the origin instead of *)" },
  { name: "root-path", type: "string", help: "the path prefix a reverse proxy strips before requests arrive (e.g. /llm); the OpenAPI document's server URL" },
  { name: "max-log-len", type: "int", help: "most prompt characters and token ids the --enable-log-requests debug line shows (default: all)" },
];

type FeatureConfig = Pick<ServerConfig, "enableTokenizerInfoEndpoint" | "cors" | "rootPath" | "maxLogLen">;

/** The ServerConfig fields SERVER_FEATURE_FLAGS set; a bad value is an ArgError naming its flag. */
export function serverFeatureConfig(values: Record<string, unknown>): FeatureConfig {
  const maxLogLen = (values["max-log-len"] as number | undefined) ?? null;
  if (maxLogLen !== null && maxLogLen < 0) throw new ArgError(`argument --max-log-len: must be non-negative, got ${maxLogLen}`);
  return {
    enableTokenizerInfoEndpoint: values["enable-tokenizer-info-endpoint"] === true,
    cors: {
      allowedOrigins: jsonList(values, "allowed-origins", (o) => o === "*" || /^[a-z][a-z0-9+.-]*:\/\/[^\s/]+$|^null$/i.test(o), "an origin such as https://app.example.com (scheme://host[:port], no path), \"null\" or \"*\""),
      allowedMethods: jsonList(values, "allowed-methods", (m) => m === "*" || HTTP_TOKEN.test(m), "an HTTP method such as GET or \"*\""),
      allowedHeaders: jsonList(values, "allowed-headers", (h) => h === "*" || HTTP_TOKEN.test(h), "a header name such as Authorization or \"*\""),
      allowCredentials: values["allow-credentials"] === true,
    },
    rootPath: rootPath(values["root-path"] as string | undefined),
    maxLogLen,
  };
}

const HTTP_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

// vLLM reads these flags as JSON lists.
function jsonList(values: Record<string, unknown>, flag: string, ok: (item: string) => boolean, what: string): string[] {
  const raw = values[flag] as string;
  let list: unknown;
  try { list = JSON.parse(raw); } catch { list = undefined; }
  if (!Array.isArray(list) || list.some((x) => typeof x !== "string"))
    throw new ArgError(`argument --${flag}: must be a JSON list of strings, e.g. '["*"]', got '${raw}'`);
  const bad = (list as string[]).find((x) => !ok(x));
  if (bad !== undefined) throw new ArgError(`argument --${flag}: '${bad}' is not ${what}`);
  return list as string[];
}

function rootPath(raw: string | undefined): string {
  if (raw === undefined || raw === "") return "";
  if (!/^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(raw))
    throw new ArgError(`argument --root-path: must be a URL path such as /llm (starting with /, no trailing /, query or spaces), got '${raw}'`);
  return raw;
}

interface CompatFlag extends FlagSpec {
  /** Returns the warning for a given value, or throws ArgError when the value cannot be honoured. */
  check: (value: unknown) => string;
}

const noEffect = (why: string) => () => `accepted, has no effect: ${why}`;
const refuse = (flag: string, why: string) => (): never => { throw new ArgError(`argument --${flag}: not supported: ${why}`); };
const onlyOne = (flag: string, what: string) => (v: unknown) => {
  if (v !== 1) throw new ArgError(`argument --${flag}: ${v} is not supported yet; ${what} has not landed, use 1`);
  return "";
};

export const COMPAT_FLAGS: CompatFlag[] = [
  { name: "trust-remote-code", type: "bool", help: "accepted, no effect: no model code is downloaded or run; architectures are built in", check: noEffect("no model code is downloaded or run; architectures are built in") },
  { name: "swap-space", type: "float", help: "accepted, no effect: preempted requests are recomputed, never swapped to CPU memory", check: noEffect("preempted requests are recomputed, never swapped to CPU memory") },
  { name: "disable-log-requests", type: "bool", help: "accepted, no effect: requests are logged only with --enable-log-requests", check: noEffect("requests are logged only with --enable-log-requests") },
  { name: "uvicorn-log-level", type: "string", help: "accepted, no effect: there is no uvicorn here; --log-level sets the one log", check: noEffect("there is no uvicorn here; --log-level sets the one log") },
  { name: "disable-uvicorn-access-log", type: "bool", help: "accepted, no effect: there is no access log", check: noEffect("there is no access log") },
  { name: "disable-custom-all-reduce", type: "bool", help: "accepted, no effect: one GPU only, so no all-reduce", check: noEffect("one GPU only, so no all-reduce") },
  { name: "max-parallel-loading-workers", type: "int", help: "accepted, no effect: weights load in one pass", check: noEffect("weights load in one pass") },
  { name: "distributed-executor-backend", type: "string", help: "accepted, no effect: one process, no distributed executor", check: noEffect("one process, no distributed executor") },
  { name: "disable-frontend-multiprocessing", type: "bool", help: "accepted, no effect: the server and engine always share one process", check: noEffect("the server and engine always share one process") },
  { name: "max-seq-len-to-capture", type: "int", help: "accepted, no effect: no backend captures graphs yet", check: noEffect("no backend captures graphs yet") },
  {
    name: "tokenizer-mode", type: "string", help: "auto or hf accepted with a warning (the model's tokenizer.json is always used); others are refused",
    check: (v) => {
      if (v !== "auto" && v !== "hf") refuse("tokenizer-mode", `'${v}'; the model's own tokenizer (auto) is the only mode`)();
      return "accepted, has no effect: the model's tokenizer.json is always used";
    },
  },
  {
    name: "load-format", type: "string", help: "auto or safetensors accepted with a warning (weights are always read from safetensors); others are refused",
    check: (v) => {
      if (v !== "auto" && v !== "safetensors") refuse("load-format", `'${v}'; weights are read from safetensors files only`)();
      return "accepted, has no effect: weights are always read from safetensors files";
    },
  },
  { name: "enable-lora", type: "bool", help: "refused: LoRA adapters are not supported yet", check: refuse("enable-lora", "LoRA adapters are not supported yet") },
  { name: "lora-modules", type: "strings", help: "refused: LoRA adapters are not supported yet", check: refuse("lora-modules", "LoRA adapters are not supported yet") },
  { name: "speculative-config", type: "string", help: "refused: speculative decoding is not supported yet", check: refuse("speculative-config", "speculative decoding is not supported yet") },
  {
    name: "quantization", type: "string", aliases: ["q"], help: "only 'none'; no quantization method is supported yet",
    check: (v) => (v === "none" ? "" : refuse("quantization", `'${v}'; no quantization method is supported yet`)()),
  },
  {
    name: "kv-cache-dtype", type: "string", help: "only 'auto' (the compute dtype); other KV cache dtypes are not supported yet",
    check: (v) => (v === "auto" ? "" : refuse("kv-cache-dtype", `'${v}'; the KV cache is kept in the compute dtype (auto) only`)()),
  },
  {
    name: "scheduling-policy", type: "string", help: "only 'fcfs' (first come, first served); 'priority' is not supported yet, so a request's priority other than 0 is a 400",
    check: (v) => (v === "fcfs" ? "" : refuse("scheduling-policy", `'${v}'; only fcfs scheduling is implemented yet`)()),
  },
  { name: "pipeline-parallel-size", type: "int", aliases: ["pp"], help: "only 1; pipeline parallelism is not supported yet", check: onlyOne("pipeline-parallel-size", "pipeline parallelism") },
  { name: "data-parallel-size", type: "int", aliases: ["dp"], help: "only 1; data parallelism is not supported yet (run replicas behind a router)", check: onlyOne("data-parallel-size", "data parallelism") },
];

/** Checks the compat flags that were given: throws ArgError for a refused one, returns one warning line per no-op. */
export function checkCompatFlags(values: Record<string, unknown>): string[] {
  const warnings: string[] = [];
  for (const f of COMPAT_FLAGS) {
    const v = values[f.name];
    if (v === undefined) continue;
    const warning = f.check(v);
    if (warning !== "") warnings.push(`--${f.name}: ${warning}`);
  }
  return warnings;
}

/** --tokenizer: only the model's own tokenizer can be used yet, so any other value is refused. */
export function checkTokenizerFlag(values: Record<string, unknown>): void {
  const tokenizer = values["tokenizer"] as string | undefined;
  if (tokenizer === undefined) return;
  const norm = (p: string) => p.replace(/\/+$/, "");
  if (norm(tokenizer) !== norm(String(values["model"])))
    throw new ArgError(`argument --tokenizer: a tokenizer other than the model's ('${tokenizer}') is not supported yet; omit it or pass the model itself`);
}
