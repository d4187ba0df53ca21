/**
 * The GGUF format's two enumerations: metadata value types, and ggml tensor types with their block
 * layouts (elements per block, bytes per block). Only types whose layout is certain are listed; any other
 * id is refused by the reader rather than sized by guess.
 */

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml's name buffer is 64 bytes including the terminating NUL. */
export const GGUF_MAX_NAME_BYTES = 63;
export const GGUF_MAX_DIMS = 4;

export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8,
  ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** Bytes of one fixed-size metadata value; strings and arrays are variable (absent here). */
export const GGUF_VALUE_SIZES: Partial<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4, [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8, [GgufValueType.FLOAT64]: 8,
};

export type GgmlTypeName =
  | "F32" | "F16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q8_1" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K"
  | "Q6_K" | "Q8_K" | "IQ4_NL" | "IQ4_XS" | "I8" | "I16" | "I32" | "I64" | "F64" | "BF16";

export interface GgmlTypeInfo {
  id: number;
  name: GgmlTypeName;
  /** Elements per block (1 for plain element types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const TYPES: GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockSize: 1, typeSize: 4 },
  { id: 1, name: "F16", blockSize: 1, typeSize: 2 },
  { id: 2, name: "Q4_0", blockSize: 32, typeSize: 18 }, // f16 d, 16 bytes of nibbles
  { id: 3, name: "Q4_1", blockSize: 32, typeSize: 20 }, // f16 d, f16 m, 16 bytes of nibbles
  { id: 6, name: "Q5_0", blockSize: 32, typeSize: 22 }, // f16 d, 4 bytes high bits, 16 bytes of nibbles
  { id: 7, name: "Q5_1", blockSize: 32, typeSize: 24 },
  { id: 8, name: "Q8_0", blockSize: 32, typeSize: 34 }, // f16 d, 32 int8
  { id: 9, name: "Q8_1", blockSize: 32, typeSize: 36 },
  { id: 10, name: "Q2_K", blockSize: 256, typeSize: 84 },
  { id: 11, name: "Q3_K", blockSize: 256, typeSize: 110 },
  { id: 12, name: "Q4_K", blockSize: 256, typeSize: 144 }, // f16 d, f16 dmin, 12 bytes scales, 128 bytes nibbles
  { id: 13, name: "Q5_K", blockSize: 256, typeSize: 176 }, // as Q4_K plus 32 bytes of high bits
  { id: 14, name: "Q6_K", blockSize: 256, typeSize: 210 }, // 128 low nibbles, 64 high pairs, 16 int8 scales, f16 d
  { id: 15, name: "Q8_K", blockSize: 256, typeSize: 292 },
  { id: 20, name: "IQ4_NL", blockSize: 32, typeSize: 18 },
  { id: 23, name: "IQ4_XS", blockSize: 256, typeSize: 136 },
  { id: 24, name: "I8", blockSize: 1, typeSize: 1 },
  { id: 25, name: "I16", blockSize: 1, typeSize: 2 },
  { id: 26, name: "I32", blockSize: 1, typeSize: 4 },
  { id: 27, name: "I64", blockSize: 1, typeSize: 8 },
  { id: 28, name: "F64", blockSize: 1, typeSize: 8 },
  { id: 30, name: "BF16", blockSize: 1, typeSize: 2 },
];

const BY_ID = new Map(TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(TYPES.map((t) => [t.name, t]));

/** The type with ggml id `id`, or undefined for ids this reader does not know. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlType(name: GgmlTypeName): GgmlTypeInfo {
  const t = BY_NAME.get(name);
  if (t === undefined) throw new Error(`unknown ggml type ${name}`);
  return t;
}
