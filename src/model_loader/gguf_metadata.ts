// Typed reads of GGUF metadata: a missing required key or a value of the wrong type is a ModelLoadError
// naming the key and the file. Integer reads accept every integer width, as writers differ in the one
// they pick for the same key.
import { ModelLoadError } from "./errors";
import type { GgufEntry, GgufFile } from "./gguf";
import { GgufValueType } from "./gguf_types";

const INT_TYPES = new Set([
  GgufValueType.UINT8, GgufValueType.INT8, GgufValueType.UINT16, GgufValueType.INT16, GgufValueType.UINT32,
  GgufValueType.INT32, GgufValueType.UINT64, GgufValueType.INT64,
]);
const FLOAT_TYPES = new Set([GgufValueType.FLOAT32, GgufValueType.FLOAT64]);

export class GgufMetadata {
  constructor(readonly file: GgufFile) {}

  get path(): string {
    return this.file.path;
  }

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  fail(key: string, detail: string): never {
    throw new ModelLoadError(this.path, `metadata '${key}' ${detail}`);
  }

  string(key: string): string;
  string(key: string, optional: true): string | null;
  string(key: string, optional = false): string | null {
    const e = this.entry(key, optional);
    if (e === null) return null;
    if (e.type !== GgufValueType.STRING) this.fail(key, `must be a string (stored as type ${e.type})`);
    return e.value as string;
  }

  bool(key: string): boolean | null {
    const e = this.entry(key, true);
    if (e === null) return null;
    if (e.type !== GgufValueType.BOOL) this.fail(key, `must be a bool (stored as type ${e.type})`);
    return e.value as boolean;
  }

  /** A non-negative integer that fits a double exactly. */
  uint(key: string): number;
  uint(key: string, optional: true): number | null;
  uint(key: string, optional = false): number | null {
    const e = this.entry(key, optional);
    if (e === null) return null;
    if (!INT_TYPES.has(e.type)) this.fail(key, `must be an integer (stored as type ${e.type})`);
    const v = typeof e.value === "bigint" ? e.value : BigInt(e.value as number);
    if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(key, `must be a non-negative integer below 2^53, got ${v}`);
    return Number(v);
  }

  float(key: string): number;
  float(key: string, optional: true): number | null;
  float(key: string, optional = false): number | null {
    const e = this.entry(key, optional);
    if (e === null) return null;
    if (e.type === GgufValueType.FLOAT32) return shortestF32(e.value as number);
    if (FLOAT_TYPES.has(e.type)) return e.value as number;
    if (INT_TYPES.has(e.type)) return Number(e.value);
    return this.fail(key, `must be a number (stored as type ${e.type})`);
  }

  strings(key: string): string[];
  strings(key: string, optional: true): string[] | null;
  strings(key: string, optional = false): string[] | null {
    const e = this.array(key, optional);
    if (e === null) return null;
    if (e.itemType !== GgufValueType.STRING) this.fail(key, `must be an array of strings (items are type ${e.itemType})`);
    return e.value as string[];
  }

  /** A numeric array as plain numbers (bigint items must be safe integers). */
  numbers(key: string, optional = false): number[] | null {
    const e = this.array(key, optional);
    if (e === null) return null;
    if (!INT_TYPES.has(e.itemType!) && !FLOAT_TYPES.has(e.itemType!)) this.fail(key, `must be an array of numbers (items are type ${e.itemType})`);
    const items = e.value as ArrayLike<number | bigint>;
    const out = new Array<number>(items.length);
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      if (typeof v === "bigint" && (v < BigInt(Number.MIN_SAFE_INTEGER) || v > BigInt(Number.MAX_SAFE_INTEGER))) this.fail(key, `holds ${v}, beyond 2^53`);
      out[i] = Number(v);
    }
    return out;
  }

  private array(key: string, optional: boolean): GgufEntry | null {
    const e = this.entry(key, optional);
    if (e === null) return null;
    if (e.type !== GgufValueType.ARRAY) this.fail(key, `must be an array (stored as type ${e.type})`);
    return e;
  }

  private entry(key: string, optional: boolean): GgufEntry | null {
    const e = this.file.metadata.get(key);
    if (e !== undefined) return e;
    if (optional) return null;
    return this.fail(key, "is missing");
  }
}

/** The shortest decimal that rounds to the same f32 (1e-5, not 9.999999747378752e-6), as the writer's source config held it. */
function shortestF32(v: number): number {
  if (!Number.isFinite(v)) return v;
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}
