import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ModelLoadError } from "../../src/model_loader/errors";
import {
  MAX_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  dtypeSize,
  findDuplicateTopLevelKey,
  openSafetensors,
} from "../../src/model_loader/safetensors";
import { writeSafetensors } from "../../src/model_loader/safetensors_writer";

const dir = mkdtempSync(join(tmpdir(), "vllm-bun-safetensors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
// Every test gets a fresh file: rewriting a file that is still mapped would invalidate the mapping.
function freshPath(): string {
  return join(dir, `t${fileCounter++}.safetensors`);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** A file with a hand-written header: [u64 len][header][dataLen bytes]. */
function rawFile(header: string | object, dataLen: number, headerLenOverride?: bigint): string {
  const text = typeof header === "string" ? header : JSON.stringify(header);
  const hdr = new TextEncoder().encode(text);
  const buf = new Uint8Array(8 + hdr.byteLength + dataLen);
  new DataView(buf.buffer).setBigUint64(0, headerLenOverride ?? BigInt(hdr.byteLength), true);
  buf.set(hdr, 8);
  buf.set(randomBytes(dataLen, 7), 8 + hdr.byteLength);
  const path = freshPath();
  writeFileSync(path, buf);
  return path;
}

function expectLoadError(fn: () => unknown, file: string, pattern: RegExp, tensor?: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ModelLoadError);
  const e = err as ModelLoadError;
  expect(e.file).toBe(file);
  expect(e.message).toContain(file);
  expect(e.message).toMatch(pattern);
  if (tensor !== undefined) {
    expect(e.tensor).toBe(tensor);
    expect(e.message).toContain(tensor);
  }
}

const f32 = (name: string, begin: number, end: number, shape = [(end - begin) / 4]) => ({
  [name]: { dtype: "F32", shape, data_offsets: [begin, end] },
});

describe("writer → reader round trip", () => {
  test("every dtype, with scalar and empty shapes, metadata and odd names", () => {
    const shapes = [[3, 5], [7], [], [2, 0, 4], [1, 1, 3]];
    const tensors = SAFETENSORS_DTYPES.map((dtype, i) => {
      const shape = shapes[i % shapes.length];
      const n = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
      return { name: `layer.${i}.${dtype}`, dtype, shape, data: randomBytes(n, i + 1) };
    });
    tensors.push({ name: '0 "quoted\\name" ü', dtype: "F32", shape: [2], data: randomBytes(8, 99) });
    const path = freshPath();
    writeSafetensors(path, tensors, { format: "pt", note: "round trip" });

    const file = openSafetensors(path);
    expect(file.path).toBe(path);
    expect(file.metadata).toEqual({ format: "pt", note: "round trip" });
    expect([...file.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const got = file.tensors.get(t.name)!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.file).toBe(path);
      expect(got.data.byteLength).toBe(t.data.byteLength);
      expect(Buffer.from(got.data).equals(Buffer.from(t.data))).toBe(true);
    }
  });

  test("data buffer starts 8-byte aligned and views point into one mapping", () => {
    const path = freshPath();
    writeSafetensors(path, [
      { name: "a", dtype: "U8", shape: [3], data: randomBytes(3, 1) },
      { name: "b", dtype: "F64", shape: [2], data: randomBytes(16, 2) },
    ]);
    const headerLen = Number(new DataView(readFileSync(path).buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const file = openSafetensors(path);
    const a = file.tensors.get("a")!.data, b = file.tensors.get("b")!.data;
    expect(a.buffer).toBe(b.buffer);
    expect(a.byteOffset).toBe(8 + headerLen);
    expect(b.byteOffset).toBe(8 + headerLen + 3);
  });

  test("a file with no tensors is valid", () => {
    const path = freshPath();
    writeSafetensors(path, []);
    expect(openSafetensors(path).tensors.size).toBe(0);
  });

  test("writer rejects data whose size disagrees with shape and dtype", () => {
    const path = freshPath();
    expectLoadError(
      () => writeSafetensors(path, [{ name: "w", dtype: "BF16", shape: [4], data: new Uint8Array(6) }]),
      path, /needs 8 bytes, data has 6/, "w");
  });

  test("writer rejects duplicate names", () => {
    const path = freshPath();
    const t = { name: "w", dtype: "U8" as const, shape: [1], data: new Uint8Array(1) };
    expectLoadError(() => writeSafetensors(path, [t, t]), path, /duplicate/, "w");
  });
});

describe("malformed files", () => {
  test("missing file", () => {
    const path = join(dir, "nope.safetensors");
    expectLoadError(() => openSafetensors(path), path, /cannot open/);
  });

  test("shorter than 8 bytes", () => {
    const path = freshPath();
    writeFileSync(path, new Uint8Array(5));
    expectLoadError(() => openSafetensors(path), path, /5 bytes, too short/);
  });

  test("header length 0", () => {
    const path = rawFile("", 0);
    expectLoadError(() => openSafetensors(path), path, /header length is 0/);
  });

  test("huge header length", () => {
    const path = rawFile("{}", 0, BigInt(MAX_HEADER_BYTES) + 1n);
    expectLoadError(() => openSafetensors(path), path, /exceeds the 104857600-byte limit/);
    const path2 = rawFile("{}", 0, 0xffffffffffffffffn);
    expectLoadError(() => openSafetensors(path2), path2, /exceeds/);
  });

  test("header length past the end of the file (truncated header)", () => {
    const path = rawFile("{}", 0, 64n);
    expectLoadError(() => openSafetensors(path), path, /runs past the end of the 10-byte file/);
  });

  test("truncated data", () => {
    const full = freshPath();
    writeSafetensors(full, [{ name: "w", dtype: "F32", shape: [16], data: randomBytes(64, 3) }]);
    const bytes = readFileSync(full);
    const path = freshPath();
    writeFileSync(path, bytes.subarray(0, bytes.byteLength - 10));
    expectLoadError(() => openSafetensors(path), path, /beyond the 54-byte data buffer/, "w");
  });

  test("header not starting with '{'", () => {
    const path = rawFile(' {"__metadata__":{}}', 0);
    expectLoadError(() => openSafetensors(path), path, /must start with '\{'/);
    const path2 = rawFile("[]", 0);
    expectLoadError(() => openSafetensors(path2), path2, /must start with '\{', found "\[\]"/);
  });

  test("trailing spaces after the JSON are allowed", () => {
    const path = rawFile(JSON.stringify(f32("w", 0, 8)) + "      ", 8);
    expect(openSafetensors(path).tensors.get("w")!.shape).toEqual([2]);
  });

  test("invalid JSON", () => {
    const path = rawFile('{"w": {"dtype": "F32",', 0);
    expectLoadError(() => openSafetensors(path), path, /not valid JSON/);
  });

  test("invalid UTF-8", () => {
    const path = freshPath();
    const buf = new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0xfe, 0x7d]);
    writeFileSync(path, buf);
    expectLoadError(() => openSafetensors(path), path, /not valid UTF-8/);
  });

  test("duplicate tensor name", () => {
    const entry = '{"dtype":"U8","shape":[1],"data_offsets":[0,1]}';
    const path = rawFile(`{"w":${entry},"x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"w":${entry}}`, 2);
    expectLoadError(() => openSafetensors(path), path, /appears twice/, "w");
  });

  test("unknown dtype", () => {
    const path = rawFile({ w: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, 16);
    expectLoadError(() => openSafetensors(path), path, /unknown dtype "F128"/, "w");
  });

  test("bad shape", () => {
    for (const shape of [[-1], [1.5], ["2"], 4, null]) {
      const path = rawFile({ w: { dtype: "U8", shape, data_offsets: [0, 0] } }, 0);
      expectLoadError(() => openSafetensors(path), path, /shape must be a list of non-negative integers/, "w");
    }
  });

  test("bad data_offsets", () => {
    for (const data_offsets of [[0], [0, 1, 2], [-1, 0], [0, "1"], null]) {
      const path = rawFile({ w: { dtype: "U8", shape: [1], data_offsets } }, 1);
      expectLoadError(() => openSafetensors(path), path, /data_offsets must be two non-negative integers/, "w");
    }
    const path = rawFile({ w: { dtype: "U8", shape: [0], data_offsets: [4, 2] } }, 4);
    expectLoadError(() => openSafetensors(path), path, /begin 4 is after end 2/, "w");
  });

  test("size does not match shape × dtype size", () => {
    const path = rawFile({ w: { dtype: "F32", shape: [2], data_offsets: [0, 6] } }, 6);
    expectLoadError(() => openSafetensors(path), path, /needs 8 bytes but data_offsets \[0, 6\] span 6/, "w");
  });

  test("offsets past the end of the data buffer", () => {
    const path = rawFile(f32("w", 0, 16), 8);
    expectLoadError(() => openSafetensors(path), path, /end 16 is beyond the 8-byte data buffer/, "w");
  });

  test("overlapping tensors", () => {
    const path = rawFile({ ...f32("a", 0, 8), ...f32("b", 4, 12) }, 12);
    expectLoadError(() => openSafetensors(path), path, /overlaps tensor 'a'/, "b");
  });

  test("hole between tensors", () => {
    const path = rawFile({ ...f32("a", 0, 8), ...f32("b", 12, 16) }, 16);
    expectLoadError(() => openSafetensors(path), path, /bytes \[8, 12\) before this tensor belong to no tensor/, "b");
  });

  test("trailing bytes after the last tensor", () => {
    const path = rawFile(f32("a", 0, 8), 11);
    expectLoadError(() => openSafetensors(path), path, /3 trailing bytes/);
  });

  test("header entry that is not an object, and bad metadata", () => {
    const path = rawFile({ w: [1, 2] }, 0);
    expectLoadError(() => openSafetensors(path), path, /header entry must be an object/, "w");
    const path2 = rawFile({ __metadata__: { format: 1 } }, 0);
    expectLoadError(() => openSafetensors(path2), path2, /__metadata__\.format must be a string/);
  });
});

describe("duplicate key scan", () => {
  test("only top-level keys count, strings with braces and escapes are skipped", () => {
    expect(findDuplicateTopLevelKey('{"a":{"a":1,"b":[{"a":2}]},"b":"}{,\\"a\\"","c":[1,{"b":3}]}')).toBeNull();
    expect(findDuplicateTopLevelKey('{"a":1,"b":{"x":"\\"a\\""},"\\u0061":2}')).toBe("a");
  });
});

describe("files past 4 GiB", () => {
  test("are mapped per tensor (sparse 5 GB file, data checked at both ends)", () => {
    const dir = mkdtempSync(join(tmpdir(), "st-big-"));
    const path = join(dir, "big.safetensors");
    try {
      const a = 3_000_000_000, b = 2_000_000_000;
      let header = JSON.stringify({ a: { dtype: "U8", shape: [a], data_offsets: [0, a] }, b: { dtype: "U8", shape: [b], data_offsets: [a, a + b] } });
      header += " ".repeat((8 - (header.length % 8)) % 8);
      const prefix = Buffer.alloc(8);
      prefix.writeBigUInt64LE(BigInt(header.length));
      const dataStart = 8 + header.length;
      const fd = openSync(path, "w");
      writeSync(fd, prefix, 0, 8, 0);
      writeSync(fd, Buffer.from(header), 0, header.length, 8);
      writeSync(fd, Uint8Array.of(7), 0, 1, dataStart + a + 5);
      writeSync(fd, Uint8Array.of(9), 0, 1, dataStart + a - 1);
      ftruncateSync(fd, dataStart + a + b);
      closeSync(fd);
      const f = openSafetensors(path);
      expect(f.tensors.get("b")!.data.byteLength).toBe(b);
      expect(f.tensors.get("b")!.data[5]).toBe(7);
      expect(f.tensors.get("a")!.data[a - 1]).toBe(9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
