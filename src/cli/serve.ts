/** `vllm serve [MODEL]`: the OpenAI-compatible HTTP server, with vLLM's flags and defaults. */
import { existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ENGINE_FLAGS, type EngineArgs, engineArgsFrom } from "../config/engine_args";
import { createEngine } from "../entrypoints/from_engine_args";
import { bindListener, startServer } from "../server/api_server";
import { LOG_LEVELS, Logger, type LogLevel } from "../server/logger";
import { DEFAULT_REQUEST_BODY_TIMEOUT_S, DEFAULT_TIMEOUT_KEEP_ALIVE_S, MAX_TIMEOUT_S } from "../server/connection_limits";
import { DEFAULT_MAX_SEQS_PER_REQUEST } from "../server/request_limits";
import { DEFAULT_CHAT_TEMPLATE_RENDER_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, DEFAULT_TOKENIZER_POOL_SIZE, type ServerConfig, ServerState } from "../server/state";
import { ModelLoadError } from "../model_loader/errors";
import { readModelFile } from "../model_loader/model_file";
import { GENERATION_CONFIG_FILE, type GenerationConfig, loadGenerationConfig, parseGenerationConfigOverride } from "../model_loader/generation_config";
import { DEFAULT_LIMITS } from "../engine/sampling_params";
import { REASONING_PARSER_NAMES, ReasoningParserError } from "../reasoning/registry";
import { TOOL_PARSER_NAMES } from "../tool_parsers/registry";
import { VERSION } from "../version";
import { DEFAULT_ITERATION_TIMEOUT_MS } from "../engine/async_llm";
import { ArgError, type FlagSpec, formatHelp, parseArgs } from "./arg_parser";
import { HUB_FLAGS, withResolvedModel } from "./hub_flags";
import { expandConfigFile } from "./config_file";
import { COMPAT_FLAGS, checkCompatFlags, checkTokenizerFlag, SERVER_FEATURE_FLAGS, serverFeatureConfig } from "./serve_flags";

const SERVE_FLAGS: FlagSpec[] = [
  { name: "host", type: "string", default: "0.0.0.0", help: "address to listen on" },
  { name: "port", type: "int", default: 8000, help: "port to listen on (0 picks a free one)" },
  { name: "config", type: "string", help: "YAML file of `flag: value` (vLLM's --config); flags on the command line win" },
  { name: "api-key", type: "strings", env: "VLLM_API_KEY", help: "one or more keys, any of which is accepted: require `Authorization: Bearer <key>` on every route except /health, /ping, /version, /metrics, /docs, /openapi.json" },
  { name: "served-model-name", type: "strings", help: "names clients use in `model` (one or more); default: the --model value" },
  { name: "dtype", type: "string", default: "auto", choices: ["auto", "half", "float16", "bfloat16", "float", "float32"], help: "compute dtype; each backend has one so far (cpu: float32, cuda: bfloat16) and the log says when the choice differs" },
  { name: "max-num-queued-reqs", type: "int", help: "most sequences (prompts × n) waiting beyond the --max-num-seqs that run at once; past it new requests get a 503 (default: no cap)" },
  { name: "max-seqs-per-request", type: "int", default: DEFAULT_MAX_SEQS_PER_REQUEST, help: "most sequences (prompts × n) one request may ask for; more is a 400" },
  { name: "limit-concurrency", type: "int", help: "most HTTP requests in progress at once; past it a 503 (/health, /ping, /metrics, /version, /load exempt); default: 3/4 of the open-file limit" },
  { name: "timeout-keep-alive", type: "int", default: DEFAULT_TIMEOUT_KEEP_ALIVE_S, env: "VLLM_HTTP_TIMEOUT_KEEP_ALIVE", help: "seconds an idle keep-alive connection stays open" },
  { name: "request-body-timeout", type: "float", default: DEFAULT_REQUEST_BODY_TIMEOUT_S, help: "seconds a request body may take to arrive; past it a 408" },
  { name: "tokenizer-pool-size", type: "int", default: DEFAULT_TOKENIZER_POOL_SIZE, help: "worker threads that tokenize and render chat templates off the server's thread; 0 does it on that thread (no template time limit)" },
  { name: "chat-template-render-timeout", type: "float", default: DEFAULT_CHAT_TEMPLATE_RENDER_TIMEOUT_S, help: "seconds one chat template render may take; past it the render is stopped and the request gets a 400" },
  { name: "chat-template", type: "string", help: "chat template to use instead of the tokenizer's: a Jinja file, or the template itself" },
  { name: "enable-auto-tool-choice", type: "bool", default: false, help: "allow tool_choice \"auto\": the model decides whether to call tools, and --tool-call-parser reads the calls from its output" },
  { name: "tool-call-parser", type: "string", choices: TOOL_PARSER_NAMES, help: "how tool calls are read from the model's output under tool_choice \"auto\"" },
  { name: "reasoning-parser", type: "string", choices: REASONING_PARSER_NAMES, help: "split the model's <think>…</think> block from its answer into reasoning / reasoning_content on /v1/chat/completions" },
  { name: "generation-config", type: "string", default: "auto", help: "where request defaults for sampling come from: auto (the model's generation_config.json), vllm (none: vLLM's own defaults), or a folder holding a generation_config.json" },
  { name: "override-generation-config", type: "string", help: "JSON object of generation_config.json fields laid over the --generation-config ones, e.g. '{\"temperature\": 0.5}'" },
  { name: "enable-log-requests", type: "bool", default: false, help: "log each request's prompt size and sampling parameters" },
  { name: "disable-log-stats", type: "bool", default: false, help: "turn off the periodic throughput / queue / KV-cache log line" },
  { name: "log-level", type: "string", default: "info", choices: LOG_LEVELS, help: "least severe level that is logged" },
  { name: "enforce-eager", type: "bool", default: false, help: "accepted for compatibility; no backend captures graphs yet" },
  { name: "tokenizer", type: "string", help: "tokenizer directory; only the model's own is supported yet (the model's path, or omit it)" },
  { name: "tensor-parallel-size", type: "int", default: 1, aliases: ["tp"], help: "GPUs to shard the model over; only 1 is supported yet" },
  { name: "shutdown-timeout", type: "float", default: 30, help: "seconds a SIGTERM/SIGINT waits for in-flight requests before aborting them" },
  ...ENGINE_FLAGS,
  ...HUB_FLAGS,
  ...COMPAT_FLAGS,
  ...SERVER_FEATURE_FLAGS,
];

export const SERVE_USAGE = "vllm serve [MODEL] [options]";

export function serveHelp(): string {
  return formatHelp(SERVE_USAGE,
    "Starts an OpenAI-compatible HTTP server (/v1/chat/completions, /v1/completions, /v1/models, /tokenize, /detokenize, /health, /metrics, /docs). " +
    "MODEL is a model directory or a Hugging Face repo id (ORG/NAME: read from the HF cache, else downloaded into it), also --model; without one it serves the built-in demo model, whose random weights produce noise.",
    SERVE_FLAGS);
}

export interface ServeArgs {
  host: string;
  port: number;
  logLevel: LogLevel;
  logStats: boolean;
  shutdownTimeoutMs: number;
  dtype: string;
  config: Omit<ServerConfig, "servedModelNames" | "maxLogprobs">;
  servedModelNames: string[] | null;
  /** The --chat-template file, for startup errors; null for inline text or none. */
  chatTemplatePath: string | null;
}

/**
 * Starts the server. Flags are checked synchronously, so their errors reach the caller; loading (after a hub
 * download, if one is needed), the chat template check and the listening socket follow, and their errors are
 * reported here. The returned promise resolves to the exit code after a signal's graceful stop.
 */
export function runServe(argv: string[]): number | Promise<number> {
  const parsed = parseServeFlags(argv);
  if (parsed === "help") { console.log(serveHelp()); return 0; }
  const { values, serve, args, warnings } = parsed;
  const log = new Logger(serve.logLevel);
  for (const w of warnings) log.warning(w);
  return withResolvedModel("serve", values, (line) => log.info(line), (model) => {
    log.info(`vllm-bun ${VERSION}: loading ${model.servedName}${model.dir === model.servedName ? "" : ` from ${model.dir}`}`);
    return startServe(serve, { ...args, model: model.dir }, model.servedName, log).catch(reportStartupError);
  });
}

/**
 * The serve command line (with --config expanded) checked as startup checks it, without loading anything:
 * ArgError for a bad or refused flag, else the parsed values and one warning line per no-op flag given.
 */
export function parseServeFlags(argv: readonly string[]): "help" | { values: Record<string, unknown>; serve: ServeArgs; args: EngineArgs; warnings: string[] } {
  const { values, positionals, help } = parseArgs(expandConfigFile(argv, SERVE_FLAGS), SERVE_FLAGS);
  if (help) return "help";
  if (positionals.length > 1) throw new ArgError(`unrecognized arguments: ${positionals.slice(1).join(" ")}`);
  if (positionals.length === 1) values["model"] = positionals[0];
  const warnings = checkCompatFlags(values);
  checkTokenizerFlag(values);
  return { values, serve: serveArgsFrom(values), args: { ...engineArgsFrom(values), usageContext: "server" }, warnings };
}

// Startup now awaits the template check, so its errors arrive as a rejection: reported as main() reports
// thrown ones (the message alone; exit 2 for flag errors, 1 otherwise).
function reportStartupError(e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(e instanceof ArgError ? `vllm serve: error: ${msg}` : `error: ${msg}`);
  if (process.env.VLLM_DEBUG && e instanceof Error) console.error(e.stack);
  return e instanceof ArgError ? 2 : 1;
}

async function startServe(serve: ServeArgs, args: EngineArgs, servedName: string, log: Logger): Promise<number> {
  // The port first: "address in use" must not wait for the weights, and probes get a 503 while loading.
  const listener = bindListener({ host: serve.host, port: serve.port, keepAliveS: serve.config.timeoutKeepAlive ?? DEFAULT_TIMEOUT_KEEP_ALIVE_S, maxBodyBytes: serve.config.maxBodyBytes });
  try {
    return await serveOn(listener, serve, args, servedName, log);
  } catch (e) {
    listener.stop(true);
    throw e;
  }
}

async function serveOn(listener: ReturnType<typeof bindListener>, serve: ServeArgs, args: EngineArgs, servedName: string, log: Logger): Promise<number> {
  const loaded = createEngine(args, (line) => log.info(line));
  // Each backend has one compute dtype so far (cpu: float32, cuda: bfloat16); say so when asked for another.
  const computes: string[] = { f32: ["float", "float32"], bf16: ["bfloat16"], f16: ["half", "float16"], i32: [] }[loaded.backend.activationDtype];
  if (serve.dtype !== "auto" && !computes.includes(serve.dtype))
    log.warning(`--dtype ${serve.dtype}: the ${loaded.backend.name} backend computes in ${computes[computes.length - 1]}; weights are converted as needed`);
  const config: ServerConfig = {
    ...serve.config, servedModelNames: serve.servedModelNames ?? [servedName], maxLogprobs: args.maxLogprobs, engineIterationTimeoutMs: iterationTimeoutMs(),
  };
  const state = newServerState(loaded, config, log);
  await checkChatTemplate(state, serve.chatTemplatePath);
  const running = startServer(state, { host: serve.host, port: serve.port, logStats: serve.logStats }, listener);
  log.info(`vllm-bun serving ${state.modelName} on ${running.url} (API docs at ${running.url}/docs)`);
  return new Promise<number>((resolve) => {
    // A dead engine serves nothing: the failed requests get their errors, then the process exits non-zero
    // so an orchestrator restarts it.
    state.llm.onDead((e) => {
      log.error(`the engine died: ${e.message}; exiting after the in-flight responses are sent`);
      running.shutdown(Math.min(serve.shutdownTimeoutMs, 5000)).finally(() => resolve(1));
    });
    const stop = (signal: string) => {
      log.info(`${signal} received: no new requests; draining the ones in flight`);
      running.shutdown(serve.shutdownTimeoutMs).then(() => resolve(0), (e) => { log.error(String(e)); resolve(1); });
    };
    // once: a second signal falls through to the default handler and ends the process at once.
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}

// A flag that cannot serve the loaded model (a reasoning parser without its tags) is a flag error: exit 2.
function newServerState(loaded: ReturnType<typeof createEngine>, config: ServerConfig, log: Logger): ServerState {
  try {
    return new ServerState(loaded, config, log);
  } catch (e) {
    if (e instanceof ReasoningParserError) throw new ArgError(e.message);
    throw e;
  }
}

/** VLLM_ENGINE_ITERATION_TIMEOUT_S (vLLM's name, default 60): how long a busy engine may go without progress. */
function iterationTimeoutMs(): number {
  const raw = process.env.VLLM_ENGINE_ITERATION_TIMEOUT_S;
  if (raw === undefined || raw === "") return DEFAULT_ITERATION_TIMEOUT_MS;
  const s = Number(raw);
  if (!(s > 0)) throw new ArgError(`VLLM_ENGINE_ITERATION_TIMEOUT_S must be a positive number of seconds, got '${raw}'`);
  return s * 1000;
}

function serveArgsFrom(v: Record<string, unknown>): ServeArgs {
  const tp = v["tensor-parallel-size"] as number;
  if (tp !== 1) throw new ArgError(`argument --tensor-parallel-size: ${tp} is not supported yet; tensor parallelism has not landed, use 1`);
  const port = v["port"] as number;
  if (!(port >= 0 && port <= 65535)) throw new ArgError(`argument --port: must be in [0, 65535], got ${port}`);
  const queued = (v["max-num-queued-reqs"] as number | undefined) ?? null;
  if (queued !== null && queued < 1) throw new ArgError(`argument --max-num-queued-reqs: must be at least 1, got ${queued}`);
  const timeout = v["shutdown-timeout"] as number;
  if (!(timeout >= 0)) throw new ArgError(`argument --shutdown-timeout: must be non-negative, got ${timeout}`);
  const apiKeys = (v["api-key"] as string[] | undefined) ?? [];
  if (apiKeys.some((k) => k === "")) throw new ArgError("argument --api-key: must not be empty");
  const limits = limitFlags(v);
  const template = loadChatTemplate((v["chat-template"] as string | undefined) ?? null);
  const names = (v["served-model-name"] as string[] | undefined) ?? null;
  const toolCallParser = (v["tool-call-parser"] as string | undefined) ?? null;
  const enableAutoToolChoice = v["enable-auto-tool-choice"] as boolean;
  if (enableAutoToolChoice && toolCallParser === null)
    throw new ArgError(`argument --enable-auto-tool-choice: requires --tool-call-parser (one of ${TOOL_PARSER_NAMES.join(", ")})`);
  return {
    host: v["host"] as string,
    port,
    logLevel: v["log-level"] as LogLevel,
    logStats: !(v["disable-log-stats"] as boolean),
    shutdownTimeoutMs: timeout * 1000,
    dtype: v["dtype"] as string,
    servedModelNames: names,
    chatTemplatePath: template?.path ?? null,
    config: {
      apiKey: apiKeys[0] ?? null,
      extraApiKeys: apiKeys.slice(1),
      chatTemplate: template?.text ?? null,
      chatTemplateSource: template?.source ?? null,
      ...generationConfigFlags(v),
      maxNumQueuedReqs: queued,
      enableLogRequests: v["enable-log-requests"] as boolean,
      maxBodyBytes: DEFAULT_MAX_BODY_BYTES,
      maxN: DEFAULT_LIMITS.maxN,
      maxStopStrings: DEFAULT_LIMITS.maxStopStrings,
      enableAutoToolChoice,
      toolCallParser,
      reasoningParser: (v["reasoning-parser"] as string | undefined) ?? null,
      ...limits,
      ...serverFeatureConfig(v),
    },
  };
}

function generationConfigFlags(v: Record<string, unknown>): Pick<ServerConfig, "generationConfig" | "overrideGenerationConfig"> {
  const source = v["generation-config"] as string;
  const generationConfig = source === "auto" || source === "vllm" ? source : generationConfigFolder(source);
  const raw = v["override-generation-config"] as string | undefined;
  if (raw === undefined) return { generationConfig, overrideGenerationConfig: null };
  let json: unknown;
  try { json = JSON.parse(raw); } catch (e) { throw new ArgError(`argument --override-generation-config: not valid JSON: ${(e as Error).message}`); }
  try {
    const override = parseGenerationConfigOverride(json, "--override-generation-config");
    return { generationConfig, overrideGenerationConfig: override };
  } catch (e) {
    if (e instanceof ModelLoadError) throw new ArgError(`argument ${e.message}`);
    throw e;
  }
}

// A folder other than the model's: its generation_config.json gives the defaults (token ids stay the model's).
function generationConfigFolder(dir: string): GenerationConfig {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new ArgError(`argument --generation-config: '${dir}' is not auto, vllm or a folder`);
  try {
    const g = loadGenerationConfig(dir, null);
    if (g === null) throw new ArgError(`argument --generation-config: ${join(dir, GENERATION_CONFIG_FILE)}: not found`);
    return g;
  } catch (e) {
    if (e instanceof ModelLoadError) throw new ArgError(`argument --generation-config: ${e.message}`);
    throw e;
  }
}

type LimitFlags = Pick<ServerConfig, "maxSeqsPerRequest" | "limitConcurrency" | "timeoutKeepAlive" | "requestBodyTimeout" | "tokenizerPoolSize" | "chatTemplateRenderTimeout">;

function limitFlags(v: Record<string, unknown>): LimitFlags {
  const num = (name: string, ok: (x: number) => boolean, range: string): number => {
    const x = v[name] as number;
    if (!ok(x)) throw new ArgError(`argument --${name}: must be ${range}, got ${x}`);
    return x;
  };
  const concurrency = v["limit-concurrency"] as number | undefined;
  if (concurrency !== undefined && !(concurrency >= 1)) throw new ArgError(`argument --limit-concurrency: must be at least 1, got ${concurrency}`);
  return {
    maxSeqsPerRequest: num("max-seqs-per-request", (x) => x >= 1, "at least 1"),
    ...(concurrency === undefined ? {} : { limitConcurrency: concurrency }),
    timeoutKeepAlive: num("timeout-keep-alive", (x) => x >= 1 && x <= MAX_TIMEOUT_S, `in [1, ${MAX_TIMEOUT_S}]`),
    requestBodyTimeout: num("request-body-timeout", (x) => x > 0, "positive"),
    tokenizerPoolSize: num("tokenizer-pool-size", (x) => x >= 0 && x <= 64, "in [0, 64]"),
    chatTemplateRenderTimeout: num("chat-template-render-timeout", (x) => x > 0, "positive"),
  };
}

/** A file path is read (a regular file under the size cap); anything that looks like Jinja is the template itself. */
function loadChatTemplate(value: string | null): { text: string; source: string; path: string | null } | null {
  if (value === null) return null;
  if (existsSync(value)) {
    try {
      return { text: readModelFile(value)!, source: basename(value), path: value };
    } catch (e) {
      if (e instanceof ModelLoadError) throw new ArgError(`argument --chat-template: ${e.message}`);
      throw e;
    }
  }
  if (/\{\{|\{%/.test(value)) return { text: value, source: "--chat-template", path: null };
  throw new ArgError(`argument --chat-template: '${value}' is neither a readable file nor a Jinja template`);
}

/**
 * A template that cannot render a one-message conversation, or takes longer than the render limit to,
 * fails startup naming its file, not the first request. It runs in the tokenizer pool, under that limit.
 */
async function checkChatTemplate(state: ServerState, overridePath: string | null): Promise<void> {
  const override = state.config.chatTemplate !== null;
  if (!override && state.tokenizer.chatTemplate === null) return;
  try {
    await state.tokenizers.applyChatTemplate([{ role: "user", content: "hello" }], { addGenerationPrompt: true }, false);
  } catch (e) {
    state.tokenizers.close();
    const why = `the chat template fails on a one-message conversation: ${(e as Error).message}`;
    if (override) throw new ArgError(`argument --chat-template: ${overridePath === null ? "" : `${overridePath}: `}${why}`);
    throw new Error(`${state.tokenizer.chatTemplatePath ?? state.tokenizer.source}: ${why}`);
  }
}
