/**
 * StructuredOutputManager: one per engine. It compiles each request's constraint (checked first in the
 * compile worker under a time limit, then compiled here and cached), gives each request its own matcher,
 * and fills the token bitmasks of a step's constrained requests. Nothing loads until the first constrained
 * request, and a batch without one costs a single counter check.
 */
import type { StructuredOutputsParams } from "../engine/sampling_params";
import type { SchedulerOutput } from "../engine/outputs";
import type { GrammarVerifier } from "../engine/scheduler";
import type { Tokenizer } from "../tokenizer/tokenizer";
import { CompileGuard } from "./compile_guard";
import { StructuredOutputError } from "./errors";
import { GrammarCache } from "./grammar_cache";
import { DEFAULT_MAX_JSON_WHITESPACE, type GrammarSpec, grammarKey, grammarSpecFromParams } from "./grammar_spec";
import { RequestGrammar } from "./request_grammar";
import { type TokenizerInfoSpec, tokenizerInfoSpec, tokenizerInfoSpecFromDir } from "./tokenizer_info";
import { type CompiledGrammar, XgrammarCompiler } from "./xgrammar";

export interface StructuredOutputConfig {
  modelDir: string;
  /** The tokenizer.json contents when the model has no such file (GGUF); else it is read from modelDir. */
  tokenizerJson?: Record<string, unknown>;
  tokenizer: Tokenizer;
  /** The logits width (config.json's vocab_size). */
  vocabSize: number;
  /** Tokens that end a request; the grammar allows them exactly where its output is complete. */
  stopTokenIds: readonly number[];
  maxNumSeqs: number;
  /** Whitespace characters allowed between JSON elements (--structured-outputs-max-whitespace); null: unbounded. */
  maxJsonWhitespace?: number | null;
  compileTimeoutMs?: number;
  cacheMaxEntries?: number;
  cacheMaxBytes?: number;
}

export const DEFAULT_COMPILE_TIMEOUT_MS = 10_000;
const DEFAULT_CACHE_MAX_ENTRIES = 256;
const DEFAULT_CACHE_MAX_BYTES = 512 * 1024 * 1024;
// A prepared grammar is kept from eviction until its requests are added, or for this long at most.
const PIN_MS = 60_000;
const MAX_REMEMBERED_FAILURES = 256;
const MASK_TIME_SAMPLES = 1 << 16;

export class StructuredOutputManager implements GrammarVerifier {
  private readonly grammars = new Map<string, RequestGrammar>();
  private tokenizerInfo: TokenizerInfoSpec | null = null;
  private compilerPromise: Promise<XgrammarCompiler> | null = null;
  private compiler: XgrammarCompiler | null = null;
  private readonly guard: CompileGuard;
  private readonly cache: GrammarCache<CompiledGrammar>;
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly pins = new Map<string, { count: number; until: number }>();
  private readonly failures = new Map<string, string>(); // key → message of a deterministic compile error
  private numActive = 0;
  private bitmask: Int32Array | null = null;
  private readonly maskTimesUs = new Float64Array(MASK_TIME_SAMPLES);
  private numMaskFills = 0;

  constructor(readonly config: StructuredOutputConfig) {
    this.guard = new CompileGuard(() => this.getTokenizerInfo(), config.compileTimeoutMs ?? DEFAULT_COMPILE_TIMEOUT_MS);
    this.cache = new GrammarCache<CompiledGrammar>({
      maxEntries: config.cacheMaxEntries ?? DEFAULT_CACHE_MAX_ENTRIES, maxBytes: config.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
    }, (key) => (this.pins.get(key)?.until ?? 0) > performance.now());
  }

  /**
   * Compiles the grammar of `params` unless it is cached. Rejects with StructuredOutputError when the
   * constraint is invalid, unsupported or too slow to compile.
   */
  async prepare(params: StructuredOutputsParams): Promise<void> {
    const spec = this.spec(params);
    const key = grammarKey(spec);
    const failed = this.failures.get(key);
    if (failed !== undefined) throw new StructuredOutputError(failed);
    if (!this.cache.has(key)) {
      let pending = this.inflight.get(key);
      if (pending === undefined) {
        pending = this.compile(spec, key).finally(() => this.inflight.delete(key));
        this.inflight.set(key, pending);
      }
      await pending;
    }
    const pin = this.pins.get(key);
    this.pins.set(key, { count: (pin?.count ?? 0) + 1, until: performance.now() + PIN_MS });
  }

  /** Gives the request its own matcher over its prepared grammar; throws StructuredOutputError when it was not prepared. */
  addRequest(reqId: string, params: StructuredOutputsParams): void {
    if (this.grammars.has(reqId)) throw new Error(`structured outputs: request ${reqId} already has a grammar`);
    this.grammars.set(reqId, this.createRequestGrammar(params));
  }

  accept(reqId: string, tokenId: number): "ok" | "terminated" | "rejected" {
    const g = this.grammars.get(reqId);
    if (g === undefined) return "ok";
    if (!g.acceptToken(tokenId)) return "rejected";
    return g.isTerminated ? "terminated" : "ok";
  }

  removeRequest(reqId: string): void {
    this.grammars.get(reqId)?.dispose();
    this.grammars.delete(reqId);
  }

  /** A new matcher for a request whose params were prepared; throws StructuredOutputError otherwise. */
  private createRequestGrammar(params: StructuredOutputsParams): RequestGrammar {
    const key = grammarKey(this.spec(params));
    const grammar = this.cache.get(key);
    if (grammar === undefined || this.compiler === null)
      throw new StructuredOutputError("the structured output grammar is not compiled: await prepareStructuredOutput(params) before addRequest");
    this.unpin(key);
    this.numActive++;
    return new RequestGrammar(this.compiler.createMatcher(grammar), () => this.numActive--);
  }

  /**
   * How `text` stands against the prepared grammar of `params`: "complete" (a stop token may follow),
   * "prefix" (it can still be completed) or "rejected". For checking outputs, not for serving.
   */
  matchText(params: StructuredOutputsParams, text: string): "complete" | "prefix" | "rejected" {
    const grammar = this.cache.get(grammarKey(this.spec(params)));
    if (grammar === undefined || this.compiler === null) throw new StructuredOutputError("matchText: the grammar is not prepared");
    const m = this.compiler.createMatcher(grammar);
    try {
      if (!m.acceptString(text)) return "rejected";
      return this.config.stopTokenIds.some((id) => m.acceptToken(id)) ? "complete" : "prefix";
    } finally {
      m.dispose();
    }
  }

  /**
   * Fills the bitmask of every constrained request that samples this step. Null when there is none, so an
   * unconstrained batch skips masking entirely. The rows are valid until the next call.
   */
  grammarBitmask(so: SchedulerOutput): Map<string, Int32Array> | null {
    if (this.grammars.size === 0) return null;
    let out: Map<string, Int32Array> | null = null;
    for (const s of so.scheduled) {
      const g = this.grammars.get(s.reqId);
      if (g === undefined || !s.samples || g.isTerminated) continue;
      const row = this.bitmaskRow(out?.size ?? 0, g.bitmaskWords);
      const t0 = performance.now();
      g.fillBitmask(row);
      this.maskTimesUs[this.numMaskFills++ % MASK_TIME_SAMPLES] = (performance.now() - t0) * 1000;
      (out ??= new Map()).set(s.reqId, row);
    }
    return out;
  }

  /** Mask fill times in µs over the most recent fills (up to 65536). */
  maskTimeStats(): { count: number; p50Us: number; p99Us: number; meanUs: number } {
    const n = Math.min(this.numMaskFills, MASK_TIME_SAMPLES);
    if (n === 0) return { count: 0, p50Us: 0, p99Us: 0, meanUs: 0 };
    const sorted = this.maskTimesUs.slice(0, n).sort();
    const mean = sorted.reduce((a, b) => a + b, 0) / n;
    return { count: this.numMaskFills, p50Us: sorted[Math.floor(0.5 * (n - 1))], p99Us: sorted[Math.floor(0.99 * (n - 1))], meanUs: mean };
  }

  resetMaskTimeStats(): void {
    this.numMaskFills = 0;
  }

  get numCachedGrammars(): number {
    return this.cache.size;
  }

  get activeRequests(): number {
    return this.numActive;
  }

  /** Stops the compile worker and frees cached grammars and the compiler (live matchers keep working). */
  close(): void {
    this.guard.close();
    this.cache.clear();
    this.compiler?.dispose();
    this.compiler = null;
    this.compilerPromise = null;
  }

  private async compile(spec: GrammarSpec, key: string): Promise<void> {
    const compilerPromise = this.loadCompiler();
    try {
      await this.guard.check(spec);
    } catch (e) {
      if (e instanceof StructuredOutputError && !e.timedOut) this.rememberFailure(key, e.message);
      throw e;
    }
    const compiler = await compilerPromise;
    if (this.cache.has(key)) return;
    this.dropExpiredPins();
    this.cache.set(key, await compiler.compile(spec));
  }

  private loadCompiler(): Promise<XgrammarCompiler> {
    this.compilerPromise ??= XgrammarCompiler.create(this.getTokenizerInfo()).then((c) => (this.compiler = c));
    return this.compilerPromise;
  }

  private getTokenizerInfo(): TokenizerInfoSpec {
    const c = this.config;
    this.tokenizerInfo ??= c.tokenizerJson
      ? tokenizerInfoSpec(c.tokenizerJson as Parameters<typeof tokenizerInfoSpec>[0], c.tokenizer, c.vocabSize, c.stopTokenIds)
      : tokenizerInfoSpecFromDir(c.modelDir, c.tokenizer, c.vocabSize, c.stopTokenIds);
    return this.tokenizerInfo;
  }

  private unpin(key: string): void {
    const pin = this.pins.get(key);
    if (pin !== undefined && --pin.count <= 0) this.pins.delete(key);
  }

  // Pins expire, so a prepared request that is never added cannot hold its grammar forever.
  private dropExpiredPins(): void {
    const now = performance.now();
    for (const [key, pin] of this.pins) if (pin.until < now || !this.cache.has(key)) this.pins.delete(key);
  }

  private rememberFailure(key: string, message: string): void {
    if (this.failures.size >= MAX_REMEMBERED_FAILURES) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, message);
  }

  private spec(params: StructuredOutputsParams): GrammarSpec {
    return grammarSpecFromParams(params, this.config.maxJsonWhitespace === undefined ? DEFAULT_MAX_JSON_WHITESPACE : this.config.maxJsonWhitespace);
  }

  private bitmaskRow(i: number, words: number): Int32Array {
    const rows = this.config.maxNumSeqs;
    if (this.bitmask === null || this.bitmask.length !== rows * words) this.bitmask = new Int32Array(rows * words);
    if (i >= rows) throw new Error(`grammarBitmask: more than max_num_seqs=${rows} constrained requests in one step`);
    return this.bitmask.subarray(i * words, (i + 1) * words);
  }
}
