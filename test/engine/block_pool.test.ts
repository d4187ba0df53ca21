import { describe, expect, test } from "bun:test";
import { BlockPool } from "../../src/engine/block_pool";

describe("BlockPool", () => {
  test("allocates, frees and never lets a reference count go negative", () => {
    const pool = new BlockPool(4, true);
    const a = pool.allocate(3)!;
    expect(pool.numFreeBlocks).toBe(1);
    expect(pool.allocate(2)).toBeNull();
    pool.free(a);
    expect(pool.numFreeBlocks).toBe(4);
    expect(() => pool.free([a[0]])).toThrow(/refCnt 0/);
  });

  test("evicts the least recently freed cached block first", () => {
    const pool = new BlockPool(3, true);
    const [b0, b1, b2] = pool.allocate(3)!;
    pool.cacheBlock(b0, "h0", [1]);
    pool.cacheBlock(b1, "h1", [2]);
    pool.cacheBlock(b2, "h2", [3]);
    pool.free([b1]);
    pool.free([b0]);
    pool.free([b2]);
    const [x] = pool.allocate(1)!;
    expect(x).toBe(b1);
    expect(pool.getCachedBlock("h1", [2])).toBeNull();
    expect(pool.getCachedBlock("h0", [1])).toBe(b0);
  });

  test("a hit takes the block out of the free queue and compares tokens", () => {
    const pool = new BlockPool(2, true);
    const [b] = pool.allocate(1)!;
    pool.cacheBlock(b, "h", [7, 8]);
    pool.free([b]);
    expect(pool.getCachedBlock("h", [7, 9])).toBeNull();
    const hit = pool.getCachedBlock("h", [7, 8])!;
    pool.touch([hit]);
    expect(hit.refCnt).toBe(1);
    expect(pool.numFreeBlocks).toBe(1);
    pool.touch([hit]);
    expect(hit.refCnt).toBe(2);
    pool.free([hit, hit]);
    expect(pool.numFreeBlocks).toBe(2);
  });

  test("caching off never registers hashes", () => {
    const pool = new BlockPool(2, false);
    const [b] = pool.allocate(1)!;
    pool.cacheBlock(b, "h", [1]);
    expect(pool.getCachedBlock("h", [1])).toBeNull();
  });
});
