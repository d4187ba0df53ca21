/** `--config FILE`: vLLM's YAML of `flag: value`, turned into argv; flags on the command line win. */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ArgError, type FlagSpec } from "./arg_parser";

/** argv with `--config FILE` replaced by the file's flags, placed first and without those the command line sets. */
export function expandConfigFile(argv: readonly string[], specs: readonly FlagSpec[]): string[] {
  const at = argv.findIndex((a) => a === "--config" || a.startsWith("--config="));
  if (at < 0) return [...argv];
  const inline = argv[at].startsWith("--config=") ? argv[at].slice("--config=".length) : undefined;
  const path = inline ?? argv[at + 1];
  if (path === undefined || path === "") throw new ArgError("argument --config: expected a YAML file");
  const rest = [...argv.slice(0, at), ...argv.slice(at + (inline === undefined ? 2 : 1))];
  if (rest.some((a) => a === "--config" || a.startsWith("--config="))) throw new ArgError("argument --config: given more than once");
  const onCommandLine = new Set(rest.flatMap((a) => flagNames(a, specs)));
  const fromFile = configArgv(path, specs).filter(([name]) => !onCommandLine.has(name)).flatMap(([, tokens]) => tokens);
  return [...fromFile, ...rest];
}

/** Reads FILE into [flag name, argv tokens] pairs; a nested value or an unknown key is an error naming it. */
export function configArgv(path: string, specs: readonly FlagSpec[]): [string, string[]][] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ArgError(`argument --config: cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ArgError(`argument --config: ${path} is not valid YAML: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== "object" || Array.isArray(doc)) throw new ArgError(`argument --config: ${path} must be a mapping of flag: value`);
  return Object.entries(doc as Record<string, unknown>).map(([key, value]) => {
    const spec = findSpec(key.replaceAll("_", "-"), specs);
    if (!spec) throw new ArgError(`argument --config: ${path}: unknown key '${key}'`);
    return [spec.name, tokensFor(spec, key, value, path)];
  });
}

function tokensFor(spec: FlagSpec, key: string, value: unknown, path: string): string[] {
  const flag = `--${spec.name}`;
  const scalar = (v: unknown): string => {
    if (v === null || typeof v === "object") throw new ArgError(`argument --config: ${path}: '${key}' must be a plain value, not a nested one`);
    return String(v);
  };
  if (spec.type === "bool") {
    if (typeof value !== "boolean") throw new ArgError(`argument --config: ${path}: '${key}' must be true or false`);
    return value ? [flag] : spec.negatable ? [`--no-${spec.name}`] : [`${flag}=false`];
  }
  if (Array.isArray(value)) {
    if (spec.type !== "strings") throw new ArgError(`argument --config: ${path}: '${key}' takes one value, not a list`);
    return value.map((v) => `${flag}=${scalar(v)}`);
  }
  return [`${flag}=${scalar(value)}`];
}

function findSpec(name: string, specs: readonly FlagSpec[]): FlagSpec | undefined {
  return specs.find((s) => s.name === name || (s.aliases ?? []).includes(name));
}

/** The spec names an argv token sets: --name, --name=v, --no-name, -tp. */
function flagNames(a: string, specs: readonly FlagSpec[]): string[] {
  const m = /^--?([^=]+)/.exec(a);
  if (!m) return [];
  const name = m[1].replaceAll("_", "-");
  const spec = findSpec(name, specs) ?? (name.startsWith("no-") ? findSpec(name.slice(3), specs) : undefined);
  return spec ? [spec.name] : [];
}
