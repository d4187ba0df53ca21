#!/usr/bin/env node
// The test command: builds the kernels and dist/vllm, runs every bun:test file, and prints one summary line.
import { spawnSync, execFileSync } from "node:child_process";
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
const res = spawnSync(bun, ["test", "--timeout", "120000", ...process.argv.slice(2)], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
process.stdout.write(res.stdout);
process.stderr.write(res.stderr);
const out = res.stdout + res.stderr;
const count = (word) => Number((new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(out) ?? [0, 0])[1]);
const passed = count("pass"), failed = count("fail"), skipped = count("skip");
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(res.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
