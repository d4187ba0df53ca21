/**
 * BlockPool: the KV cache's fixed-size blocks, their reference counts, the prefix-cache map from block hash
 * to block, and the free queue. Free blocks stay in the cache until reused; the queue hands out the least
 * recently freed first, so recently used prefixes survive longest (vLLM v1's eviction order).
 */
import { FreeBlockQueue } from "./free_block_queue";

export interface KVCacheBlock {
  readonly blockId: number;
  refCnt: number;
  /** Set once the block is full and registered in the prefix cache. */
  blockHash: string | null;
  /** The block's tokens, kept with the hash so a hit is confirmed by comparing them. */
  tokens: readonly number[] | null;
  prevFree: KVCacheBlock | null;
  nextFree: KVCacheBlock | null;
}

export class BlockPool {
  readonly blocks: KVCacheBlock[];
  private readonly freeQueue: FreeBlockQueue;
  private readonly cached = new Map<string, KVCacheBlock>();

  constructor(readonly numBlocks: number, readonly enableCaching: boolean) {
    if (!(numBlocks >= 1)) throw new Error(`BlockPool: need at least one block, got ${numBlocks}`);
    this.blocks = Array.from({ length: numBlocks }, (_, blockId) => ({
      blockId, refCnt: 0, blockHash: null, tokens: null, prevFree: null, nextFree: null,
    }));
    this.freeQueue = new FreeBlockQueue(this.blocks);
  }

  get numFreeBlocks(): number {
    return this.freeQueue.length;
  }

  /** Fraction of blocks held by requests (cached-but-free blocks count as free). */
  get usage(): number {
    return 1 - this.numFreeBlocks / this.numBlocks;
  }

  /** A cached block for this hash whose tokens match, or null. */
  getCachedBlock(hash: string, tokens: readonly number[]): KVCacheBlock | null {
    const b = this.cached.get(hash);
    if (!b || !b.tokens || b.tokens.length !== tokens.length) return null;
    for (let i = 0; i < tokens.length; i++) if (b.tokens[i] !== tokens[i]) return null;
    return b;
  }

  /** Takes references on blocks found in the cache, pulling free ones out of the free queue. */
  touch(blocks: readonly KVCacheBlock[]): void {
    for (const b of blocks) {
      if (b.refCnt === 0) this.freeQueue.remove(b);
      b.refCnt++;
    }
  }

  /** Pops n blocks from the free queue (evicting their cached hashes), or returns null if too few. */
  allocate(n: number): KVCacheBlock[] | null {
    if (n > this.freeQueue.length) return null;
    const out: KVCacheBlock[] = [];
    for (let i = 0; i < n; i++) {
      const b = this.freeQueue.popFront();
      console.assert(b.refCnt === 0, "allocated block has references");
      this.evict(b);
      b.refCnt = 1;
      out.push(b);
    }
    return out;
  }

  /** Drops one reference from each block; blocks reaching zero join the free queue's tail in the given order. */
  free(blocks: readonly KVCacheBlock[]): void {
    for (const b of blocks) {
      if (b.refCnt <= 0) throw new Error(`BlockPool: block ${b.blockId} freed with refCnt ${b.refCnt}`);
      b.refCnt--;
      if (b.refCnt === 0) this.freeQueue.pushBack(b);
    }
  }

  /** Registers a full block under its chained hash so later requests can reuse it. */
  cacheBlock(b: KVCacheBlock, hash: string, tokens: readonly number[]): void {
    if (!this.enableCaching || b.blockHash !== null) return;
    if (this.cached.has(hash)) return; // an identical block is already cached; this one stays private
    b.blockHash = hash;
    b.tokens = tokens.slice();
    this.cached.set(hash, b);
  }

  private evict(b: KVCacheBlock): void {
    if (b.blockHash === null) return;
    if (this.cached.get(b.blockHash) === b) this.cached.delete(b.blockHash);
    b.blockHash = null;
    b.tokens = null;
  }
}
