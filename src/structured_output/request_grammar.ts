/** RequestGrammar: one request's grammar state (its own matcher over a shared compiled grammar). */
import type { XgrammarMatcher } from "./xgrammar";

export class RequestGrammar {
  private disposed = false;

  constructor(private readonly matcher: XgrammarMatcher, private readonly onDispose: () => void) {}

  get bitmaskWords(): number {
    return this.matcher.bitmaskWords;
  }

  get isTerminated(): boolean {
    return !this.disposed && this.matcher.isTerminated();
  }

  /** Writes the tokens the grammar allows next into `out`. */
  fillBitmask(out: Int32Array): void {
    if (this.disposed) throw new Error("RequestGrammar used after dispose");
    this.matcher.fillNextTokenBitmask(out);
  }

  /** Advances by the sampled token; false when the grammar rejected it. */
  acceptToken(tokenId: number): boolean {
    if (this.disposed) throw new Error("RequestGrammar used after dispose");
    return this.matcher.acceptToken(tokenId);
  }

  /** Frees the matcher; safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher.dispose();
    this.onDispose();
  }
}

