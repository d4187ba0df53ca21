/** dist/vllm as a user runs it: copied alone into an empty folder, minimal environment. */
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT, tinyModelDir } from "../support/tiny_models";

const BIN = join(REPO_ROOT, "dist", "vllm");

describe.skipIf(!existsSync(BIN))("dist/vllm (run `npm run build` first)", () => {
  const dir = mkdtempSync(join(tmpdir(), "vllm-bin-"));
  const exe = join(dir, "vllm");
  copyFileSync(BIN, exe);
  const run = (...args: string[]) => {
    const r = spawnSync(exe, args, { cwd: dir, encoding: "utf8", env: { HOME: join(dir, "home"), PATH: "/usr/bin:/bin" }, timeout: 120_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  test("--version and --help", () => {
    expect(run("--version").out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const help = run("--help");
    expect(help.code).toBe(0);
    expect(help.out).toContain("generate");
    expect(help.out).toMatch(/RANDOM weights/);
    const gen = run("generate", "--help");
    expect(gen.out).toContain("--max-tokens");
    expect(gen.out).toContain("--cpu-threads");
  });

  test("generates with the built-in demo model and extracts the kernel library to the cache", () => {
    const r = run("generate", "--prompt", "Hello, my name is", "--prompt", "The sky is", "--max-tokens", "6", "--temperature", "0", "--json", "--logprobs", "2");
    expect(r.code).toBe(0);
    const lines = r.out.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.prompt)).toEqual(["Hello, my name is", "The sky is"]);
    for (const l of lines) {
      expect(l.token_ids.length).toBeGreaterThan(0);
      expect(l.logprobs.length).toBe(l.token_ids.length);
      expect(l.logprobs[0].length).toBe(2);
      expect(["stop", "length"]).toContain(l.finish_reason);
    }
    expect(existsSync(join(dir, "home", ".cache", "vllm-bun"))).toBe(true);
    // Deterministic: the same command gives the same tokens.
    const again = run("generate", "--prompt", "Hello, my name is", "--max-tokens", "6", "--temperature", "0", "--json");
    expect(JSON.parse(again.out.trim()).token_ids).toEqual(lines[0].token_ids);
  });

  test("generates from a model directory, matching the source tree's engine", () => {
    const model = tinyModelDir("qwen3");
    const r = run("generate", "--model", model, "--prompt", "Hi there", "--max-tokens", "5", "--temperature", "0", "--json", "--chat");
    expect(r.code).toBe(0);
    const line = JSON.parse(r.out.trim());
    expect(line.prompt_token_ids[0]).toBe(151644); // <|im_start|> from the chat template
  });

  test("bad input is a clear error naming the flag or file", () => {
    const unknown = run("generate", "--prompt", "x", "--max-tokenz", "3");
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("--max-tokenz");
    const missing = run("generate", "--model", join(dir, "nope"), "--prompt", "x");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(join(dir, "nope"));
    const badInt = run("generate", "--prompt", "x", "--max-tokens", "ten");
    expect(badInt.err).toContain("--max-tokens");
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});
