/**
 * KVCacheManager: which blocks each request holds, prefix-cache lookups, and slot allocation.
 * Callers see block ids only; the pool, hashing and eviction stay inside.
 */
import { createHash, randomBytes } from "node:crypto";
import { BlockPool, type KVCacheBlock } from "./block_pool";
import type { Request } from "./request";

export interface ComputedBlocks {
  blocks: KVCacheBlock[];
  numTokens: number;
}

const NO_HITS: ComputedBlocks = Object.freeze({ blocks: Object.freeze([]) as unknown as KVCacheBlock[], numTokens: 0 });

export class KVCacheManager {
  readonly pool: BlockPool;
  private readonly reqBlocks = new Map<string, KVCacheBlock[]>();
  /** Full blocks of each request already offered to the prefix cache (vLLM's num_cached_block). */
  private readonly numCachedBlocks = new Map<string, number>();
  /** Prefix-cache counters in tokens, as vLLM reports them. */
  prefixCacheQueries = 0;
  prefixCacheHits = 0;

  /**
   * `rootHash` seeds every block-hash chain. It is random per process, so another process (or tenant of a
   * shared cache) cannot predict which prompts hit; `prefixCacheRootHash()` makes it stable where asked.
   */
  constructor(numBlocks: number, readonly blockSize: number, readonly enableCaching: boolean, private readonly rootHash = prefixCacheRootHash()) {
    this.pool = new BlockPool(numBlocks, enableCaching);
  }

  get usage(): number {
    return this.pool.usage;
  }

  /** The longest cached prefix of the request, in whole blocks, always leaving at least one token to compute. */
  getComputedBlocks(req: Request): ComputedBlocks {
    if (!this.enableCaching || req.samplingParams.promptLogprobs !== null) return { blocks: [], numTokens: 0 };
    const maxHitBlocks = Math.floor((req.numTokens - 1) / this.blockSize);
    this.updateHashes(req, maxHitBlocks);
    const blocks: KVCacheBlock[] = [];
    for (let i = 0; i < maxHitBlocks; i++) {
      const b = this.pool.getCachedBlock(req.blockHashes[i], this.blockTokens(req, i));
      if (!b) break;
      blocks.push(b);
    }
    const numTokens = blocks.length * this.blockSize;
    this.prefixCacheQueries += req.numTokens;
    this.prefixCacheHits += numTokens;
    return { blocks, numTokens };
  }

  /**
   * Makes room for `numNewTokens` more tokens after the request's computed ones (plus `computed`, a prefix
   * hit being adopted now). Returns the request's block ids, or null when the pool is too small right now.
   */
  allocateSlots(req: Request, numNewTokens: number, computed: ComputedBlocks = NO_HITS): number[] | null {
    let blocks = this.reqBlocks.get(req.requestId);
    const total = req.numComputedTokens + computed.numTokens + numNewTokens;
    const numNew = Math.ceil(total / this.blockSize) - (blocks?.length ?? 0) - computed.blocks.length;
    // A decode step inside its last block (the common case) changes nothing but the caching below.
    if (blocks === undefined || numNew > 0 || computed.blocks.length > 0) {
      let freeAmongHits = 0;
      for (const b of computed.blocks) if (b.refCnt === 0) freeAmongHits++;
      if (numNew > this.pool.numFreeBlocks - freeAmongHits) return null;
      this.pool.touch(computed.blocks);
      blocks = blocks === undefined ? [...computed.blocks] : blocks.concat(computed.blocks);
      if (numNew > 0) for (const b of this.pool.allocate(numNew)!) blocks.push(b);
      this.reqBlocks.set(req.requestId, blocks);
    }
    this.cacheFullBlocks(req, blocks, total);
    const ids = new Array<number>(blocks.length);
    for (let i = 0; i < blocks.length; i++) ids[i] = blocks[i].blockId;
    return ids;
  }

  /** Releases the request's blocks; its last blocks become the first candidates for eviction. */
  free(req: Request): void {
    const blocks = this.reqBlocks.get(req.requestId);
    if (!blocks) return;
    this.reqBlocks.delete(req.requestId);
    this.numCachedBlocks.delete(req.requestId);
    this.pool.free(blocks.slice().reverse());
  }

  get numRequests(): number {
    return this.reqBlocks.size;
  }

  /** Offers the request's newly full blocks to the cache, once each (the count is kept per request). */
  private cacheFullBlocks(req: Request, blocks: readonly KVCacheBlock[], numTokens: number): void {
    if (!this.enableCaching) return;
    const full = Math.min(Math.floor(numTokens / this.blockSize), Math.floor(req.numTokens / this.blockSize));
    const from = this.numCachedBlocks.get(req.requestId) ?? 0;
    if (full <= from) return;
    this.updateHashes(req, full);
    for (let i = from; i < full; i++) this.pool.cacheBlock(blocks[i], req.blockHashes[i], this.blockTokens(req, i));
    this.numCachedBlocks.set(req.requestId, full);
  }

  /** Extends the request's chained block hashes: sha256(parent hash, block tokens, cache salt on the first block). */
  private updateHashes(req: Request, numBlocks: number): void {
    for (let i = req.blockHashes.length; i < numBlocks; i++) {
      const h = createHash("sha256");
      h.update(i === 0 ? this.rootHash : req.blockHashes[i - 1]);
      h.update(new Uint8Array(Int32Array.from(this.blockTokens(req, i)).buffer));
      if (i === 0 && req.cacheSalt !== null) h.update("salt:" + req.cacheSalt);
      req.blockHashes.push(h.digest("hex"));
    }
  }

  private blockTokens(req: Request, i: number): number[] {
    const out: number[] = [];
    for (let t = i * this.blockSize; t < (i + 1) * this.blockSize; t++) out.push(req.tokenAt(t));
    return out;
  }
}

/**
 * The root of the block-hash chains: 32 random bytes per process, or, when PYTHONHASHSEED is set (as vLLM
 * reads it, for routers that need the same hashes from every replica), a hash of that seed.
 */
export function prefixCacheRootHash(env: Record<string, string | undefined> = process.env): string {
  const seed = env.PYTHONHASHSEED;
  if (seed !== undefined && seed !== "" && seed !== "random") return createHash("sha256").update("vllm-bun-root:" + seed).digest("hex");
  return randomBytes(32).toString("hex");
}
