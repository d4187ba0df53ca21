/** The error every structured-output failure surfaces as; the HTTP layer maps it to 400. */
export class StructuredOutputError extends Error {
  override name = "StructuredOutputError";
  readonly status = 400;
}
