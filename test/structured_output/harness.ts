/** Shared helpers for the structured-output tests: one engine per tiny model, and prepare-then-generate. */
import { createEngine, type LoadedEngine } from "../../src/entrypoints/from_engine_args";
import type { CompletionOutput } from "../../src/engine/outputs";
import { makeSamplingParams, type SamplingParams, type StructuredOutputsParams } from "../../src/engine/sampling_params";
import { type TinyModelName, tinyModelDir } from "../support/tiny_models";
import { testEngineArgs } from "../support/engine_args";

const engines = new Map<TinyModelName, LoadedEngine>();

/** The model's engine, created once and shared until closeEngines(). */
export function engineFor(name: TinyModelName): LoadedEngine {
  let loaded = engines.get(name);
  if (loaded === undefined) {
    loaded = createEngine(testEngineArgs(tinyModelDir(name)));
    engines.set(name, loaded);
  }
  return loaded;
}

/** Stops the engines' compile workers and forgets them; call from each file's afterAll. */
export function closeEngines(): void {
  for (const { engine } of engines.values()) engine.structuredOutputManager?.close();
  engines.clear();
}

/** Sampled (temperature 1) params with a constraint and a seed. */
export function constrained(so: StructuredOutputsParams, seed: number, extra: Partial<SamplingParams> = {}): SamplingParams {
  return makeSamplingParams({ temperature: 1, maxTokens: 160, seed, structuredOutputs: so, ...extra });
}

/** Prepares every request's grammar, then runs them all as one batch; prompt i is "Output i:". */
export async function generate(loaded: LoadedEngine, params: SamplingParams[]): Promise<CompletionOutput[]> {
  const { engine, tokenizer } = loaded;
  await Promise.all(params.map((p) => engine.prepareStructuredOutput(p)));
  const inputs = params.map((_, i) => ({ promptTokenIds: tokenizer.encode(`Output ${i}:`) }));
  return engine.generate(inputs, params).map((o) => o.outputs[0]);
}

/** Finished with "stop" (the grammar completed), as opposed to running into max_tokens. */
export function stopped(outs: CompletionOutput[]): CompletionOutput[] {
  return outs.filter((o) => o.finishReason === "stop");
}
