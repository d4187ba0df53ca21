/** A small argv parser driven by flag tables, so every command lists its flags and defaults in --help. */

export type FlagType = "string" | "int" | "float" | "bool" | "strings" | "size";

export interface FlagSpec {
  name: string; // without dashes, e.g. "max-model-len"
  type: FlagType;
  default?: unknown;
  help: string;
  /** Accepted values for string flags. */
  choices?: readonly string[];
  /** bool flags: also accept --no-<name>. */
  negatable?: boolean;
  /** Environment variable used when the flag is absent. */
  env?: string;
  /** Other spellings: "tp" (written -tp) or a long name such as "kv-cache-memory-bytes". */
  aliases?: readonly string[];
}

export class ArgError extends Error {}

export interface ParsedArgs {
  values: Record<string, unknown>;
  positionals: string[];
  help: boolean;
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const short = new Map<string, FlagSpec>();
  for (const s of specs) for (const a of s.aliases ?? []) (a.length <= 3 ? short : byName).set(a, s);
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") { help = true; continue; }
    if (isShortOption(a)) {
      const [flag, inlineShort] = splitEq(a.slice(1));
      const spec = short.get(flag);
      if (!spec) throw new ArgError(`unrecognized argument: -${flag} (see --help)`);
      argv = [...argv.slice(0, i), `--${spec.name}`, ...(inlineShort === undefined ? [] : [inlineShort]), ...argv.slice(i + 1)];
      i--;
      continue;
    }
    if (!a.startsWith("--") || a === "--") { positionals.push(a); continue; }
    let [name, inline] = splitEq(a.slice(2));
    name = name.replaceAll("_", "-");
    let spec = byName.get(name);
    if (spec && spec.name !== name) name = spec.name;
    const negated = spec ? undefined : byName.get(name.slice(3));
    if (name.startsWith("no-") && negated?.negatable) {
      values[negated.name] = false;
      continue;
    }
    if (!spec) throw new ArgError(`unrecognized argument: --${name} (see --help)`);
    if (spec.type === "bool") {
      values[name] = inline === undefined ? true : parseBool(name, inline);
      continue;
    }
    if (spec.type === "strings") {
      const list: string[] = inline !== undefined ? [inline] : [];
      while (inline === undefined && i + 1 < argv.length && !isOption(argv[i + 1])) list.push(argv[++i]);
      if (list.length === 0) throw new ArgError(`argument --${name}: expected at least one value`);
      values[name] = [...((values[name] as string[]) ?? []), ...list];
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new ArgError(`argument --${name}: expected a value`);
    values[name] = convert(spec, raw);
  }
  for (const s of specs) {
    if (values[s.name] !== undefined) continue;
    const fromEnv = s.env ? process.env[s.env] : undefined;
    values[s.name] = fromEnv !== undefined && fromEnv !== "" ? convert(s, fromEnv) : s.default;
  }
  return { values, positionals, help };
}

/** -tp, -x: a single dash and a letter; "-1" stays a value and "-" a positional. */
function isShortOption(a: string): boolean {
  return /^-[A-Za-z]/.test(a);
}

function isOption(a: string): boolean {
  return a.startsWith("--") || isShortOption(a);
}

function splitEq(s: string): [string, string | undefined] {
  const i = s.indexOf("=");
  return i < 0 ? [s, undefined] : [s.slice(0, i), s.slice(i + 1)];
}

function parseBool(name: string, v: string): boolean {
  if (/^(true|1|yes)$/i.test(v)) return true;
  if (/^(false|0|no)$/i.test(v)) return false;
  throw new ArgError(`argument --${name}: expected true or false, got '${v}'`);
}

function convert(spec: FlagSpec, raw: string): unknown {
  const bad = (what: string) => new ArgError(`argument --${spec.name}: invalid ${what} value: '${raw}'`);
  switch (spec.type) {
    case "int": {
      if (!/^-?\d+$/.test(raw.trim())) throw bad("int");
      return Number(raw);
    }
    case "float": {
      const v = Number(raw);
      if (raw.trim() === "" || !Number.isFinite(v)) throw bad("float");
      return v;
    }
    case "size": return parseSize(raw, spec.name);
    case "bool": return parseBool(spec.name, raw);
    case "strings": return [raw];
    default:
      if (spec.choices && !spec.choices.includes(raw))
        throw new ArgError(`argument --${spec.name}: invalid choice: '${raw}' (choose from ${spec.choices.join(", ")})`);
      return raw;
  }
}

/** "4096", "2k", "2K" (×1000 and ×1024 as vLLM reads them), "4GiB", "1.5GB". */
export function parseSize(raw: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(raw);
  if (!m) throw new ArgError(`argument --${flag}: invalid size: '${raw}'`);
  const n = Number(m[1]);
  const unit = m[2];
  const binary = unit !== "" && (unit === unit.toUpperCase() || m[3].toLowerCase().startsWith("i"));
  const pow = unit === "" ? 0 : "kmgt".indexOf(unit.toLowerCase()) + 1;
  const v = Math.round(n * (binary ? 1024 : 1000) ** pow);
  if (!Number.isSafeInteger(v) || v <= 0) throw new ArgError(`argument --${flag}: invalid size: '${raw}'`);
  return v;
}

export function formatHelp(usage: string, description: string, specs: readonly FlagSpec[]): string {
  const lines = [`usage: ${usage}`, "", description, "", "options:"];
  for (const s of specs) {
    const aliases = (s.aliases ?? []).map((x) => `, ${x.length <= 3 ? "-" : "--"}${x}`).join("");
    const flag = `--${s.name}${aliases}${s.negatable ? `, --no-${s.name}` : ""}${s.type === "bool" ? "" : ` ${s.type.toUpperCase()}`}`;
    const def = s.default === undefined || s.default === null ? "" : ` (default: ${JSON.stringify(s.default)})`;
    const env = s.env ? ` [env ${s.env}]` : "";
    const choices = s.choices ? ` {${s.choices.join(",")}}` : "";
    lines.push(`  ${flag.padEnd(44)} ${s.help}${choices}${def}${env}`);
  }
  return lines.join("\n");
}
