#!/usr/bin/env node
// The test command: builds the kernels and dist/vllm, runs every bun:test file, and prints one summary line.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit", cwd: root });

const tsc = spawnSync(join(root, "node_modules", ".bin", "tsc"), ["--noEmit", "-p", "."], { cwd: root, encoding: "utf8" });
if (tsc.status !== 0) {
  process.stdout.write(tsc.stdout + tsc.stderr);
  console.log("\ntests: 0 passed, 1 failed (type check)");
  process.exit(1);
}
console.log("typecheck: ok");

const bun = join(root, "node_modules", ".bin", "bun");
// Model and server tests take seconds on a busy 2-core machine; bun's default per-test limit is 5 s.
// Output streams through as bun prints it (progress per file), and is kept to count the summary.
const child = spawn(bun, ["test", "--timeout", "120000", ...process.argv.slice(2)], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
let out = "";
child.stdout.on("data", (d) => { out += d; process.stdout.write(d); });
child.stderr.on("data", (d) => { out += d; process.stderr.write(d); });
child.on("close", (status) => {
  const count = (word) => Number((new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(out) ?? [0, 0])[1]);
  const passed = count("pass"), failed = count("fail"), skipped = count("skip");
  console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(status === 0 && failed === 0 && passed > 0 ? 0 : 1);
});
