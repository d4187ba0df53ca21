/**
 * The compile worker: compiles grammars in its own WASM instance, so a schema, regex or grammar that is
 * invalid (which aborts the instance) or too slow (the worker is terminated) never touches the engine's
 * instance. It only reports success and the time taken; the engine then compiles the same spec itself.
 */
import type { GrammarSpec } from "./grammar_spec";
import type { TokenizerInfoSpec } from "./tokenizer_info";
import { setXgrammarLogSink, XgrammarCompiler } from "./xgrammar";

export type CompileWorkerRequest =
  | { type: "init"; tokenizerInfo: TokenizerInfoSpec }
  | { type: "compile"; id: number; spec: GrammarSpec };

export type CompileWorkerReply =
  | { type: "ready" }
  | { type: "compiled"; id: number; ms: number }
  | { type: "failed"; id: number; message: string };

declare const self: Worker;

const logLines: string[] = [];
setXgrammarLogSink((line) => logLines.push(line));
let compiler: Promise<XgrammarCompiler> | null = null;

self.onmessage = async (ev: MessageEvent<CompileWorkerRequest>) => {
  const msg = ev.data;
  if (msg.type === "init") {
    compiler = XgrammarCompiler.create(msg.tokenizerInfo);
    await compiler.then(() => reply({ type: "ready" }), (e) => reply({ type: "failed", id: -1, message: describe(e) }));
    return;
  }
  logLines.length = 0;
  const t0 = performance.now();
  try {
    if (compiler === null) throw new Error("compile before init");
    const grammar = await (await compiler).compile(msg.spec);
    grammar.dispose();
    reply({ type: "compiled", id: msg.id, ms: performance.now() - t0 });
  } catch (e) {
    reply({ type: "failed", id: msg.id, message: describe(e) });
  }
};

function reply(r: CompileWorkerReply): void {
  self.postMessage(r);
}

// An abort says only "Aborted()"; the reason is the last [FATAL] line xgrammar printed before it.
function describe(e: unknown): string {
  const fatal = logLines.findLast((l) => l.includes("[FATAL]"));
  if (fatal !== undefined) return fatal.replace(/^.*?\[FATAL\]\s*\S+:\d+:\s*/, "").replace(/^Check failed: .*? is false:\s*/, "").trim();
  return e instanceof Error ? e.message : String(e);
}
