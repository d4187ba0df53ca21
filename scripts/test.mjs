#!/usr/bin/env node
// The test command: builds the kernels and dist/vllm, runs every bun:test file, and prints one summary line.
import { spawnSync, execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
execFileSync(process.execPath, [join(root, "scripts", "build.mjs")], { stdio: "inherit", cwd: root });

const bun = join(root, "node_modules", ".bin", "bun");
const res = spawnSync(bun, ["test", ...process.argv.slice(2)], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
process.stdout.write(res.stdout);
process.stderr.write(res.stderr);
const out = res.stdout + res.stderr;
const count = (word) => Number((new RegExp(`^\\s*(\\d+) ${word}$`, "m").exec(out) ?? [0, 0])[1]);
const passed = count("pass"), failed = count("fail"), skipped = count("skip");
console.log(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(res.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
