/** A tokenizer that cannot be loaded, or a chat template that cannot be parsed or rendered. */
export class TokenizerError extends Error {
  override name = "TokenizerError";
}
