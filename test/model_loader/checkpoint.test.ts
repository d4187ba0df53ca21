import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { INDEX_FILE, openCheckpoint } from "../../src/model_loader/checkpoint";
import { ModelLoadError } from "../../src/model_loader/errors";
import { writeSafetensors } from "../../src/model_loader/safetensors_writer";

const root = mkdtempSync(join(tmpdir(), "vllm-bun-checkpoint-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirCounter = 0;
function freshDir(): string {
  const d = join(root, `m${dirCounter++}`);
  mkdirSync(d);
  return d;
}

/** Writes one U8 tensor per name, each holding its own index so views can be told apart. */
function shard(dir: string, file: string, names: string[]): void {
  writeSafetensors(join(dir, file), names.map((name, i) => ({
    name, dtype: "U8" as const, shape: [2], data: new Uint8Array([i, name.length]),
  })));
}

function index(dir: string, content: unknown): void {
  writeFileSync(join(dir, INDEX_FILE), typeof content === "string" ? content : JSON.stringify(content));
}

function loadError(fn: () => unknown): ModelLoadError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelLoadError);
    return e as ModelLoadError;
  }
  throw new Error("expected a ModelLoadError");
}

describe("openCheckpoint layouts", () => {
  test("single model.safetensors", () => {
    const d = freshDir();
    shard(d, "model.safetensors", ["a.weight", "b.weight"]);
    const ckpt = openCheckpoint(d);
    expect(ckpt.dir).toBe(d);
    expect(ckpt.files.length).toBe(1);
    expect(ckpt.has("a.weight")).toBe(true);
    expect(ckpt.has("c.weight")).toBe(false);
    expect([...ckpt.get("b.weight").data]).toEqual([1, 8]);
    expect(ckpt.get("b.weight").file).toBe(join(d, "model.safetensors"));
  });

  test("sharded with index.json opens each shard once", () => {
    const d = freshDir();
    shard(d, "model-00001-of-00002.safetensors", ["x", "y"]);
    shard(d, "model-00002-of-00002.safetensors", ["z"]);
    index(d, {
      metadata: { total_size: 6 },
      weight_map: { x: "model-00001-of-00002.safetensors", z: "model-00002-of-00002.safetensors", y: "model-00001-of-00002.safetensors" },
    });
    const ckpt = openCheckpoint(d);
    expect(ckpt.files.map((f) => f.path)).toEqual([
      join(d, "model-00001-of-00002.safetensors"), join(d, "model-00002-of-00002.safetensors"),
    ]);
    expect([...ckpt.tensors.keys()].sort()).toEqual(["x", "y", "z"]);
    expect(ckpt.get("z").file).toBe(join(d, "model-00002-of-00002.safetensors"));
  });

  test("index.json takes precedence over a stray model.safetensors", () => {
    const d = freshDir();
    shard(d, "s1.safetensors", ["x"]);
    shard(d, "model.safetensors", ["other"]);
    index(d, { weight_map: { x: "s1.safetensors" } });
    expect(openCheckpoint(d).has("other")).toBe(false);
  });

  test("without index or model.safetensors, all *.safetensors in name order", () => {
    const d = freshDir();
    shard(d, "b.safetensors", ["from_b"]);
    shard(d, "a.safetensors", ["from_a"]);
    writeFileSync(join(d, "notes.txt"), "not weights");
    const ckpt = openCheckpoint(d);
    expect(ckpt.files.map((f) => f.path)).toEqual([join(d, "a.safetensors"), join(d, "b.safetensors")]);
    expect(ckpt.has("from_a") && ckpt.has("from_b")).toBe(true);
  });
});

describe("openCheckpoint errors", () => {
  test("missing directory", () => {
    const d = join(root, "does-not-exist");
    expect(loadError(() => openCheckpoint(d)).message).toContain(d);
  });

  test("no weights lists what was looked for", () => {
    const d = freshDir();
    const e = loadError(() => openCheckpoint(d));
    expect(e.message).toContain(d);
    expect(e.message).toContain(INDEX_FILE);
    expect(e.message).toContain(", model.safetensors and");
    expect(e.message).toContain("*.safetensors");
  });

  test("missing tensor names the tensor and the dir", () => {
    const d = freshDir();
    shard(d, "model.safetensors", ["a"]);
    const e = loadError(() => openCheckpoint(d).get("lm_head.weight"));
    expect(e.tensor).toBe("lm_head.weight");
    expect(e.file).toBe(d);
    expect(e.message).toMatch(/lm_head\.weight.*not found/);
  });

  test("same tensor in two files", () => {
    const d = freshDir();
    shard(d, "a.safetensors", ["w"]);
    shard(d, "b.safetensors", ["w"]);
    const e = loadError(() => openCheckpoint(d));
    expect(e.tensor).toBe("w");
    expect(e.message).toContain(join(d, "a.safetensors"));
    expect(e.message).toContain(join(d, "b.safetensors"));
  });

  test("index.json that is not JSON", () => {
    const d = freshDir();
    index(d, "{ weight_map: ");
    const e = loadError(() => openCheckpoint(d));
    expect(e.file).toBe(join(d, INDEX_FILE));
    expect(e.message).toMatch(/cannot read index/);
  });

  test("index.json without a weight_map object", () => {
    for (const content of [{}, { weight_map: [] }, { weight_map: "model.safetensors" }, [1]]) {
      const d = freshDir();
      index(d, content);
      expect(loadError(() => openCheckpoint(d)).message).toMatch(/'weight_map' must be an object/);
    }
  });

  test("shard names that escape the directory or are not strings", () => {
    for (const bad of ["../model.safetensors", "sub/model.safetensors", "..\\x.safetensors", "", 3, null]) {
      const d = freshDir();
      index(d, { weight_map: { w: bad } });
      const e = loadError(() => openCheckpoint(d));
      expect(e.tensor).toBe("w");
      expect(e.message).toMatch(/must be a plain file name/);
    }
  });

  test("missing shard", () => {
    const d = freshDir();
    shard(d, "s1.safetensors", ["x"]);
    index(d, { weight_map: { x: "s1.safetensors", y: "s2.safetensors" } });
    const e = loadError(() => openCheckpoint(d));
    expect(e.file).toBe(join(d, INDEX_FILE));
    expect(e.message).toMatch(/shard 's2\.safetensors' does not exist/);
  });

  test("tensor listed in the index but absent from its shard", () => {
    const d = freshDir();
    shard(d, "s1.safetensors", ["x"]);
    shard(d, "s2.safetensors", ["y"]);
    index(d, { weight_map: { x: "s1.safetensors", y: "s1.safetensors" } });
    const e = loadError(() => openCheckpoint(d));
    expect(e.file).toBe(join(d, "s1.safetensors"));
    expect(e.tensor).toBe("y");
    expect(e.message).toMatch(/listed in model\.safetensors\.index\.json but missing from this shard/);
  });

  test("a malformed shard surfaces the shard's own error", () => {
    const d = freshDir();
    writeFileSync(join(d, "model.safetensors"), new Uint8Array(3));
    const e = loadError(() => openCheckpoint(d));
    expect(e.file).toBe(join(d, "model.safetensors"));
    expect(e.message).toMatch(/too short/);
  });
});
