/**
 * Hub resolution against a local stand-in of the hub serving a tiny model: the cache layout the Python
 * tools share, etag checks, resumed transfers, the errors a user sees, offline use, and the CLI.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findModelLocally, isRepoId, resolveModelPath, type ResolveOptions } from "../../src/model_loader/hf_hub";
import { DownloadProgress, formatDuration } from "../../src/model_loader/hf_hub_progress";
import { hubSettings } from "../../src/model_loader/hf_hub_settings";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";
import { FakeHub, gitBlobSha1, repoFromDir, sha256 } from "./hf_hub_server";

const BUN = join(REPO_ROOT, "node_modules", ".bin", "bun");
const MAIN = join(REPO_ROOT, "src", "cli", "main.ts");
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const REPO = "test-org/tiny-llama";
const SHARD = "model-00001-of-00003.safetensors"; // 16 MB, big enough to break midway

const modelDir = tinyModelDir("llama3_sharded");
const hub = new FakeHub();
const tmp = mkdtempSync(join(tmpdir(), "vllm-hub-"));
let cacheDir = "";
let lines: string[] = [];

// Duplicates in other formats and repo clutter, which must never be fetched.
const EXTRA = { "pytorch_model.bin": "not loaded", "consolidated.safetensors": "not loaded", "README.md": "# tiny", ".gitattributes": "*.safetensors filter=lfs" };

function options(over: Partial<ResolveOptions> = {}): ResolveOptions {
  return {
    cacheDir, endpoint: hub.endpoint, revision: "main", token: null, offline: false, retries: 3,
    progress: { isTTY: false, write: (t) => void lines.push(t) }, log: (l) => void lines.push(l), ...over,
  };
}

beforeEach(() => {
  cacheDir = mkdtempSync(join(tmp, "cache-"));
  lines = [];
  hub.requests.length = 0;
  hub.breaks.clear();
  hub.corrupt.clear();
  hub.ignoreRanges = false;
  hub.repos.clear();
  hub.repos.set(REPO, { ...repoFromDir(modelDir, COMMIT, EXTRA), refs: ["main", "v1.0"] });
});

afterAll(() => {
  hub.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const snapshotOf = (cache: string) => join(cache, "models--test-org--tiny-llama", "snapshots", COMMIT);
const cdnGets = () => hub.requests.filter((r) => r.host === "cdn" && r.method === "GET");

describe("download into the Hugging Face cache layout", () => {
  test("fetches only what the engine loads, as blobs named by etag with relative snapshot links", async () => {
    const r = await resolveModelPath(REPO, options({ token: "hf_public" }));
    expect(r).toEqual({ dir: snapshotOf(cacheDir), servedName: REPO, source: "hub" });
    const repoDir = join(cacheDir, "models--test-org--tiny-llama");
    expect(readFileSync(join(repoDir, "refs", "main"), "utf8")).toBe(COMMIT);
    for (const [name, data] of hub.repos.get(REPO)!.files) {
      const link = join(r.dir, name);
      if (name in EXTRA) { expect(existsSync(link)).toBe(false); continue; }
      const etag = name.endsWith(".safetensors") ? sha256(data) : gitBlobSha1(data);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toBe(`../../blobs/${etag}`);
      expect(readFileSync(link)).toEqual(Buffer.from(data));
    }
    const fetched = hub.requests.filter((q) => q.method === "GET" || q.method === "HEAD").map((q) => q.path);
    for (const name of Object.keys(EXTRA)) expect(fetched.some((p) => p.endsWith(`/${name}`))).toBe(false);
    // The token goes to the hub, never to the CDN the hub redirects to.
    expect(hub.requests.filter((q) => q.host === "hub").every((q) => q.auth === "Bearer hf_public")).toBe(true);
    expect(cdnGets().length).toBe(3);
    expect(cdnGets().every((q) => q.auth === null)).toBe(true);
    expect(lines.some((l) => l.startsWith(`Downloading ${SHARD} `))).toBe(true);
    expect(lines.some((l) => /^Downloaded \d+ file\(s\), [\d.]+ MiB in/.test(l))).toBe(true);
  });

  test("a second resolution is served from the cache without asking the hub", async () => {
    await resolveModelPath(REPO, options());
    hub.requests.length = 0;
    const again = await resolveModelPath(REPO, options());
    expect(again.source).toBe("cache");
    expect(again.dir).toBe(snapshotOf(cacheDir));
    expect(hub.requests).toEqual([]);
  });

  test("a tag and a commit hash resolve to the same snapshot", async () => {
    const tag = await resolveModelPath(REPO, options({ revision: "v1.0" }));
    expect(readFileSync(join(cacheDir, "models--test-org--tiny-llama", "refs", "v1.0"), "utf8")).toBe(COMMIT);
    const byCommit = await resolveModelPath(REPO, options({ revision: COMMIT, offline: true }));
    expect(byCommit).toEqual({ ...tag, source: "cache" });
  });

  test("blobs already cached are linked, not fetched again", async () => {
    await resolveModelPath(REPO, options());
    rmSync(join(cacheDir, "models--test-org--tiny-llama", "snapshots"), { recursive: true });
    hub.requests.length = 0;
    await resolveModelPath(REPO, options());
    expect(cdnGets()).toEqual([]);
    expect(existsSync(join(snapshotOf(cacheDir), SHARD))).toBe(true);
  });
});

describe("broken transfers and verification", () => {
  test("a transfer cut short resumes with a Range request in the same run", async () => {
    hub.breaks.set(SHARD, { times: 1, cutAfter: 1_000_000 });
    const r = await resolveModelPath(REPO, options());
    expect(r.source).toBe("hub");
    const shardGets = cdnGets().filter((q) => q.path.includes(sha256(hub.repos.get(REPO)!.files.get(SHARD)!)));
    expect(shardGets.map((q) => q.range)).toEqual([null, "bytes=1000000-"]);
    expect(readFileSync(join(r.dir, SHARD))).toEqual(Buffer.from(hub.repos.get(REPO)!.files.get(SHARD)!));
    expect(lines.some((l) => l.includes(`${SHARD}: the transfer stopped at 1000000 of`) && l.includes("resuming"))).toBe(true);
  });

  test("a connection reset mid-body resumes from the bytes that arrived", async () => {
    hub.breaks.set(SHARD, { times: 1, cutAfter: 3_000_000, reset: true });
    const r = await resolveModelPath(REPO, options());
    const ranges = cdnGets().filter((q) => q.path.includes(sha256(hub.repos.get(REPO)!.files.get(SHARD)!))).map((q) => q.range);
    expect(ranges.length).toBe(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(ranges[1] ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(3_000_000);
    expect(readFileSync(join(r.dir, SHARD))).toEqual(Buffer.from(hub.repos.get(REPO)!.files.get(SHARD)!));
  });

  test("an interrupted run keeps the partial file and the next run resumes from it", async () => {
    const data = hub.repos.get(REPO)!.files.get(SHARD)!;
    hub.breaks.set(SHARD, { times: 1, cutAfter: 2_000_000 });
    const first = resolveModelPath(REPO, options({ retries: 0 }));
    await expect(first).rejects.toThrow(/the next run resumes from there/);
    const partial = join(cacheDir, "models--test-org--tiny-llama", "blobs", `${sha256(data)}.incomplete`);
    expect(statSync(partial).size).toBe(2_000_000);
    expect(existsSync(join(cacheDir, "models--test-org--tiny-llama", "refs", "main"))).toBe(false);
    hub.requests.length = 0;
    lines = [];
    const second = await resolveModelPath(REPO, options({ retries: 0 }));
    // The shard resumes where it stopped; the shards the broken run never reached are fetched whole.
    expect(cdnGets().filter((q) => q.path.includes(sha256(data))).map((q) => q.range)).toEqual(["bytes=2000000-"]);
    expect(cdnGets().filter((q) => !q.path.includes(sha256(data))).map((q) => q.range)).toEqual([null, null]);
    expect(lines.some((l) => l.includes("kept from an earlier run"))).toBe(true);
    expect(readFileSync(join(second.dir, SHARD))).toEqual(Buffer.from(data));
    expect(existsSync(partial)).toBe(false);
  });

  test("a server that ignores the Range header gets the whole file again, still verified", async () => {
    hub.breaks.set(SHARD, { times: 1, cutAfter: 500_000 });
    hub.ignoreRanges = true;
    const r = await resolveModelPath(REPO, options());
    expect(readFileSync(join(r.dir, SHARD))).toEqual(Buffer.from(hub.repos.get(REPO)!.files.get(SHARD)!));
  });

  test("content that does not match the etag is refused and removed", async () => {
    hub.corrupt.add(SHARD);
    const data = hub.repos.get(REPO)!.files.get(SHARD)!;
    await expect(resolveModelPath(REPO, options())).rejects.toThrow(new RegExp(`${SHARD}: the download does not match the hub \\(sha256 [0-9a-f]{64}, expected ${sha256(data)}\\)`));
    const blobs = join(cacheDir, "models--test-org--tiny-llama", "blobs");
    expect(existsSync(join(blobs, sha256(data)))).toBe(false);
    expect(existsSync(join(blobs, `${sha256(data)}.incomplete`))).toBe(false);
  });

  test("a small git file is checked against its git blob sha1", async () => {
    hub.corrupt.add("config.json");
    await expect(resolveModelPath(REPO, options())).rejects.toThrow(/config\.json: the download does not match the hub \(git-sha1 [0-9a-f]{40}, expected [0-9a-f]{40}\)/);
  });
});

describe("errors name the cause", () => {
  test("an unknown repo: 401, and the hint to set HF_TOKEN", async () => {
    await expect(resolveModelPath("test-org/nope", options())).rejects.toThrow(/test-org\/nope: 401: no such repository on http:\/\/127\.0\.0\.1:\d+, if it is gated or private: set HF_TOKEN/);
  });

  test("a private repo: 401 without the token, works with it", async () => {
    hub.repos.set("test-org/private", { ...repoFromDir(modelDir, COMMIT), privateToken: "hf_secret" });
    await expect(resolveModelPath("test-org/private", options())).rejects.toThrow(/set HF_TOKEN/);
    expect((await resolveModelPath("test-org/private", options({ token: "hf_secret" }))).source).toBe("hub");
  });

  test("a gated repo with a token lacking access: 403 gated", async () => {
    hub.repos.set("test-org/gated", { ...repoFromDir(modelDir, COMMIT), gatedToken: "hf_accepted" });
    await expect(resolveModelPath("test-org/gated", options({ token: "hf_other" }))).rejects.toThrow(/test-org\/gated: 403: the repository is gated or private: set HF_TOKEN .* accepted its terms at http:\/\/127\.0\.0\.1:\d+\/test-org\/gated/);
  });

  test("an unknown revision: 404 naming --revision", async () => {
    await expect(resolveModelPath(REPO, options({ revision: "nope" }))).rejects.toThrow(/404: no revision 'nope' \(--revision\)/);
  });

  test("a repo with only .bin weights is refused before any download", async () => {
    hub.repos.set("test-org/bin-only", { commit: COMMIT, refs: ["main"], files: new Map([["config.json", new TextEncoder().encode("{}")], ["pytorch_model.bin", new Uint8Array(8)]]) });
    await expect(resolveModelPath("test-org/bin-only", options())).rejects.toThrow(/no safetensors weights in the repository \(it has pytorch_model\.bin\)/);
  });

  test("an unreachable hub names the endpoint and the offline switch", async () => {
    await expect(resolveModelPath(REPO, options({ endpoint: "http://127.0.0.1:9" }))).rejects.toThrow(/cannot reach http:\/\/127\.0\.0\.1:9 .*HF_HUB_OFFLINE=1/);
  });
});

describe("offline and cache-only resolution", () => {
  test("HF_HUB_OFFLINE with nothing cached says so and names the cache", () => {
    expect(() => findModelLocally(REPO, options({ offline: true }))).toThrow(
      new RegExp(`--model ${REPO}: HF_HUB_OFFLINE is set and revision 'main' is not in the Hugging Face cache \\(no refs/main in ${cacheDir}/models--test-org--tiny-llama\\)`));
    expect(hub.requests).toEqual([]);
  });

  test("a cache filled by other tools (refs + snapshot of real files) is used offline", async () => {
    const snap = snapshotOf(cacheDir);
    mkdirSync(snap, { recursive: true });
    for (const name of hub.repos.get(REPO)!.files.keys()) if (!(name in EXTRA)) symlinkSync(join(modelDir, name), join(snap, name));
    mkdirSync(join(cacheDir, "models--test-org--tiny-llama", "refs"));
    writeFileSync(join(cacheDir, "models--test-org--tiny-llama", "refs", "main"), COMMIT);
    expect(await resolveModelPath(REPO, options({ offline: true }))).toEqual({ dir: snap, servedName: REPO, source: "cache" });
    rmSync(join(snap, SHARD));
    expect(() => findModelLocally(REPO, options({ offline: true }))).toThrow(new RegExp(`${snap} lacks ${SHARD}`));
    // Online, the half-filled snapshot is completed from the hub.
    expect((await resolveModelPath(REPO, options())).source).toBe("hub");
    expect(statSync(join(snap, SHARD)).isFile()).toBe(true);
  });

  test("local directories and the demo model never touch the cache or the hub", () => {
    expect(findModelLocally(modelDir, options({ offline: true }))).toEqual({ dir: modelDir, servedName: modelDir, source: "local" });
    expect(findModelLocally("demo", options())).toEqual({ dir: "demo", servedName: "demo", source: "builtin" });
    expect(() => findModelLocally("/no/such/dir", options())).toThrow("--model /no/such/dir: no such model directory, and not a Hugging Face repo id");
  });
});

describe("settings and helpers", () => {
  test("cache dir, token and offline follow the Python tools' variables", () => {
    const home = join(tmp, "home");
    mkdirSync(join(home, ".cache", "huggingface"), { recursive: true });
    writeFileSync(join(home, ".cache", "huggingface", "token"), "hf_saved\n");
    const none = { revision: null, downloadDir: null, hfToken: null };
    expect(hubSettings(none, { HOME: home })).toEqual({ cacheDir: join(home, ".cache", "huggingface", "hub"), endpoint: "https://huggingface.co", revision: "main", token: "hf_saved", offline: false });
    expect(hubSettings(none, { HOME: home, HF_HOME: "/hf", HF_TOKEN: "hf_env", HF_HUB_OFFLINE: "1", HF_ENDPOINT: "http://mirror/" }))
      .toEqual({ cacheDir: "/hf/hub", endpoint: "http://mirror", revision: "main", token: "hf_env", offline: true });
    expect(hubSettings({ revision: "v2", downloadDir: "/dl", hfToken: "hf_flag" }, { HOME: home, HF_HUB_CACHE: "/c", HF_TOKEN: "hf_env" }))
      .toMatchObject({ cacheDir: "/dl", revision: "v2", token: "hf_flag" });
    expect(hubSettings(none, { HOME: home, HF_HUB_CACHE: "/c", HF_HOME: "/hf" }).cacheDir).toBe("/c");
  });

  test("repo ids follow the hub's rules", () => {
    for (const ok of ["Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B-Instruct", "gpt2", "org/name.v1"]) expect(isRepoId(ok)).toBe(true);
    for (const bad of ["/abs/path", "./rel", "a/b/c", "org--x/name", "org/na..me", "org/name.git", "-org/name", ""]) expect(isRepoId(bad)).toBe(false);
  });

  test("progress lines show bytes, rate and ETA; the terminal bar redraws in place", () => {
    let t = 0;
    const out: string[] = [];
    const p = new DownloadProgress({ isTTY: true, write: (s) => void out.push(s) }, 100 * 1024 * 1024, 2, 0, () => t);
    p.startFile("model.safetensors", 0);
    t = 2000;
    p.advance(20 * 1024 * 1024);
    expect(out.at(-1)).toBe("\rmodel.safetensors (1/2) [####                ] 20.0 MiB / 100.0 MiB 20% 10.0 MiB/s ETA 0:08\x1b[K");
    expect(formatDuration(3725)).toBe("1:02:05");
  });
});

describe("the CLI resolves hub ids", () => {
  // Spawned without blocking: the stand-in hub answers from this process's event loop.
  const cli = async (args: string[], env: Record<string, string>) => {
    const p = Bun.spawn([BUN, MAIN, ...args], { cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, HF_TOKEN: "", ...env } });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, out, err };
  };
  const gen = ["--prompt", "Hello there", "--max-tokens", "6", "--temperature", "0", "--json", "--kv-cache-memory", "32MiB", "--device", "cpu"];

  test("generate --model ORG/NAME downloads, then runs offline from the cache, matching the local dir", async () => {
    const cache = join(tmp, "cli-cache");
    const local = await cli(["generate", "--model", modelDir, ...gen], {});
    expect(local.code).toBe(0);
    const fromHub = await cli(["generate", "--model", REPO, ...gen], { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache });
    expect(fromHub.err).toContain(`${REPO}: revision 'main' is commit ${COMMIT}`);
    expect(fromHub.code).toBe(0);
    expect(JSON.parse(fromHub.out).token_ids).toEqual(JSON.parse(local.out).token_ids);
    hub.requests.length = 0;
    const offline = await cli(["generate", REPO, ...gen], { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache, HF_ENDPOINT: "http://127.0.0.1:9" });
    expect(offline.code).toBe(0);
    expect(JSON.parse(offline.out).token_ids).toEqual(JSON.parse(local.out).token_ids);
    expect(hub.requests).toEqual([]);
  });

  test("a failed download exits 1 with the cause; offline with nothing cached too", async () => {
    const cache = join(tmp, "cli-empty");
    const missing = await cli(["generate", "--model", "test-org/nope", ...gen], { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error: test-org\/nope: 401: no such repository .* set HF_TOKEN/m);
    const offline = await cli(["generate", "--model", REPO, ...gen], { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache });
    expect(offline.code).toBe(1);
    expect(offline.err).toContain("HF_HUB_OFFLINE is set");
  });

  test("serve ORG/NAME serves it under the id as given, not the snapshot path", async () => {
    const cache = join(tmp, "cli-cache");
    const proc = Bun.spawn([BUN, MAIN, "serve", REPO, "--host", "127.0.0.1", "--port", "0", "--kv-cache-memory", "32MiB", "--disable-log-stats", "--device", "cpu"], {
      cwd: REPO_ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env, HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache },
    });
    let text = "";
    const reader = proc.stdout.getReader();
    const deadline = performance.now() + 30_000;
    let url: string | null = null;
    while (url === null && performance.now() < deadline) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
      url = /serving test-org\/tiny-llama on (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1] ?? null;
    }
    try {
      expect(url).not.toBeNull();
      const models = await (await fetch(`${url}/v1/models`)).json() as { data: { id: string; root?: string }[] };
      expect(models.data.map((m) => m.id)).toEqual([REPO]);
    } finally {
      proc.kill();
      await proc.exited;
    }
  });
});
