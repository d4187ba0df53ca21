import Ajv from "ajv/dist/2020";
import { createEngine } from "./src/engine/from_engine_args";
import { makeSamplingParams } from "./src/engine/sampling_params";
import { tinyModelDir } from "./test/support/tiny_models";
import { testEngineArgs } from "./test/support/engine_args";
import { SCHEMAS } from "./test/structured_output/schemas";
const name = (process.argv[2] ?? "llama3") as any;
const seeds = Number(process.argv[3] ?? 2);
const { engine, tokenizer } = createEngine(testEngineArgs(tinyModelDir(name)));
const ajv = new Ajv({ strict: false, validateFormats: false });
let t = performance.now();
const params = SCHEMAS.flatMap((s, i) => Array.from({ length: seeds }, (_, k) => makeSamplingParams({ temperature: 1, maxTokens: 160, seed: 100 * i + k, structuredOutputs: { json: s.schema, disableAnyWhitespace: true } })));
await Promise.all(params.map((p) => engine.prepareStructuredOutput(p)));
console.log("prepare ms", (performance.now() - t).toFixed(0));
engine.structuredOutputManager!.resetMaskTimeStats();
t = performance.now();
const outs = engine.generate(params.map((_, i) => ({ promptTokenIds: tokenizer.encode(`Output ${i}:`) })), params);
console.log("gen ms", (performance.now() - t).toFixed(0), engine.structuredOutputManager!.maskTimeStats());
let stops = 0, bad = 0;
outs.forEach((o, i) => {
  const s = SCHEMAS[Math.floor(i / seeds)];
  const c = o.outputs[0];
  if (c.finishReason !== "stop") { console.log("NOSTOP", s.label, c.tokenIds.length, JSON.stringify(c.text).slice(0, 150)); return; }
  stops++;
  let v: unknown; try { v = JSON.parse(c.text); } catch { bad++; console.log("PARSE FAIL", s.label, JSON.stringify(c.text)); return; }
  if (!ajv.validate(s.schema, v)) { bad++; console.log("INVALID", s.label, c.text, ajv.errorsText()); }
  if (process.env.SHOW && i % seeds === 0) console.log(s.label.padEnd(25), c.tokenIds.length, c.text.slice(0, 100));
});
console.log("stops", stops, "/", outs.length, "bad", bad);
engine.structuredOutputManager!.close();
