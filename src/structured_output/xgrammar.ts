/**
 * The one module that loads xgrammar's WASM build and wraps it. Compilation goes through the package's async
 * API; the per-token calls (new matcher, accept, fill mask) are synchronous calls on the underlying handles,
 * because the engine step is synchronous. The mask is copied straight out of WASM memory (no per-call
 * promise, no intermediate array), which is what keeps a mask fill in the low microseconds.
 *
 * xgrammar reports errors by printing `[FATAL] file:line: message` and aborting the module. An aborted module
 * is not trusted again, so anything that can fail is compiled first in the disposable compile worker.
 */
import * as xg from "@mlc-ai/web-xgrammar";
import type { GrammarSpec } from "./grammar_spec";
import { boundedJsonEbnf, boundedJsonSchemaEbnf } from "./json_whitespace";
import type { TokenizerInfoSpec } from "./tokenizer_info";

/** A compiled grammar; several matchers may share it, and disposing it leaves live matchers working. */
export class CompiledGrammar {
  /** @param estimatedBytes a size estimate for cache accounting (the WASM build does not report the real size) */
  constructor(readonly inner: xg.CompiledGrammar, readonly estimatedBytes: number) {}

  dispose(): void {
    this.inner.dispose();
  }
}

interface Runtime {
  memory: WebAssembly.Memory | null;
  matcherClass: new (compiled: unknown, stopTokens: undefined, terminateWithoutStop: boolean, maxRollback: number) => MatcherHandle;
}

interface MatcherHandle {
  AcceptToken(id: number, verbose: boolean): boolean;
  AcceptString(s: string, verbose: boolean): boolean;
  IsTerminated(): boolean;
  GetNextTokenBitmask(vocabSize: number): VectorHandle;
  delete(): void;
}

interface VectorHandle {
  size(): number;
  get(i: number): number;
  delete(): void;
  $$?: { ptr: number };
}

const printed = new Set<string>();
// Each distinct line once: the same warning repeats for every state of a grammar.
let logSink: (line: string) => void = (line) => {
  if (printed.has(line) || printed.size > 1000) return;
  printed.add(line);
  process.stderr.write(`xgrammar: ${line}\n`);
};
let runtime: Promise<Runtime> | null = null;

/** Routes xgrammar's log lines (warnings, and the message of a fatal error); the compile worker collects them. */
export function setXgrammarLogSink(sink: (line: string) => void): void {
  logSink = sink;
}

function loadRuntime(): Promise<Runtime> {
  runtime ??= initRuntime();
  return runtime;
}

// The module binds console.log (its warnings) and console.error (its fatal errors) and picks its memory when it
// first initializes, so these are hooked for that moment only: its lines then go through `logSink` (never to
// stdout, which may carry a command's output), and its memory is known for zero-copy mask reads.
async function initRuntime(): Promise<Runtime> {
  const realLog = console.log, realError = console.error;
  const realInstantiate = WebAssembly.instantiate;
  let memory: WebAssembly.Memory | null = null;
  console.log = console.error = (...args: unknown[]) => logSink(args.map(String).join(" "));
  (WebAssembly as { instantiate: unknown }).instantiate = async (...args: unknown[]) => {
    const result = await (realInstantiate as (...a: unknown[]) => Promise<unknown>)(...args);
    const instance = (result as { instance?: WebAssembly.Instance }).instance ?? (result as WebAssembly.Instance);
    memory ??= Object.values(instance.exports ?? {}).find((e) => e instanceof WebAssembly.Memory) as WebAssembly.Memory ?? null;
    return result;
  };
  try {
    const info = await xg.TokenizerInfo.createTokenizerInfo(["{", "}", ""], "raw", false, 3, [2]);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    const compiled = await compiler.compileBuiltinJSONGrammar();
    const probe = await xg.GrammarMatcher.createGrammarMatcher(compiled);
    const handle = (probe as unknown as { handle: MatcherHandle }).handle;
    const rt: Runtime = { memory, matcherClass: handle.constructor as Runtime["matcherClass"] };
    if (!fastMaskWorks(rt, handle)) rt.memory = null;
    probe.dispose(); compiled.dispose(); compiler.dispose(); info.dispose();
    return rt;
  } finally {
    console.log = realLog;
    console.error = realError;
    (WebAssembly as { instantiate: unknown }).instantiate = realInstantiate;
  }
}

// The fast path reads std::vector's [begin, end) straight from WASM memory; check it against the slow
// element-wise read once before trusting it.
function fastMaskWorks(rt: Runtime, matcher: MatcherHandle): boolean {
  if (rt.memory === null) return false;
  const vec = matcher.GetNextTokenBitmask(3);
  try {
    const fast = readVector(rt.memory, vec);
    return fast !== null && fast.length === vec.size() && fast.every((w, i) => w === vec.get(i));
  } finally {
    vec.delete();
  }
}

function readVector(memory: WebAssembly.Memory, vec: VectorHandle): Int32Array | null {
  const ptr = vec.$$?.ptr;
  if (typeof ptr !== "number") return null;
  const [begin, end] = new Int32Array(memory.buffer, ptr, 2);
  return new Int32Array(memory.buffer, begin, (end - begin) >> 2);
}

/** One model's TokenizerInfo plus a compiler over it (xgrammar's own unbounded cache is off; ours is bounded). */
export class XgrammarCompiler {
  private constructor(private readonly rt: Runtime, private readonly info: xg.TokenizerInfo, private readonly compiler: xg.GrammarCompiler, readonly vocabSize: number) {}

  static async create(spec: TokenizerInfoSpec): Promise<XgrammarCompiler> {
    const rt = await loadRuntime();
    const info = await xg.TokenizerInfo.createTokenizerInfo(spec.encodedVocab, spec.vocabType, spec.addPrefixSpace, spec.vocabSize, spec.stopTokenIds);
    const compiler = await xg.GrammarCompiler.createGrammarCompiler(info, false);
    return new XgrammarCompiler(rt, info, compiler, spec.vocabSize);
  }

  /** Compiles `spec`. Only for specs known to compile: a bad one aborts the WASM module. */
  async compile(spec: GrammarSpec): Promise<CompiledGrammar> {
    const compiled = await this.compileRaw(spec);
    const grammar = compiled.grammar();
    const textLength = grammar.toString().length;
    grammar.dispose();
    // Per-state token masks dominate the size and scale with the vocabulary; this over-estimates the sizes
    // measured on a 128k vocabulary (0.1-0.9 kB per grammar character).
    const estimatedBytes = (textLength + 64) * Math.ceil(this.vocabSize / 128);
    return new CompiledGrammar(compiled, estimatedBytes);
  }

  private async compileRaw(spec: GrammarSpec): Promise<xg.CompiledGrammar> {
    const c = this.compiler;
    switch (spec.kind) {
      case "json_schema":
        if (spec.anyWhitespace && spec.maxWhitespace !== null) return c.compileGrammar(await boundedJsonSchemaEbnf(spec.schema, spec.maxWhitespace), "root");
        return c.compileJSONSchema(spec.schema, spec.anyWhitespace, -1, undefined, true);
      case "json_object":
        return spec.maxWhitespace === null ? c.compileBuiltinJSONGrammar() : c.compileGrammar(await boundedJsonEbnf(spec.maxWhitespace), "root");
      case "regex": return c.compileStructuralTag({ type: "structural_tag", format: { type: "regex", pattern: spec.pattern } });
      case "choice": return c.compileStructuralTag({
        type: "structural_tag", format: { type: "or", elements: spec.choices.map((value) => ({ type: "const_string" as const, value })) },
      });
      case "ebnf": return c.compileGrammar(spec.grammar, "root");
    }
  }

  /** A fresh matcher at the grammar's start state (synchronous). */
  createMatcher(grammar: CompiledGrammar): XgrammarMatcher {
    return new XgrammarMatcher(this.rt, new this.rt.matcherClass(grammar.inner.handle, undefined, false, -1), this.vocabSize);
  }

  dispose(): void {
    this.compiler.dispose();
    this.info.dispose();
  }
}

/** One request's position in its grammar. */
export class XgrammarMatcher {
  /** Int32 words in a token bitmask: bit i of word w allows token 32·w + i. */
  readonly bitmaskWords: number;

  constructor(private readonly rt: Runtime, private readonly handle: MatcherHandle, private readonly vocabSize: number) {
    this.bitmaskWords = Math.ceil(vocabSize / 32);
  }

  /** False when the grammar rejects the token (the state is then unchanged). */
  acceptToken(tokenId: number): boolean {
    return this.handle.AcceptToken(tokenId, false);
  }

  /** Feeds text directly, bypassing tokens (used to check outputs in tests). */
  acceptString(text: string): boolean {
    return this.handle.AcceptString(text, false);
  }

  /** True once a stop token has been accepted at a point where the grammar is complete. */
  isTerminated(): boolean {
    return this.handle.IsTerminated();
  }

  /** Writes the allowed-token bitmask of the current state into `out` (bitmaskWords words). */
  fillNextTokenBitmask(out: Int32Array): void {
    if (out.length !== this.bitmaskWords) throw new Error(`bitmask row has ${out.length} words, expected ${this.bitmaskWords}`);
    if (this.handle.IsTerminated()) throw new Error("fillNextTokenBitmask on a terminated matcher");
    const vec = this.handle.GetNextTokenBitmask(this.vocabSize);
    try {
      const view = this.rt.memory ? readVector(this.rt.memory, vec) : null;
      if (view !== null && view.length === out.length) out.set(view);
      else for (let i = 0; i < out.length; i++) out[i] = vec.get(i);
    } finally {
      vec.delete();
    }
  }

  dispose(): void {
    this.handle.delete();
  }
}
