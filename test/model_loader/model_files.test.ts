/**
 * Issue 9, items 7 and 10: every file read at startup is a regular file under a size cap (a symlink to
 * /dev/zero, a FIFO or a huge file is an error naming it, never a hang), and bad values in those files
 * fail the load naming the file and the field.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCheckpoint } from "../../src/model_loader/checkpoint";
import { ModelLoadError } from "../../src/model_loader/errors";
import { loadGenerationConfig } from "../../src/model_loader/generation_config";
import { loadModelConfig } from "../../src/model_loader/hf_config";
import { MAX_CONFIG_FILE_BYTES, readModelFile } from "../../src/model_loader/model_file";
import { Tokenizer, TokenizerError } from "../../src/tokenizer/tokenizer";
import { tinyModelDir } from "../support/tiny_models";

const base = tinyModelDir("mistral");
const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

/** The tiny model with `file` replaced: by a symlink to `target`, or by `content`. */
function modelWith(file: string, replace: { target?: string; content?: string }): string {
  const dir = mkdtempSync(join(tmpdir(), "vllm-files-"));
  dirs.push(dir);
  for (const f of readdirSync(base)) if (f !== file) symlinkSync(join(base, f), join(dir, f));
  if (replace.target !== undefined) symlinkSync(replace.target, join(dir, file));
  else writeFileSync(join(dir, file), replace.content!);
  return dir;
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error");
}

describe("startup files are regular files under a size cap", () => {
  test("config.json, generation_config.json, tokenizer.json and tokenizer_config.json symlinked to /dev/zero: an error naming the file", () => {
    const cases: [string, (dir: string) => unknown, new (...args: never[]) => Error][] = [
      ["config.json", loadModelConfig, ModelLoadError],
      ["generation_config.json", loadGenerationConfig, ModelLoadError],
      ["tokenizer.json", Tokenizer.fromDir, TokenizerError],
      ["tokenizer_config.json", Tokenizer.fromDir, TokenizerError],
      ["chat_template.jinja", Tokenizer.fromDir, TokenizerError],
    ];
    for (const [file, load, kind] of cases) {
      const dir = modelWith(file, { target: "/dev/zero" });
      const t0 = performance.now();
      const e = errorOf(() => load(dir));
      expect(e).toBeInstanceOf(kind);
      expect(e.message).toContain(join(dir, file));
      expect(e.message).toContain("not a regular file");
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  test("the safetensors index and a directory in place of a file are refused the same way", () => {
    const dir = modelWith("model.safetensors.index.json", { target: "/dev/zero" });
    expect(errorOf(() => openCheckpoint(dir)).message).toContain("model.safetensors.index.json: not a regular file");
    const asDir = modelWith("config.json", { target: tmpdir() });
    expect(errorOf(() => loadModelConfig(asDir)).message).toContain("config.json: not a regular file");
  });

  test("a FIFO does not block the load", () => {
    const dir = mkdtempSync(join(tmpdir(), "vllm-fifo-"));
    dirs.push(dir);
    execFileSync("mkfifo", [join(dir, "config.json")]);
    expect(errorOf(() => loadModelConfig(dir)).message).toContain("config.json: not a regular file");
  });

  test("a file past the cap is refused before it is read", () => {
    const dir = modelWith("config.json", { content: "" });
    truncateSync(join(dir, "config.json"), MAX_CONFIG_FILE_BYTES + 1); // sparse: no disk used
    const e = errorOf(() => loadModelConfig(dir));
    expect(e.message).toContain(`larger than the limit of ${MAX_CONFIG_FILE_BYTES} bytes`);
    expect(readModelFile(join(dir, "absent.json"))).toBeUndefined();
  });
});

describe("startup values are checked at load, naming the file and the field", () => {
  test("generation_config.json with temperature -1 (or another bad default) fails the load", () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ temperature: -1 }, "field 'temperature'"],
      [{ top_p: 1.5 }, "field 'top_p'"],
      [{ top_k: -5 }, "field 'top_k'"],
      [{ max_new_tokens: 0 }, "field 'max_new_tokens'"],
      [{ repetition_penalty: 0 }, "field 'repetition_penalty'"],
    ];
    for (const [config, field] of cases) {
      const dir = modelWith("generation_config.json", { content: JSON.stringify({ eos_token_id: 2, ...config }) });
      const e = errorOf(() => loadGenerationConfig(dir));
      expect(e).toBeInstanceOf(ModelLoadError);
      expect(e.message).toContain(join(dir, "generation_config.json"));
      expect(e.message).toContain(field);
    }
    const ok = modelWith("generation_config.json", { content: JSON.stringify({ eos_token_id: 2, temperature: 0, top_p: 1, top_k: 0 }) });
    expect(loadGenerationConfig(ok)?.temperature).toBe(0);
  });

  test("eos_token_id 10^12 or past vocab_size is refused in generation_config.json and config.json", () => {
    for (const eos of [1e12, 32000, [2, 32000]]) {
      const gen = modelWith("generation_config.json", { content: JSON.stringify({ eos_token_id: eos }) });
      const e = errorOf(() => loadGenerationConfig(gen));
      expect(e.message).toContain(join(gen, "generation_config.json"));
      expect(e.message).toContain("eos_token_id");
    }
    const config = JSON.parse(readFileSync(join(base, "config.json"), "utf8"));
    const cfg = modelWith("config.json", { content: JSON.stringify({ ...config, eos_token_id: 1e12 }) });
    const e = errorOf(() => loadModelConfig(cfg));
    expect(e.message).toContain(join(cfg, "config.json"));
    expect(e.message).toContain("field 'eos_token_id' must be a token id or a list of token ids in [0, vocab_size=32000)");
  });

  test("a malformed tokenizer.json is a TokenizerError naming the file and the field, not a raw TypeError", () => {
    const good = JSON.parse(readFileSync(join(base, "tokenizer.json"), "utf8"));
    const cases: [unknown, string][] = [
      [{ ...good, model: { ...good.model, merges: [1, 2] } }, "model.merges.0"],
      [{ ...good, model: { ...good.model, vocab: null } }, "model.vocab"],
      [{ ...good, added_tokens: 5 }, "added_tokens"],
      [{ ...good, added_tokens: [{ id: "x", content: "a" }] }, "added_tokens.0.id"],
      [{ ...good, pre_tokenizer: "Metaspace" }, "pre_tokenizer"],
      [{ model: { type: "Unigram", vocab: [[1]] } }, "model.vocab.0"],
      [{ model: {} }, "model.vocab"],
      [[], "(root)"],
    ];
    for (const [json, field] of cases) {
      const dir = modelWith("tokenizer.json", { content: JSON.stringify(json) });
      const e = errorOf(() => Tokenizer.fromDir(dir));
      expect(e).toBeInstanceOf(TokenizerError);
      expect(e.message).toContain(`${join(dir, "tokenizer.json")}: field '${field}'`);
    }
    // A shape the check lets through but the library rejects still names its source.
    const e = errorOf(() => Tokenizer.fromJson({ ...good, normalizer: { type: "Bogus" } }, {}, "/m/tokenizer.json"));
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e.message).toContain("/m/tokenizer.json: cannot build the tokenizer: Unknown Normalizer type: Bogus");
  });
});
