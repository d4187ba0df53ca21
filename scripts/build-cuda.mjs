#!/usr/bin/env node
// Builds the CUDA kernel library build/native/libvk_cuda.so with nvcc, for sm_80 and sm_90a.
// Needs the CUDA toolkit with cuBLAS (cublasLt.h); the library links the system's libcudart and
// libcublasLt, which are only looked up when it is dlopened, so dist/vllm starts without CUDA.
// scripts/build.mjs embeds the library when it exists. Without a toolkit this exits 1 and says why.
// Usage: node scripts/build-cuda.mjs [--force]   (NVCC, CUDA_HOME and VK_CUDA_ARCHS override)
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC_DIR = join(ROOT, "kernels", "cuda");
const INCLUDE_DIR = join(ROOT, "native", "include");
const OUT_DIR = join(ROOT, "build", "native");
const OUT = join(OUT_DIR, "libvk_cuda.so");
// compute_80 PTX rides along so newer GPUs without a matching cubin can still JIT the kernels.
const ARCHS = (process.env.VK_CUDA_ARCHS ?? "sm_80,sm_90a").split(",").filter(Boolean);

function findNvcc() {
  if (process.env.NVCC) return process.env.NVCC;
  const candidates = [process.env.CUDA_HOME && join(process.env.CUDA_HOME, "bin", "nvcc"), "/usr/local/cuda/bin/nvcc"];
  for (const c of candidates) if (c && existsSync(c)) return c;
  const which = spawnSync("sh", ["-c", "command -v nvcc"], { encoding: "utf8" });
  return which.status === 0 ? which.stdout.trim() : null;
}

function gencode(arch) {
  const cc = arch.replace(/^sm_/, "");
  return ["-gencode", `arch=compute_${cc},code=sm_${cc}`];
}

function run(cmd, args) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", (e) => resolve({ code: -1, stderr: String(e) }));
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

async function pool(thunks, limit) {
  let next = 0;
  const worker = async () => {
    while (next < thunks.length) await thunks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, thunks.length) }, worker));
}

async function main() {
  const nvcc = findNvcc();
  if (!nvcc) throw new Error("cuda: nvcc not found (set NVCC or CUDA_HOME); the CPU build is unaffected");
  const cudaHome = process.env.CUDA_HOME ?? dirname(dirname(realpathSync(nvcc)));
  const libDir = [join(cudaHome, "lib64"), join(cudaHome, "lib")].find((d) => existsSync(d)) ?? join(cudaHome, "lib64");
  if (!existsSync(join(cudaHome, "include", "cublasLt.h")))
    throw new Error(`cuda: ${join(cudaHome, "include", "cublasLt.h")} is missing: install cuBLAS (the CPU build is unaffected)`);

  const sources = readdirSync(SRC_DIR).filter((f) => f.endsWith(".cu")).sort().map((f) => join(SRC_DIR, f));
  const inputs = [...readdirSync(SRC_DIR).map((f) => join(SRC_DIR, f)), ...readdirSync(INCLUDE_DIR).map((f) => join(INCLUDE_DIR, f)),
    fileURLToPath(import.meta.url)];
  const newest = Math.max(...inputs.map((f) => statSync(f).mtimeMs));
  if (!process.argv.includes("--force") && existsSync(OUT) && statSync(OUT).mtimeMs > newest) {
    console.log(`cuda: ${relative(ROOT, OUT)} up to date`);
    return;
  }
  const flags = ["-std=c++17", "-O3", "-Xcompiler", "-fPIC,-fvisibility=hidden", `-I${INCLUDE_DIR}`, `-I${join(cudaHome, "include")}`,
    ...ARCHS.flatMap(gencode), "-gencode", `arch=compute_80,code=compute_80`];
  const objDir = join(OUT_DIR, `obj-cuda-${process.pid}`);
  mkdirSync(objDir, { recursive: true });
  const t0 = performance.now();
  const failures = [];
  try {
    const objects = sources.map((src) => ({ src, obj: join(objDir, basename(src, ".cu") + ".o") }));
    // Largest first: the attention kernels' template instances dominate the build.
    objects.sort((a, b) => statSync(b.src).size - statSync(a.src).size);
    await pool(objects.map((o) => async () => {
      const { code, stderr } = await run(nvcc, [...flags, "-c", o.src, "-o", o.obj]);
      if (code !== 0) failures.push(`${relative(ROOT, o.src)}:\n${stderr}`);
      else if (stderr.trim()) console.warn(stderr.trim());
    }), availableParallelism());
    if (failures.length) throw new Error(`cuda: nvcc failed\n${failures.join("\n")}`);
    const tmp = `${OUT}.tmp-${process.pid}`;
    const link = await run(nvcc, ["-shared", "-cudart", "shared", ...ARCHS.flatMap(gencode), "-o", tmp,
      ...objects.map((o) => o.obj), `-L${libDir}`, "-lcublasLt", "-Xlinker", `-rpath,${libDir}`]);
    if (link.code !== 0) throw new Error(`cuda: link failed\n${link.stderr}`);
    renameSync(tmp, OUT);
  } finally {
    rmSync(objDir, { recursive: true, force: true });
  }
  console.log(`cuda: ${relative(ROOT, OUT)} (${ARCHS.join(", ")}) built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
