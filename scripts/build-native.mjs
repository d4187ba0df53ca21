#!/usr/bin/env node
// Builds the CPU kernel library once per instruction-set variant into build/native/:
// libvk_cpu_portable.so (baseline), libvk_cpu_avx2.so and, where the compiler takes the flags,
// libvk_cpu_avx512.so and libvk_cpu_avx512bf16.so (AVX512-BF16 and VNNI on top). The loader
// (src/backend/native_library.ts) picks one at run time.
// Usage: node scripts/build-native.mjs [--force]
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC_DIR = join(ROOT, "kernels", "cpu");
const INCLUDE_DIR = join(ROOT, "native", "include");
const OUT_DIR = join(ROOT, "build", "native");
const CC = process.env.CC || "cc";

const COMPILE_FLAGS = ["-O3", "-fPIC", "-pthread", "-std=c11", "-fvisibility=hidden", "-Wall", "-Wextra",
  "-Wno-unused-parameter", "-fopenmp-simd", `-I${INCLUDE_DIR}`];
const X86_VARIANTS = [
  { name: "portable", flags: [] },
  { name: "avx2", flags: ["-mavx2", "-mfma", "-mf16c"] },
  { name: "avx512", flags: ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx2", "-mfma", "-mf16c"], probe: true },
  {
    name: "avx512bf16",
    flags: ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512bf16", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c"],
    probe: true,
  },
];

function run(args, input) {
  return new Promise((resolve) => {
    const child = spawn(CC, args, { cwd: ROOT, stdio: [input === undefined ? "ignore" : "pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => resolve({ code: -1, stderr: String(e) }));
    child.on("close", (code) => resolve({ code, stderr }));
    if (input !== undefined) {
      child.stdin.on("error", () => {}); // a compiler that exits early reports through its exit code
      child.stdin.end(input);
    }
  });
}

// The compiler must both accept the flags and assemble the instructions (each variant's newest).
async function compilerAccepts(flags) {
  const probe = flags.includes("-mavx512bf16")
    ? "#include <immintrin.h>\n__m512 f(__m512 a, __m512i b) { return _mm512_dpbf16_ps(a, (__m512bh)b, (__m512bh)b); }\n"
    : "#include <immintrin.h>\n__m512 f(__m512 a) { return _mm512_fmadd_ps(a, a, a); }\n";
  const { code } = await run([...flags, "-x", "c", "-c", "-o", "/dev/null", "-"], probe);
  return code === 0;
}

function newestInput(files) {
  return Math.max(...files.map((f) => statSync(f).mtimeMs));
}

function outputTime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -Infinity;
  }
}

// Runs thunks with at most `limit` in flight; rejects on the first failure.
async function pool(thunks, limit) {
  const results = new Array(thunks.length);
  let next = 0;
  const worker = async () => {
    while (next < thunks.length) {
      const i = next++;
      results[i] = await thunks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, thunks.length) }, worker));
  return results;
}

async function compile(args, what) {
  const { code, stderr } = await run(args);
  if (code !== 0) throw new Error(`${CC} failed for ${what}:\n${stderr}`);
  return stderr.trim();
}

// Objects compile in parallel across all variants (the 2-core CI box is the target) into a
// per-process folder; each library is linked to a temp name and renamed, so neither a failed
// build nor two builds at once (tests and `npm run build`) leave a torn .so behind.
async function buildAll(variants, sources, force, inputsTime) {
  const stale = variants.filter((v) => force || outputTime(join(OUT_DIR, v.file)) <= inputsTime);
  const objRoot = join(OUT_DIR, `obj-${process.pid}`);
  const objects = [];
  for (const v of stale) {
    const objDir = join(objRoot, v.name);
    mkdirSync(objDir, { recursive: true });
    for (const src of sources) objects.push({ v, src, obj: join(objDir, basename(src, ".c") + ".o") });
  }
  // Largest sources first, so the long compiles do not end up last on one core.
  objects.sort((a, b) => statSync(b.src).size - statSync(a.src).size);
  const t0 = performance.now();
  try {
    await compileAndLink(stale, objects);
  } finally {
    rmSync(objRoot, { recursive: true, force: true });
  }
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  return variants.map((v) => ({ ...v, status: stale.includes(v) ? `built in ${seconds}s` : "up to date" }));
}

async function compileAndLink(stale, objects) {
  const compileOne = (o) => compile([...COMPILE_FLAGS, ...o.v.flags, "-c", "-o", o.obj, o.src], relative(ROOT, o.src));
  const warnings = await pool(objects.map((o) => () => compileOne(o)), availableParallelism());
  await pool(
    stale.map((v) => async () => {
      const out = join(OUT_DIR, v.file);
      const objs = objects.filter((o) => o.v === v).map((o) => o.obj);
      const tmp = `${out}.tmp-${process.pid}`;
      await compile(["-shared", "-pthread", "-o", tmp, ...objs, "-lm"], v.file);
      renameSync(tmp, out);
    }),
    availableParallelism(),
  );
  for (const w of new Set(warnings.filter(Boolean))) console.warn(w);
}

async function main() {
  const force = process.argv.includes("--force");
  const sources = readdirSync(SRC_DIR).filter((f) => f.endsWith(".c")).sort().map((f) => join(SRC_DIR, f));
  const headers = [
    ...readdirSync(SRC_DIR).filter((f) => f.endsWith(".h")).map((f) => join(SRC_DIR, f)),
    ...readdirSync(INCLUDE_DIR).filter((f) => f.endsWith(".h")).map((f) => join(INCLUDE_DIR, f)),
  ];
  const inputsTime = newestInput([...sources, ...headers, fileURLToPath(import.meta.url)]);
  mkdirSync(OUT_DIR, { recursive: true });

  let variants = (process.arch === "x64" ? X86_VARIANTS : [X86_VARIANTS[0]]).map((v) => ({
    ...v,
    file: `libvk_cpu_${v.name}.so`,
  }));
  const accepted = await Promise.all(variants.map((v) => (v.probe ? compilerAccepts(v.flags) : true)));
  for (const v of variants.filter((_, i) => !accepted[i])) {
    console.log(`native: ${v.name} skipped (${CC} rejects ${v.flags.join(" ")})`);
  }
  variants = variants.filter((_, i) => accepted[i]);

  const results = await buildAll(variants, sources, force, inputsTime);
  for (const r of results) console.log(`native: ${relative(ROOT, join(OUT_DIR, r.file))} ${r.status}`);
  const manifest = { variants: results.map((r) => ({ name: r.name, file: r.file, flags: r.flags })) };
  // Renamed into place like the libraries: tests read the manifest while another build may be writing it.
  const manifestPath = join(OUT_DIR, "manifest.json"), manifestTmp = `${manifestPath}.tmp-${process.pid}`;
  writeFileSync(manifestTmp, JSON.stringify(manifest, null, 2) + "\n");
  renameSync(manifestTmp, manifestPath);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
