// Writes every tiny test model (test/support/tiny_models.ts), e.g. to carry them to another machine.
// Usage: bun scripts/make-tiny-models.ts [--out DIR]   (default <repo>/.cache/models)
import { resolve } from "node:path";
import { REPO_ROOT, TINY_MODEL_NAMES, writeTinyModel } from "../test/support/tiny_models";

function parseOutDir(argv: string[]): string {
  if (argv.length === 0) return resolve(REPO_ROOT, ".cache", "models");
  if (argv.length === 2 && argv[0] === "--out") return resolve(argv[1]);
  console.error("usage: bun scripts/make-tiny-models.ts [--out DIR]");
  process.exit(2);
}

const outDir = parseOutDir(process.argv.slice(2));
for (const name of TINY_MODEL_NAMES) {
  const start = performance.now();
  const dir = writeTinyModel(name, outDir);
  console.log(`${name.padEnd(16)} ${dir}  (${Math.round(performance.now() - start)} ms)`);
}
