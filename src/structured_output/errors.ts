/** The error every structured-output failure surfaces as; the HTTP layer maps it to 400. */
export class StructuredOutputError extends Error {
  override name = "StructuredOutputError";
  readonly status = 400;

  /** @param timedOut compilation ran past the time limit (load-dependent, so not remembered as a bad input) */
  constructor(message: string, readonly timedOut = false) {
    super(message);
  }
}
