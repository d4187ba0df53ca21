/** An intrusive doubly linked list of free blocks: O(1) pop from the front, append, and removal from the middle. */
import type { KVCacheBlock } from "./block_pool";

export class FreeBlockQueue {
  private head: KVCacheBlock | null = null;
  private tail: KVCacheBlock | null = null;
  length = 0;

  constructor(blocks: readonly KVCacheBlock[]) {
    for (const b of blocks) this.pushBack(b);
  }

  popFront(): KVCacheBlock {
    const b = this.head;
    if (!b) throw new Error("FreeBlockQueue: empty");
    this.remove(b);
    return b;
  }

  pushBack(b: KVCacheBlock): void {
    b.prevFree = this.tail;
    b.nextFree = null;
    if (this.tail) this.tail.nextFree = b; else this.head = b;
    this.tail = b;
    this.length++;
  }

  remove(b: KVCacheBlock): void {
    if (b.prevFree) b.prevFree.nextFree = b.nextFree; else this.head = b.nextFree;
    if (b.nextFree) b.nextFree.prevFree = b.prevFree; else this.tail = b.prevFree;
    b.prevFree = b.nextFree = null;
    this.length--;
  }
}
