/**
 * Both Dockerfiles, read as instructions: the CUDA one cannot be built here (its nvidia/cuda bases come
 * from a registry this machine cannot reach), so what it promises is checked from its text.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../support/tiny_models";

interface Instruction { op: string; args: string }

/** Instructions in order, with `\` continuations joined and comments dropped. */
function parseDockerfile(path: string): Instruction[] {
  const joined = readFileSync(path, "utf8").replace(/\\\n/g, " ");
  return joined.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => { const m = /^(\S+)\s+(.*)$/.exec(l)!; return { op: m[1].toUpperCase(), args: m[2] }; });
}

/** The instructions of the last stage: what the image that runs is made of. */
function finalStage(ins: Instruction[]): Instruction[] {
  const last = ins.map((i) => i.op).lastIndexOf("FROM");
  return ins.slice(last);
}

const HF_HOME = "/home/nonroot/.cache/huggingface";

for (const file of ["Dockerfile", "Dockerfile.cpu"]) {
  describe(file, () => {
    const ins = parseDockerfile(join(REPO_ROOT, file));
    const final = finalStage(ins);
    const one = (op: string) => final.filter((i) => i.op === op).map((i) => i.args);

    test("the running image: non-root, port 8000, /health check, HF cache volume, vllm serve", () => {
      expect(one("USER")).toEqual(["65532:65532"]);
      expect(one("EXPOSE")).toEqual(["8000"]);
      expect(one("ENTRYPOINT").map((a) => JSON.parse(a))).toEqual([["vllm", "serve"]]);
      expect(one("VOLUME").map((a) => JSON.parse(a))).toEqual([[HF_HOME]]);
      expect(one("ENV").join(" ")).toContain(`HF_HOME=${HF_HOME}`);
      const health = one("HEALTHCHECK");
      expect(health.length).toBe(1);
      expect(JSON.parse(health[0].slice(health[0].indexOf("CMD") + 3))).toEqual(["vllm-healthcheck", "8000", "/health"]);
      expect(final.some((i) => i.op === "COPY" && /vllm-healthcheck/.test(i.args) && /\/usr\/local\/bin\/$/.test(i.args))).toBe(true);
    });

    test("multi-stage: the binary is built in one stage and copied into a slim runtime", () => {
      const froms = ins.filter((i) => i.op === "FROM").map((i) => i.args);
      expect(froms.length).toBeGreaterThanOrEqual(2);
      const runs = ins.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
      expect(runs).toContain("npm ci");
      expect(runs).toContain("node scripts/build.mjs");
      expect(runs).toContain("deploy/image/healthcheck.c");
      expect(final.filter((i) => i.op === "RUN").map((i) => i.args).join(" ")).not.toMatch(/npm|node scripts/);
    });
  });
}

test("Dockerfile builds the CUDA kernels on the CUDA devel image and runs on the CUDA runtime image", () => {
  const ins = parseDockerfile(join(REPO_ROOT, "Dockerfile"));
  const froms = ins.filter((i) => i.op === "FROM").map((i) => i.args);
  expect(froms.some((f) => /^docker\.io\/nvidia\/cuda:\$\{CUDA_VERSION\}-devel-\$\{UBUNTU\} AS build$/.test(f))).toBe(true);
  expect(froms.at(-1)).toBe("docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}");
  const build = ins.find((i) => i.op === "RUN" && i.args.includes("scripts/build.mjs"))!.args;
  // The CUDA library must exist before build.mjs runs, or the binary embeds only the CPU kernels.
  expect(build.indexOf("scripts/build-cuda.mjs")).toBeGreaterThanOrEqual(0);
  expect(build.indexOf("scripts/build-cuda.mjs")).toBeLessThan(build.indexOf("scripts/build.mjs"));
});
