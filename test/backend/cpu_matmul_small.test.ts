// The small-batch matmul path (2..16 rows of x, decode batches) of every CPU variant this machine runs, against
// the library's other paths on the same inputs: the blocked path (the same rows inside a 17-row product) and
// the 1-row GEMV (each row alone), and against a float64 reference. Shapes include odd n and k (k below one
// vector, k past the path's k chunk), every weight dtype, with and without bias.
// Bound: max |got - want| / max(|want|, rms(want)) <= 1e-5 (f32 accumulation, as in cpu_kernels.test.ts).
import { describe, expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { join } from "node:path";
import { type CpuKernels, openCpuKernels, VK_BF16, VK_F16, VK_F32 } from "../../src/backend/cpu/ffi";
import { CPU_VARIANTS, loadCpuKernels } from "../../src/backend/native_library";

const BUILD = join(import.meta.dir, "..", "..", "build", "native");
const TOL = 1e-5;

/** Variants built here whose instructions this CPU has (a library whose code cannot run would crash). */
function runnable(): [string, CpuKernels][] {
  const portable = openCpuKernels(join(BUILD, "libvk_cpu_portable.so"));
  const out: [string, CpuKernels][] = [["portable", portable]];
  for (const v of CPU_VARIANTS.filter((v) => v !== "portable")) {
    try {
      out.push([v, loadCpuKernels({ variant: v }).kernels]);
    } catch {
      // not built, or this CPU lacks its features
    }
  }
  return out;
}

function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

/** Weights in a kernel dtype: the raw bytes to pass, and their exact values. */
function weights(values: Float32Array, dtype: number): { raw: Float32Array | Uint16Array; exact: Float64Array } {
  if (dtype === VK_F32) return { raw: values, exact: Float64Array.from(values) };
  if (dtype === VK_F16) {
    const h = new Float16Array(values);
    return { raw: new Uint16Array(h.buffer), exact: Float64Array.from(h) };
  }
  const bits = new Uint32Array(values.buffer.slice(0)).map((u) => u & 0xffff0000);
  return { raw: Uint16Array.from(bits, (u) => u >>> 16), exact: Float64Array.from(new Float32Array(bits.buffer)) };
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let ss = 0;
  for (let i = 0; i < want.length; i++) ss += want[i] * want[i];
  const floor = Math.sqrt(ss / want.length) || 1;
  let worst = 0;
  for (let i = 0; i < got.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(Math.abs(want[i]), floor);
    if (!(e <= worst)) worst = e; // NaN sticks
  }
  return worst;
}

const DTYPES = [["f32", VK_F32], ["f16", VK_F16], ["bf16", VK_BF16]] as const;
// [n, k]: k below one vector, odd, around and past the 1024-wide k chunk; n not a multiple of the tile.
const SHAPES = [[1, 3], [2, 7], [3, 17], [5, 33], [7, 64], [13, 100], [29, 515], [64, 1030], [11, 2049], [129, 96]] as const;
const libs = runnable();

describe.each(libs.map(([name, k]) => [name, k] as const))("matmul with 2..16 rows (%s)", (_name, kern) => {
  for (const [dname, dtype] of DTYPES) {
    test(`${dname}: every m in 2..16 over odd shapes equals the blocked path, the GEMV and the f64 reference`, () => {
      let cases = 0;
      for (let m = 2; m <= 16; m++) {
        for (let s = 0; s < 4; s++) {
          const [n, k] = SHAPES[(m * 3 + s) % SHAPES.length];
          const normal = prng(m * 7919 + n * 31 + k + dtype);
          const big = 17; // past the small-batch path: the blocked one
          const x = Float32Array.from({ length: big * k }, normal);
          const w = weights(Float32Array.from({ length: n * k }, () => normal() * 0.1), dtype);
          const bias = s % 2 === 1 ? Float32Array.from({ length: n }, normal) : null;
          const run = (rows: number, xs: Float32Array) => {
            const out = new Float32Array(rows * n).fill(NaN); // every element must be written
            kern.matmul(ptr(out), ptr(xs), ptr(w.raw), dtype, bias ? ptr(bias) : null, rows, n, k);
            return out;
          };
          const got = run(m, x.subarray(0, m * k));
          const blocked = run(big, x).subarray(0, m * n);
          const gemv = new Float32Array(m * n);
          for (let r = 0; r < m; r++) gemv.set(run(1, x.slice(r * k, (r + 1) * k)), r * n);
          const ref = new Float64Array(m * n);
          for (let r = 0; r < m; r++)
            for (let c = 0; c < n; c++) {
              let acc = bias ? bias[c] : 0;
              for (let t = 0; t < k; t++) acc += x[r * k + t] * w.exact[c * k + t];
              ref[r * n + c] = acc;
            }
          const what = `m=${m} n=${n} k=${k}${bias ? " +bias" : ""}`;
          expect(relErr(got, ref), `${what} vs f64`).toBeLessThanOrEqual(TOL);
          expect(relErr(got, blocked), `${what} vs the blocked path`).toBeLessThanOrEqual(TOL);
          expect(relErr(got, gemv), `${what} vs the GEMV`).toBeLessThanOrEqual(TOL);
          cases++;
        }
      }
      expect(cases).toBe(60);
    });
  }
});

test("the portable variant is among those tested", () => {
  expect(libs.map(([n]) => n)).toContain("portable");
});
