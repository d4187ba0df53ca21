/** Helpers of the issue-9 regression tests: model folders with one file changed, and /health latency under load. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type TinyModelName, tinyModelDir } from "../support/tiny_models";

/** A copy (symlinks) of a tiny model with some files rewritten; `cleanup` removes it. */
export function modelVariant(model: TinyModelName, files: Record<string, string>): { dir: string; cleanup: () => void } {
  const base = tinyModelDir(model);
  const dir = mkdtempSync(join(tmpdir(), "vllm-variant-"));
  for (const f of readdirSync(base)) if (!(f in files)) symlinkSync(join(base, f), join(dir, f));
  for (const [f, content] of Object.entries(files)) writeFileSync(join(dir, f), content);
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The tiny model's config.json with fields replaced. */
export function configWith(model: TinyModelName, over: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(readFileSync(join(tinyModelDir(model), "config.json"), "utf8")), ...over });
}

/** Polls GET /health every `everyMs` until `work` settles; returns its result and the slowest /health answer. */
export async function healthDuring<T>(url: string, work: Promise<T>, everyMs = 20): Promise<{ result: T; maxHealthMs: number; polls: number }> {
  let done = false, maxHealthMs = 0, polls = 0;
  const poller = (async () => {
    while (!done) {
      const t0 = performance.now();
      const res = await fetch(`${url}/health`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`/health answered ${res.status}`);
      maxHealthMs = Math.max(maxHealthMs, performance.now() - t0);
      polls++;
      await Bun.sleep(everyMs);
    }
  })();
  try {
    return { result: await work, maxHealthMs, polls };
  } finally {
    done = true;
    await poller;
  }
}
