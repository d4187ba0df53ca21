/**
 * The CPU image, built with podman from Dockerfile.cpu around the current dist/vllm on a base made
 * offline from this machine's libraries (no registry here). Containers cannot run on this machine, so
 * the image is checked by its config and by running its exported filesystem under chroot as its user.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { VERSION } from "../../src/version";
import { REPO_ROOT } from "../support/tiny_models";

const BIN = join(REPO_ROOT, "dist", "vllm");
const hasPodman = spawnSync("sh", ["-c", "command -v podman"]).status === 0;
const isRoot = process.getuid?.() === 0;
const BASE = "localhost/vllm-bun-base:offline-test";
const IMAGE = "localhost/vllm-bun:cpu-test";
const HF_HOME = "/home/nonroot/.cache/huggingface";
// Found before the user's PATH below replaces this one (chroot lives in /usr/sbin).
const CHROOT = spawnSync("sh", ["-c", "command -v chroot"], { encoding: "utf8" }).stdout?.trim() || "chroot";
const USER_ENV = ["env", "-i", "HOME=/home/nonroot", "XDG_CACHE_HOME=/home/nonroot/.cache", `HF_HOME=${HF_HOME}`, "PATH=/usr/local/bin:/usr/bin:/bin"];

if (!hasPodman) console.error("test/deploy/image.test.ts: skipped: podman is not installed (.ci/run installs it with apt-get)");
if (!existsSync(BIN)) console.error("test/deploy/image.test.ts: skipped: dist/vllm is missing (run `npm run build` first)");

function sh(cmd: string[], timeout = 120_000): { code: number | null; out: string; err: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout, maxBuffer: 64 << 20 });
  console.error(`image test: ${cmd.slice(0, 3).join(" ")} … ${((performance.now() - t0) / 1000).toFixed(1)} s${r.status === 0 ? "" : ` (exit ${r.status}: ${(r.stderr ?? "").trim().slice(-300)})`}`);
  return { code: r.status, out: r.stdout ?? "", err: r.stderr ?? "" };
}

describe.skipIf(!hasPodman || !existsSync(BIN))("the CPU container image (podman)", () => {
  const tmp = mkdtempSync(join(tmpdir(), "vllm-image-"));
  const ctx = join(tmp, "ctx");
  const root = join(tmp, "rootfs");

  test("builds from Dockerfile.cpu around the prebuilt binary", () => {
    mkdirSync(join(ctx, "dist"), { recursive: true });
    copyFileSync(join(REPO_ROOT, "Dockerfile.cpu"), join(ctx, "Dockerfile.cpu"));
    copyFileSync(BIN, join(ctx, "dist", "vllm"));
    const cc = sh(["cc", "-static", "-Os", "-o", join(ctx, "dist", "vllm-healthcheck"), join(REPO_ROOT, "deploy", "image", "healthcheck.c")]);
    expect(cc.err).toBe("");
    const native = join(REPO_ROOT, "build", "native");
    const libs = existsSync(native) ? readdirSync(native).filter((f) => f.endsWith(".so")).map((f) => join(native, f)) : [];
    const base = sh(["bash", join(REPO_ROOT, "deploy", "image", "offline-base.sh"), BASE, join(ctx, "dist", "vllm"), ...libs]);
    expect(base.err).toBe("");
    const build = sh(["podman", "build", "--quiet", "--format", "docker", "-f", join(ctx, "Dockerfile.cpu"),
      "--build-arg", `RUNTIME_IMAGE=${BASE}`, "--build-arg", "BINARY_FROM=prebuilt", "-t", IMAGE, ctx], 300_000);
    if (build.code !== 0) console.error(build.err);
    expect(build.code).toBe(0);
  });

  test("config: non-root user, port 8000, /health check, HF cache volume, vllm serve entrypoint", () => {
    const r = sh(["podman", "image", "inspect", IMAGE, "--format", "{{json .Config}}|{{json .HealthCheck}}"]);
    expect(r.code).toBe(0);
    const [config, health] = r.out.trim().split("|").map((s) => JSON.parse(s));
    expect(config.User).toBe("65532:65532");
    expect(Object.keys(config.ExposedPorts)).toEqual(["8000/tcp"]);
    expect(config.Entrypoint).toEqual(["vllm", "serve"]);
    expect(Object.keys(config.Volumes)).toEqual([HF_HOME]);
    expect(config.Env).toContain(`HF_HOME=${HF_HOME}`);
    expect(health.Test).toEqual(["CMD", "vllm-healthcheck", "8000", "/health"]);
  });

  test("its exported filesystem holds the binary and a cache folder its user owns", () => {
    const cid = sh(["podman", "create", IMAGE]).out.trim();
    expect(cid).toMatch(/^[0-9a-f]{64}$/);
    mkdirSync(root);
    const tar = join(tmp, "rootfs.tar");
    expect(sh(["podman", "export", "-o", tar, cid]).code).toBe(0);
    sh(["podman", "rm", cid]);
    expect(sh(["tar", "-xf", tar, "-C", root]).code).toBe(0);
    rmSync(tar);
    for (const f of ["usr/local/bin/vllm", "usr/local/bin/vllm-healthcheck", "etc/ssl/certs/ca-certificates.crt"]) expect(statSync(join(root, f)).isFile()).toBe(true);
    const cache = statSync(join(root, HF_HOME));
    expect([cache.isDirectory(), cache.uid, cache.gid]).toEqual([true, 65532, 65532]);
  });

  // chroot as the image's user, with /proc and /dev bound in a private mount namespace: the binary runs
  // on the image's own libraries and files, as a container would start it. Every step execs the next,
  // so the spawned pid is vllm itself and a signal reaches it as it would in a container.
  const inImage = (args: string[]) => ["unshare", "--mount", "sh", "-c",
    `mount --bind /proc "$0/proc" && mount --bind /dev "$0/dev" && exec "$@"`, root, ...USER_ENV, CHROOT, "--userspec=65532:65532", root, ...args];

  test.skipIf(!isRoot)("the image's vllm prints its version and generates on the demo model as the host binary does", () => {
    mkdirSync(join(root, "proc"), { recursive: true });
    mkdirSync(join(root, "dev"), { recursive: true });
    expect(sh(inImage(["vllm", "--version"])).out.trim()).toBe(VERSION);
    const gen = ["generate", "--prompt", "Hello", "--max-tokens", "4", "--temperature", "0", "--json", "--kv-cache-memory", "64MiB"];
    const inside = sh(inImage(["vllm", ...gen]));
    expect(inside.code).toBe(0);
    const host = sh([BIN, ...gen]);
    expect(JSON.parse(inside.out).token_ids).toEqual(JSON.parse(host.out).token_ids);
    expect(existsSync(join(root, "home", "nonroot", ".cache", "vllm-bun"))).toBe(true);
  });

  test.skipIf(!isRoot)("the HEALTHCHECK command passes against the image's running server and fails once it stops", async () => {
    const probe = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = String(probe.port);
    probe.stop(true);
    const server = Bun.spawn(inImage(["vllm", "serve", "--host", "127.0.0.1", "--port", port, "--kv-cache-memory", "64MiB", "--disable-log-stats"]), { stdout: "pipe", stderr: "pipe" });
    const check = () => sh([CHROOT, "--userspec=65532:65532", root, "/usr/local/bin/vllm-healthcheck", port, "/health"]).code;
    try {
      const deadline = performance.now() + 60_000;
      while (check() !== 0 && performance.now() < deadline) await Bun.sleep(250);
      expect(check()).toBe(0);
    } finally {
      server.kill("SIGTERM");
      expect(await server.exited).toBe(0); // drained and stopped on SIGTERM, as `docker stop` asks
    }
    expect(check()).toBe(1);
  });

  afterAll(() => {
    rmSync(tmp, { recursive: true, force: true });
    spawnSync("podman", ["rmi", "-f", IMAGE]);
  });
});
