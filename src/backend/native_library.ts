// Finds and loads the best CPU kernel library variant for this machine.
//
// Sources, in order: files embedded in the compiled binary (registered by its entry point), then
// <repo>/build/native/ from scripts/build-native.mjs. Embedded files live in Bun's in-memory
// filesystem, which dlopen cannot read, so they are extracted once to a content-addressed cache.
import { createHash } from "node:crypto";
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import {
  type CpuKernels,
  openCpuKernels,
  VK_CPU_AVX2,
  VK_CPU_AVX512BF16,
  VK_CPU_AVX512BW,
  VK_CPU_AVX512F,
  VK_CPU_AVX512VNNI,
  VK_CPU_F16C,
  VK_CPU_FMA,
} from "./cpu/ffi";

export const CPU_VARIANTS = ["portable", "avx2", "avx512", "avx512bf16"] as const;
export type CpuVariant = (typeof CPU_VARIANTS)[number];

const REQUIRED_FEATURES: Record<CpuVariant, number> = {
  portable: 0,
  avx2: VK_CPU_AVX2 | VK_CPU_FMA | VK_CPU_F16C,
  avx512: VK_CPU_AVX512F | VK_CPU_AVX512BW,
  avx512bf16: VK_CPU_AVX512F | VK_CPU_AVX512BW | VK_CPU_AVX512BF16 | VK_CPU_AVX512VNNI,
};

const BUILD_DIR = join(import.meta.dir, "..", "..", "build", "native");
let embedded: Record<string, string> | null = null;
const extracted = new Map<string, string>(); // embedded source -> extracted path, per process

const libraryName = (variant: CpuVariant) => `libvk_cpu_${variant}.so`;

/**
 * Called by the compiled binary's entry with `{ "libvk_cpu_avx2.so": <embedded file path>, ... }`
 * (paths from `import ... with { type: "file" }`). Takes precedence over build/native/.
 */
export function registerEmbeddedLibraries(files: Record<string, string>): void {
  embedded = { ...files };
}

/** A writable cache root: $XDG_CACHE_HOME, else ~/.cache, else the temp dir. */
function cacheRoot(): string {
  const candidates = [process.env.XDG_CACHE_HOME, join(homedir(), ".cache"), tmpdir()];
  for (const dir of candidates) {
    if (!dir) continue;
    const root = join(dir, "vllm-bun");
    try {
      mkdirSync(root, { recursive: true });
      accessSync(root, constants.W_OK);
      return root;
    } catch {
      // unwritable (read-only home, sandbox): try the next
    }
  }
  throw new Error("no writable cache directory to extract the kernel library into");
}

/** Copies an embedded library to <cache>/<sha256[:16]>/<name> once; reuses it when the size matches. */
function extractEmbedded(name: string, source: string): string {
  const bytes = readFileSync(source);
  const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  const dir = join(cacheRoot(), digest);
  const path = join(dir, name);
  if (existsSync(path) && statSync(path).size === bytes.length) return path;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, bytes, { mode: 0o755 });
  renameSync(tmp, path); // atomic: a concurrent process sees either nothing or the whole file
  return path;
}

/** Path of a variant's library on disk, or null when it was not built / embedded. */
function locate(variant: CpuVariant): string | null {
  return locateLibrary(libraryName(variant));
}

/** Path of a kernel library file (e.g. libvk_cuda.so) on disk, embedded or built; null when absent. */
export function locateLibrary(name: string): string | null {
  if (!embedded) {
    const path = join(BUILD_DIR, name);
    return existsSync(path) ? path : null;
  }
  if (!embedded[name]) return null;
  const key = `${name}\0${embedded[name]}`;
  let path = extracted.get(key);
  if (!path) extracted.set(key, (path = extractEmbedded(name, embedded[name])));
  return path;
}

function pickVariant(features: number, available: (v: CpuVariant) => boolean): CpuVariant {
  const ok = (v: CpuVariant) => (features & REQUIRED_FEATURES[v]) === REQUIRED_FEATURES[v] && available(v);
  if (ok("avx512bf16")) return "avx512bf16";
  if (ok("avx512")) return "avx512";
  if (ok("avx2")) return "avx2";
  return "portable";
}

function checkForced(value: string, origin: string, features: number): CpuVariant {
  if (!(CPU_VARIANTS as readonly string[]).includes(value)) {
    throw new Error(`${origin}=${value} is not one of ${CPU_VARIANTS.join(", ")}`);
  }
  const variant = value as CpuVariant;
  const missing = REQUIRED_FEATURES[variant] & ~features;
  if (missing) throw new Error(`${origin}=${variant}: this CPU lacks features it needs (VK_CPU bits ${missing})`);
  return variant;
}

/**
 * Loads the CPU kernel library: the variant forced by `opts.variant` or VLLM_CPU_VARIANT, else the
 * widest one this CPU runs (avx512bf16, avx512, avx2, portable). Throws when a forced variant cannot run here
 * or was not built, and when no library is found at all.
 */
export function loadCpuKernels(opts: { variant?: string } = {}): {
  kernels: CpuKernels;
  variant: string;
  path: string;
} {
  const portablePath = locate("portable");
  if (!portablePath) {
    const where = embedded ? "among the embedded files" : `in ${BUILD_DIR}`;
    throw new Error(
      `CPU kernel library ${libraryName("portable")} not found ${where}: run \`npm run build:native\` ` +
        "(node scripts/build-native.mjs)",
    );
  }
  const portable = openCpuKernels(portablePath);
  const features = portable.cpuFeatures();
  const forced = opts.variant ?? process.env.VLLM_CPU_VARIANT;
  let variant: CpuVariant;
  try {
    const origin = opts.variant ? "variant" : "VLLM_CPU_VARIANT";
    variant = forced ? checkForced(forced, origin, features) : pickVariant(features, (v) => locate(v) !== null);
  } catch (e) {
    portable.close();
    throw e;
  }
  if (variant === "portable") return { kernels: portable, variant, path: portablePath };
  portable.close();
  const path = locate(variant);
  if (!path) throw new Error(`CPU variant ${variant} was not built (run node scripts/build-native.mjs)`);
  return { kernels: openCpuKernels(path), variant, path };
}
