/**
 * 50 JSON schemas for the structured-output tests. Strings are always bounded (enum, const, short
 * maxLength, pattern or format) and numbers have bounds, because a random-weight model otherwise writes
 * an unbounded string or number and only stops at max_tokens. Bounds on non-integer numbers are left out:
 * xgrammar 0.1.27 enforces them only approximately (it accepts 1.5 under maximum 1), and integer maxima such as
 * 120 or 180 are avoided: it also accepts 121-129 and 181-189 there. Its "ipv4" format allows leading zeros
 * ("052.1.1.1"), which RFC 3986 validators reject, so that format is not used either.
 */

const name = { type: "string", maxLength: 5 };
const word = { type: "string", pattern: "^[a-z]{1,6}$" };
const color = { enum: ["red", "green", "blue"] };
const small = { type: "integer", minimum: 0, maximum: 99 };

export const SCHEMAS: { label: string; schema: Record<string, unknown> }[] = [
  // flat objects
  { label: "one integer", schema: { type: "object", properties: { n: small }, required: ["n"] } },
  { label: "one boolean", schema: { type: "object", properties: { ok: { type: "boolean" } }, required: ["ok"] } },
  { label: "one null", schema: { type: "object", properties: { nothing: { type: "null" } }, required: ["nothing"] } },
  { label: "short string", schema: { type: "object", properties: { s: name }, required: ["s"] } },
  { label: "three primitives", schema: { type: "object", properties: { a: small, b: { type: "boolean" }, c: word }, required: ["a", "b", "c"] } },
  { label: "optional property", schema: { type: "object", properties: { id: small, note: name }, required: ["id"] } },
  { label: "all optional", schema: { type: "object", properties: { x: small, y: small } } },
  { label: "string min/max length", schema: { type: "object", properties: { code: { type: "string", minLength: 2, maxLength: 4 } }, required: ["code"] } },
  { label: "const", schema: { type: "object", properties: { version: { const: "v1" }, n: small }, required: ["version", "n"] } },
  { label: "type list", schema: { type: "object", properties: { v: { type: ["integer", "null"], minimum: 0, maximum: 9 } }, required: ["v"] } },
  // nested objects
  { label: "nested object", schema: { type: "object", properties: { user: { type: "object", properties: { id: small, name }, required: ["id", "name"] } }, required: ["user"] } },
  { label: "two levels", schema: { type: "object", properties: { a: { type: "object", properties: { b: { type: "object", properties: { c: small }, required: ["c"] } }, required: ["b"] } }, required: ["a"] } },
  { label: "sibling objects", schema: { type: "object", properties: { from: { type: "object", properties: { x: small }, required: ["x"] }, to: { type: "object", properties: { x: small }, required: ["x"] } }, required: ["from", "to"] } },
  { label: "nested optional", schema: { type: "object", properties: { meta: { type: "object", properties: { tag: word, count: small } } }, required: ["meta"] } },
  { label: "person", schema: { type: "object", properties: { name, age: { type: "integer", minimum: 0, maximum: 100 }, address: { type: "object", properties: { zip: { type: "string", pattern: "^[0-9]{5}$" }, country: { enum: ["US", "FR", "JP"] } }, required: ["zip", "country"] } }, required: ["name", "age", "address"] } },
  { label: "object of booleans", schema: { type: "object", properties: { flags: { type: "object", properties: { a: { type: "boolean" }, b: { type: "boolean" }, c: { type: "boolean" } }, required: ["a", "b", "c"] } }, required: ["flags"] } },
  { label: "deep 4 levels", schema: { type: "object", properties: { l1: { type: "object", properties: { l2: { type: "object", properties: { l3: { type: "object", properties: { v: { type: "boolean" } }, required: ["v"] } }, required: ["l3"] } }, required: ["l2"] } }, required: ["l1"] } },
  { label: "point 3d", schema: { type: "object", properties: { x: small, y: small, z: small }, required: ["x", "y", "z"] } },
  { label: "ref to defs", schema: { $defs: { pt: { type: "object", properties: { x: small, y: small }, required: ["x", "y"] } }, type: "object", properties: { a: { $ref: "#/$defs/pt" }, b: { $ref: "#/$defs/pt" } }, required: ["a", "b"] } },
  { label: "empty object", schema: { type: "object", properties: {}, additionalProperties: false } },
  // arrays
  { label: "array of integers 1-3", schema: { type: "object", properties: { xs: { type: "array", items: small, minItems: 1, maxItems: 3 } }, required: ["xs"] } },
  { label: "array exactly 2", schema: { type: "object", properties: { pair: { type: "array", items: { type: "boolean" }, minItems: 2, maxItems: 2 } }, required: ["pair"] } },
  { label: "array of enums", schema: { type: "object", properties: { colors: { type: "array", items: color, minItems: 1, maxItems: 4 } }, required: ["colors"] } },
  { label: "array of objects", schema: { type: "object", properties: { items: { type: "array", items: { type: "object", properties: { id: small, ok: { type: "boolean" } }, required: ["id", "ok"] }, minItems: 1, maxItems: 2 } }, required: ["items"] } },
  { label: "top-level array", schema: { type: "array", items: small, minItems: 2, maxItems: 4 } },
  { label: "array of arrays", schema: { type: "object", properties: { grid: { type: "array", items: { type: "array", items: { type: "integer", minimum: 0, maximum: 9 }, minItems: 1, maxItems: 2 }, minItems: 1, maxItems: 2 } }, required: ["grid"] } },
  { label: "tuple prefixItems", schema: { type: "object", properties: { t: { type: "array", prefixItems: [small, { type: "boolean" }, color], items: false } }, required: ["t"] } },
  { label: "empty array allowed", schema: { type: "object", properties: { tags: { type: "array", items: word, maxItems: 2 } }, required: ["tags"] } },
  { label: "array of short strings", schema: { type: "object", properties: { words: { type: "array", items: word, minItems: 2, maxItems: 3 } }, required: ["words"] } },
  { label: "optional array", schema: { type: "object", properties: { id: small, extra: { type: "array", items: { type: "boolean" }, maxItems: 2 } }, required: ["id"] } },
  // enums and unions
  { label: "string enum", schema: { type: "object", properties: { color }, required: ["color"] } },
  { label: "mixed enum", schema: { type: "object", properties: { v: { enum: ["a", 1, true, null] } }, required: ["v"] } },
  { label: "top-level enum", schema: { enum: ["yes", "no", "maybe"] } },
  { label: "anyOf", schema: { type: "object", properties: { v: { anyOf: [small, { type: "boolean" }] } }, required: ["v"] } },
  { label: "oneOf objects", schema: { type: "object", properties: { shape: { oneOf: [{ type: "object", properties: { kind: { const: "circle" }, r: small }, required: ["kind", "r"] }, { type: "object", properties: { kind: { const: "square" }, side: small }, required: ["kind", "side"] }] } }, required: ["shape"] } },
  { label: "enum of many", schema: { type: "object", properties: { day: { enum: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] } }, required: ["day"] } },
  { label: "two enums", schema: { type: "object", properties: { size: { enum: ["S", "M", "L"] }, color }, required: ["size", "color"] } },
  { label: "nullable object", schema: { type: "object", properties: { o: { anyOf: [{ type: "null" }, { type: "object", properties: { k: small }, required: ["k"] }] } }, required: ["o"] } },
  // numbers with bounds
  { label: "integer range", schema: { type: "object", properties: { n: { type: "integer", minimum: -20, maximum: 20 } }, required: ["n"] } },
  { label: "integer exclusive bounds", schema: { type: "object", properties: { n: { type: "integer", exclusiveMinimum: 0, exclusiveMaximum: 10 } }, required: ["n"] } },
  { label: "large integer range", schema: { type: "object", properties: { n: { type: "integer", minimum: 1000, maximum: 99999 } }, required: ["n"] } },
  { label: "negative range", schema: { type: "object", properties: { t: { type: "integer", minimum: -300, maximum: -100 } }, required: ["t"] } },
  { label: "number in anyOf", schema: { type: "object", properties: { p: { anyOf: [{ const: 0.5 }, { const: 2.25 }] } }, required: ["p"] } },
  { label: "two integer ranges", schema: { type: "object", properties: { lat: { type: "integer", minimum: -90, maximum: 90 }, lon: { type: "integer", minimum: -179, maximum: 179 } }, required: ["lat", "lon"] } },
  { label: "top-level integer", schema: { type: "integer", minimum: 0, maximum: 500 } },
  // formats and patterns
  { label: "date", schema: { type: "object", properties: { d: { type: "string", format: "date" } }, required: ["d"] } },
  { label: "time", schema: { type: "object", properties: { t: { type: "string", format: "time" } }, required: ["t"] } },
  { label: "uuid", schema: { type: "object", properties: { id: { type: "string", format: "uuid" } }, required: ["id"] } },
  { label: "date-time", schema: { type: "object", properties: { at: { type: "string", format: "date-time" } }, required: ["at"] } },
  { label: "patterns", schema: { type: "object", properties: { sku: { type: "string", pattern: "^[A-Z]{2}-[0-9]{3}$" }, hex: { type: "string", pattern: "^#[0-9a-f]{6}$" } }, required: ["sku", "hex"] } },
];
