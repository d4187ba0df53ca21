import type { Tokenizer } from "./tokenizer";

// Prompt tokens kept as decoding context, and how many of them start the first window.
const PROMPT_CONTEXT_TOKENS = 6;
const INITIAL_PREFIX_TOKENS = 5;
const REPLACEMENT_CHAR = "\uFFFD";

/**
 * Turns generated token ids into text deltas, one push at a time, the way vLLM's incremental
 * detokenizer does: each step decodes only a short window `[prefixOffset, end)` and emits what it
 * adds beyond `[prefixOffset, readOffset)`. A window whose text ends in U+FFFD is an unfinished
 * UTF-8 character, so its text is held back until a later token completes it (or `flush()`).
 *
 * Without `promptIds`, the deltas concatenate to `tokenizer.decode(tokenIds, { skipSpecialTokens })`.
 * With them, the first tokens decode in the prompt's context, so e.g. a Llama-2 "▁Hello" after the
 * prompt yields " Hello" (as it would inside `decode(prompt ++ generated)`) instead of "Hello".
 */
export class IncrementalDetokenizer {
  private readonly tokenizer: Tokenizer;
  private readonly skipSpecialTokens: boolean;
  // Decoding context: a tail of prompt tokens plus generated ids not yet behind prefixOffset.
  private window: number[];
  private prefixOffset: number;
  private readOffset: number;
  private readonly generated: number[] = [];
  private emitted = "";

  constructor(tokenizer: Tokenizer, opts: { skipSpecialTokens?: boolean; promptIds?: readonly number[] } = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = opts.skipSpecialTokens ?? false;
    const prompt = (opts.promptIds ?? []).filter((id) => this.keeps(id));
    this.window = prompt.slice(-PROMPT_CONTEXT_TOKENS);
    this.readOffset = this.window.length;
    this.prefixOffset = Math.max(this.readOffset - INITIAL_PREFIX_TOKENS, 0);
  }

  /** All text emitted so far. */
  get text(): string {
    return this.emitted;
  }

  /** Every generated id pushed so far, skipped special tokens included. */
  get tokenIds(): readonly number[] {
    return this.generated;
  }

  /** Adds generated ids; returns the newly completed text (possibly ""). */
  push(ids: number | readonly number[]): string {
    let delta = "";
    for (const id of typeof ids === "number" ? [ids] : ids) {
      this.generated.push(id);
      if (!this.keeps(id)) continue;
      this.window.push(id);
      delta += this.step(false);
    }
    this.emitted += delta;
    return delta;
  }

  /** Emits text held back for an unfinished character, as the full decode renders it (with U+FFFD). */
  flush(): string {
    const delta = this.step(true);
    this.emitted += delta;
    return delta;
  }

  private keeps(id: number): boolean {
    return !(this.skipSpecialTokens && this.tokenizer.allSpecialIds.has(id));
  }

  private step(final: boolean): string {
    const prefixText = this.decode(this.window.slice(this.prefixOffset, this.readOffset));
    const newText = this.decode(this.window.slice(this.prefixOffset));
    if (newText.length <= prefixText.length) return "";
    if (!final && newText.endsWith(REPLACEMENT_CHAR)) return "";
    this.prefixOffset = this.readOffset;
    this.readOffset = this.window.length;
    this.dropConsumed();
    return newText.slice(prefixText.length);
  }

  // Tokens before prefixOffset are never decoded again; dropping them keeps each step O(window).
  private dropConsumed(): void {
    if (this.prefixOffset === 0) return;
    this.window = this.window.slice(this.prefixOffset);
    this.readOffset -= this.prefixOffset;
    this.prefixOffset = 0;
  }

  private decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens, cleanUpTokenizationSpaces: false });
  }
}
