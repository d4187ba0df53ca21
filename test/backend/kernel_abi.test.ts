// The kernel ABI headers, the bun:ffi tables and the libraries' exports name the same functions: a
// library exports exactly the parts it implements (core + cpu, core + device), no stubs and nothing
// else, and every table entry has the header's parameter count.
import { beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CPU_SYMBOLS } from "../../src/backend/cpu/ffi";
import { DEVICE_SYMBOLS } from "../../src/backend/cuda/ffi";
import { CORE_SYMBOLS } from "../../src/backend/kernel_abi";

const ROOT = join(import.meta.dir, "..", "..");
const BUILD = join(ROOT, "build", "native");

/** Function name -> parameter count of every declaration in a header. */
function declarations(header: string): Map<string, number> {
  const text = readFileSync(join(ROOT, "native", "include", header), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/^\s*#.*$/gm, "");
  const out = new Map<string, number>();
  for (const stmt of text.split(/[;{}]/)) {
    const m = /\b(vk_\w+)\s*\(([^)]*)\)\s*$/.exec(stmt.trim());
    if (!m || /^\s*(enum|typedef)\b/.test(stmt)) continue;
    const params = m[2].trim();
    out.set(m[1], params === "void" || params === "" ? 0 : params.split(",").length);
  }
  return out;
}

const core = declarations("vk_core.h"), cpu = declarations("vk_cpu.h"), device = declarations("vk_device.h");

function expectTable(table: Record<string, { args: readonly unknown[] }>, decls: Map<string, number>, what: string) {
  expect(Object.keys(table).sort(), what).toEqual([...decls.keys()].sort());
  for (const [name, n] of decls) expect(table[name].args.length, `${what}: ${name} parameters`).toBe(n);
}

/** The functions a shared library exports (dynamic symbols it defines). */
function exportsOf(path: string): string[] {
  const r = Bun.spawnSync(["nm", "-D", "--defined-only", path], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`nm ${path}: ${r.stderr}`);
  return r.stdout.toString().trim().split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => /^[TW]$/.test(f[1]))
    .map((f) => f[2]).filter((s) => s !== "_init" && s !== "_fini").sort();
}

test("the headers split the ABI: no function in two parts", () => {
  expect(core.size).toBeGreaterThan(10);
  for (const name of [...cpu.keys(), ...device.keys()]) expect(core.has(name), name).toBe(false);
  for (const name of cpu.keys()) expect(device.has(name), name).toBe(false);
});

test("the bun:ffi tables bind each header's functions with its parameter counts", () => {
  expectTable(CORE_SYMBOLS, core, "vk_core.h");
  expectTable(CPU_SYMBOLS, cpu, "vk_cpu.h");
  expectTable(DEVICE_SYMBOLS, device, "vk_device.h");
});

const hasNm = Bun.which("nm") !== null;
let cpuLibs: string[] = [];

// Builds first (a no-op when up to date), so the exports checked are the current sources'.
beforeAll(() => {
  const build = Bun.spawnSync([process.execPath, join(ROOT, "scripts", "build-native.mjs")], { stderr: "pipe" });
  if (build.exitCode !== 0) throw new Error(`build-native failed:\n${build.stderr.toString()}`);
  cpuLibs = ["portable", "avx2", "avx512", "avx512bf16"].map((v) => join(BUILD, `libvk_cpu_${v}.so`)).filter(existsSync);
}, 120_000);

test.skipIf(!hasNm)("every CPU library exports vk_core.h and vk_cpu.h, nothing else", () => {
  const want = [...core.keys(), ...cpu.keys()].sort();
  expect(cpuLibs.length).toBeGreaterThan(0);
  for (const lib of cpuLibs) expect(exportsOf(lib), lib).toEqual(want);
});

const cudaLib = join(BUILD, "libvk_cuda.so");
test.skipIf(!hasNm || !existsSync(cudaLib))("the CUDA library exports vk_core.h and vk_device.h, nothing else", () => {
  expect(exportsOf(cudaLib)).toEqual([...core.keys(), ...device.keys()].sort());
});
