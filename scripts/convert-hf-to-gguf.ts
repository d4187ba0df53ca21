// Converts a Hugging Face model directory (config.json, safetensors, tokenizer.json) into one GGUF file
// that llama.cpp and `vllm --model FILE.gguf` both load.
// Usage: bun scripts/convert-hf-to-gguf.ts MODEL_DIR OUT.gguf [--outtype F16|BF16|F32|Q8_0|Q4_K]   (default F16)
import { statSync } from "node:fs";
import { GGUF_OUT_TYPES, convertToGguf, type GgufOutType } from "../src/model_loader/gguf_convert";

function usage(): never {
  console.error(`usage: bun scripts/convert-hf-to-gguf.ts MODEL_DIR OUT.gguf [--outtype ${GGUF_OUT_TYPES.join("|")}]`);
  process.exit(2);
}

const args = process.argv.slice(2);
const [dir, out, flag, value] = args;
if (args.length !== 2 && args.length !== 4) usage();
if (args.length === 4 && flag !== "--outtype") usage();
const outType = (value ?? "F16").toUpperCase() as GgufOutType;
if (!(GGUF_OUT_TYPES as readonly string[]).includes(outType)) {
  console.error(`--outtype: '${value}' is not one of ${GGUF_OUT_TYPES.join(", ")}`);
  process.exit(2);
}
const start = performance.now();
convertToGguf(dir, out, { outType });
console.log(`${out}: ${outType}, ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - start) / 1000).toFixed(1)} s`);
