/**
 * GrammarCache: compiled grammars by key, least recently used first out, bounded by entry count and by
 * estimated bytes. Eviction disposes a grammar; matchers already made from it keep working.
 */

export interface GrammarCacheLimits {
  maxEntries: number;
  maxBytes: number;
}

export interface Cacheable {
  readonly estimatedBytes: number;
  dispose(): void;
}

export class GrammarCache<V extends Cacheable> {
  private readonly entries = new Map<string, V>(); // insertion order = recency order
  private bytes = 0;

  /** @param isPinned entries it holds true for are skipped by eviction (they may overfill the cache briefly) */
  constructor(readonly limits: GrammarCacheLimits, private readonly isPinned: (key: string) => boolean = () => false) {
    if (!(limits.maxEntries >= 1 && limits.maxBytes > 0)) throw new Error(`GrammarCache: bad limits ${JSON.stringify(limits)}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  get(key: string): V | undefined {
    const v = this.entries.get(key);
    if (v === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, v);
    return v;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Inserts `value`, evicting the least recently used unpinned entries until within limits; the newest always stays. */
  set(key: string, value: V): void {
    const old = this.entries.get(key);
    if (old !== undefined) this.remove(key, old);
    this.entries.set(key, value);
    this.bytes += value.estimatedBytes;
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      if (k === key) break;
      if (!this.isPinned(k)) this.remove(k, v);
    }
  }

  clear(): void {
    for (const [k, v] of this.entries) this.remove(k, v);
  }

  private remove(key: string, value: V): void {
    this.entries.delete(key);
    this.bytes -= value.estimatedBytes;
    value.dispose();
  }
}
