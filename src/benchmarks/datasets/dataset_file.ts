/** Reads a dataset file: one JSON array (or object), or JSON Lines, chosen by the content, not the name. */
import { readFileSync } from "node:fs";

export function readRecords(path: string): Record<string, unknown>[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`--dataset-path ${path}: ${(e as Error).message}`);
  }
  const trimmed = text.trimStart();
  if (trimmed.startsWith("[")) return asRecords(parse(path, trimmed, "the file"), path);
  return trimmed.split("\n").flatMap((line, i) => {
    if (line.trim() === "") return [];
    return asRecords([parse(path, line, `line ${i + 1}`)], path);
  });
}

function parse(path: string, text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`--dataset-path ${path}: ${where} is not valid JSON (${(e as Error).message})`);
  }
}

function asRecords(v: unknown, path: string): Record<string, unknown>[] {
  if (!Array.isArray(v)) throw new Error(`--dataset-path ${path}: expected a JSON array or JSON Lines of objects`);
  return v.filter((r): r is Record<string, unknown> => typeof r === "object" && r !== null && !Array.isArray(r));
}
