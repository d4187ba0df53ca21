/** ServerState: what every endpoint shares (engine, tokenizer, served names, limits, metrics, drain flag). */
import { randomUUID } from "node:crypto";
import { AsyncLLM } from "../engine/async_llm";
import type { LoadedEngine } from "../entrypoints/from_engine_args";
import type { SamplingLimits } from "../engine/sampling_params";
import { type GenerationConfig, type GenerationConfigOverride, SAMPLING_DEFAULT_FIELDS } from "../model_loader/generation_config";
import type { ModelConfig } from "../model_loader/model_config";
import type { Tokenizer } from "../tokenizer/tokenizer";
import { TokenizerPool } from "../tokenizer/tokenizer_pool";
import type { ReasoningParser } from "../reasoning/reasoning_parser";
import { createReasoningParser } from "../reasoning/registry";
import { getToolParser } from "../tool_parsers/registry";
import type { ToolParser } from "../tool_parsers/tool_parser";
import { Admission, type Reservation } from "./admission";
import { ApiKeyChecker } from "./auth";
import type { CorsConfig } from "./cors";
import { DEFAULT_REQUEST_BODY_TIMEOUT_S } from "./connection_limits";
import { modelNotFound, ServiceUnavailableError } from "./errors";
import type { Logger } from "./logger";
import type { RequestScope } from "./request_scope";
import { ServerMetrics } from "./metrics";
import { readJsonBody } from "./request_body";
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_SEQS_PER_REQUEST, maxPromptChars } from "./request_limits";

export { DEFAULT_MAX_BODY_BYTES };

/** Serve-time settings, parsed once from the CLI flags. */
export interface ServerConfig {
  /** Names clients may use in `model`; the first one labels metrics and responses without a model. */
  servedModelNames: string[];
  apiKey: string | null;
  /** More keys accepted beside apiKey (several --api-key values). */
  extraApiKeys?: readonly string[];
  /** Overrides the tokenizer's chat template (--chat-template). */
  chatTemplate: string | null;
  /**
   * Where request defaults for sampling come from (--generation-config): "auto" the model's
   * generation_config.json, "vllm" none, or one read from another folder.
   */
  generationConfig: "auto" | "vllm" | GenerationConfig;
  /** --override-generation-config: fields laid over those defaults (also under "vllm"). */
  overrideGenerationConfig?: GenerationConfigOverride | null;
  /** Past this many sequences waiting beyond --max-num-seqs new requests get a 503; null = no cap. */
  maxNumQueuedReqs: number | null;
  maxLogprobs: number;
  enableLogRequests: boolean;
  maxBodyBytes: number;
  maxN: number;
  maxStopStrings: number;
  /** tool_choice "auto" is allowed (--enable-auto-tool-choice); it also needs a tool call parser. */
  enableAutoToolChoice?: boolean;
  /** --tool-call-parser: how "auto" output is read as tool calls (a name in TOOL_PARSERS). */
  toolCallParser?: string | null;
  /** --reasoning-parser: how chat output's think block is split off (a name in the reasoning registry); null: not at all. */
  reasoningParser?: string | null;
  /** Where --chat-template came from (its file name, or "--chat-template" for inline text), for errors. */
  chatTemplateSource?: string | null;
  /** --tokenizer-pool-size: tokenizer worker threads (0: tokenize on the server thread). Default 2. */
  tokenizerPoolSize?: number;
  /** --chat-template-render-timeout in seconds. Default 5. */
  chatTemplateRenderTimeout?: number;
  /** --max-seqs-per-request: prompts × n of one request. */
  maxSeqsPerRequest?: number;
  /** --timeout-keep-alive in seconds. */
  timeoutKeepAlive?: number;
  /** --request-body-timeout in seconds. */
  requestBodyTimeout?: number;
  /** --limit-concurrency: HTTP requests in progress at once (probes exempt); null = no cap. */
  limitConcurrency?: number | null;
  /** --enable-tokenizer-info-endpoint: serve GET /tokenizer_info. */
  enableTokenizerInfoEndpoint?: boolean;
  /** --allowed-origins, --allowed-methods, --allowed-headers, --allow-credentials; default vLLM's (anything, no credentials). */
  cors?: CorsConfig;
  /** --root-path: the prefix a proxy strips before requests reach the server; the OpenAPI document names it. */
  rootPath?: string;
  /** --max-log-len: most prompt characters and token ids a request's debug log line shows; null = all. */
  maxLogLen?: number | null;
  /** VLLM_ENGINE_ITERATION_TIMEOUT_S in ms: with work pending and no progress this long, /health answers 503. */
  engineIterationTimeoutMs?: number;
}

export const DEFAULT_TOKENIZER_POOL_SIZE = 2;
export const DEFAULT_CHAT_TEMPLATE_RENDER_TIMEOUT_S = 5;

/** Sampling defaults a request gets for the fields it leaves unset. */
export interface SamplingDefaults {
  temperature?: number;
  topP?: number;
  topK?: number;
  minP?: number;
  repetitionPenalty?: number;
  maxTokens?: number;
}

export class ServerState {
  readonly llm: AsyncLLM;
  readonly tokenizer: Tokenizer;
  readonly modelConfig: ModelConfig;
  readonly maxModelLen: number;
  readonly modelPath: string;
  readonly metrics: ServerMetrics;
  readonly auth: ApiKeyChecker | null;
  readonly limits: SamplingLimits;
  readonly defaults: SamplingDefaults;
  /** The parser for tool_choice "auto"; null unless both --enable-auto-tool-choice and --tool-call-parser are set. */
  readonly autoToolParser: ToolParser | null;
  /** --reasoning-parser, built against the served tokenizer; null without the flag. */
  readonly reasoningParser: ReasoningParser | null;
  readonly startTime = Math.floor(Date.now() / 1000);
  /** Set on SIGTERM: new requests get a 503 while in-flight ones finish. */
  draining = false;
  /** Generation requests being served right now. */
  readonly active = new Set<RequestScope>();
  /** Tokenization and chat templates, off the server's thread. */
  readonly tokenizers: TokenizerPool;
  readonly admission: Admission;
  readonly maxSeqsPerRequest: number;
  private readonly tokenStrings = new Map<number, string>();
  private seq = 0;

  constructor(loaded: LoadedEngine, readonly config: ServerConfig, readonly log: Logger) {
    if (config.servedModelNames.length === 0) throw new Error("at least one served model name is needed");
    this.llm = new AsyncLLM(loaded.engine, config.engineIterationTimeoutMs);
    this.tokenizer = loaded.tokenizer;
    this.modelConfig = loaded.modelConfig;
    this.maxModelLen = loaded.maxModelLen;
    this.modelPath = loaded.modelDir;
    this.metrics = new ServerMetrics(loaded.engine, config.servedModelNames[0], loaded.maxModelLen, { blockSize: loaded.config.cache.blockSize, numBlocks: loaded.numBlocks });
    this.auth = config.apiKey === null ? null : new ApiKeyChecker([config.apiKey, ...(config.extraApiKeys ?? [])]);
    this.limits = {
      maxLogprobs: config.maxLogprobs, maxN: config.maxN, maxStopStrings: config.maxStopStrings, vocabSize: loaded.modelConfig.vocabSize,
    };
    this.defaults = requestDefaults(config, loaded.generationConfig);
    if (Object.keys(this.defaults).length > 0)
      log.info(`default sampling parameters from ${defaultsSource(config)} (--generation-config vllm ignores the model's): ${JSON.stringify(this.defaults)}`);
    for (const key of config.overrideGenerationConfig?.ignoredKeys ?? [])
      log.warning(`--override-generation-config: '${key}' has no effect; only ${SAMPLING_DEFAULT_FIELDS.join(", ")} become request defaults`);
    const parser = config.toolCallParser ? getToolParser(config.toolCallParser) : null;
    this.autoToolParser = config.enableAutoToolChoice ? parser : null;
    this.reasoningParser = config.reasoningParser ? createReasoningParser(config.reasoningParser, loaded.tokenizer) : null;
    this.admission = new Admission(loaded.engine, loaded.config.scheduler.maxNumSeqs, config.maxNumQueuedReqs);
    this.maxSeqsPerRequest = config.maxSeqsPerRequest ?? DEFAULT_MAX_SEQS_PER_REQUEST;
    this.tokenizers = new TokenizerPool(loaded.tokenizer, {
      size: config.tokenizerPoolSize ?? DEFAULT_TOKENIZER_POOL_SIZE,
      renderTimeoutMs: (config.chatTemplateRenderTimeout ?? DEFAULT_CHAT_TEMPLATE_RENDER_TIMEOUT_S) * 1000,
      maxPromptChars: maxPromptChars(loaded.maxModelLen),
      chatTemplate: config.chatTemplate === null ? null : { text: config.chatTemplate, source: config.chatTemplateSource ?? "--chat-template" },
      onWarning: (m) => log.warning(m),
    });
  }

  /** The request's JSON body under --request-body-timeout and the body size cap. */
  readBody(request: Request): Promise<unknown> {
    return readJsonBody(request, this.config.maxBodyBytes, (this.config.requestBodyTimeout ?? DEFAULT_REQUEST_BODY_TIMEOUT_S) * 1000);
  }

  /** Requests in flight (GET /load, and what a graceful shutdown waits for). */
  get inFlight(): number {
    return this.active.size;
  }

  /** Aborts every request in flight (a shutdown that ran out of time). */
  abortAll(): void {
    for (const scope of this.active) scope.abort();
  }

  get modelName(): string {
    return this.config.servedModelNames[0];
  }

  /** The served name a request's `model` resolves to; throws a 404 for a name this server does not serve. */
  resolveModel(model: string | null | undefined): string {
    if (model === null || model === undefined || model === "") return this.modelName;
    if (!this.config.servedModelNames.includes(model)) throw modelNotFound(model);
    return model;
  }

  /** Throws a 503 when the engine cannot take `numSeqs` more sequences now (dead, draining, or queue full). */
  checkAdmission(numSeqs: number): void {
    this.checkAlive();
    this.admission.check(numSeqs);
  }

  /** Like checkAdmission, and counts the sequences as admitted until the reservation is released. */
  admit(numSeqs: number): Reservation {
    this.checkAlive();
    return this.admission.reserve(numSeqs);
  }

  private checkAlive(): void {
    if (this.llm.isDead) throw new ServiceUnavailableError(`the engine is dead: ${this.llm.deadError!.message}`);
    if (this.draining) throw new ServiceUnavailableError("the server is shutting down");
  }

  /** A fresh engine request id; the client's id is kept as a prefix but never has to be unique. */
  engineRequestId(responseId: string): string {
    return `${responseId}-${(this.seq++).toString(36)}`;
  }

  /** One token as vLLM shows it in logprobs: the text that token alone decodes to. */
  tokenString(id: number): string {
    let s = this.tokenStrings.get(id);
    if (s === undefined) {
      s = this.tokenizer.decode([id]);
      this.tokenStrings.set(id, s);
    }
    return s;
  }
}

/** A random request id (hex, as vLLM makes them). */
export function randomRequestId(): string {
  return randomUUID().replaceAll("-", "");
}

// vLLM's rule: the chosen file's sampling fields, then the override's on top (even under "vllm").
function requestDefaults(config: ServerConfig, modelFile: GenerationConfig | null): SamplingDefaults {
  const g = config.generationConfig;
  const file = g === "auto" ? modelFile : g === "vllm" ? null : g;
  return { ...samplingDefaults(file), ...samplingDefaults(config.overrideGenerationConfig?.config ?? null) };
}

function defaultsSource(config: ServerConfig): string {
  const g = config.generationConfig;
  const file = g === "auto" ? "the model's generation_config.json" : g === "vllm" ? null : "--generation-config";
  const over = config.overrideGenerationConfig ? "--override-generation-config" : null;
  return [file, over].filter((x) => x !== null).join(" and ");
}

type SamplingFields = Partial<Pick<GenerationConfig, "temperature" | "topP" | "topK" | "minP" | "repetitionPenalty" | "maxNewTokens">>;

function samplingDefaults(g: SamplingFields | null): SamplingDefaults {
  if (g === null) return {};
  const d: SamplingDefaults = {};
  if (g.temperature != null) d.temperature = g.temperature;
  if (g.topP != null) d.topP = g.topP;
  if (g.topK != null) d.topK = g.topK;
  if (g.minP != null) d.minP = g.minP;
  if (g.repetitionPenalty != null) d.repetitionPenalty = g.repetitionPenalty;
  if (g.maxNewTokens != null) d.maxTokens = g.maxNewTokens;
  return d;
}
