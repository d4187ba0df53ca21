/**
 * Any problem found while loading a model: a malformed safetensors file, a bad sharded index, a missing
 * tensor or an invalid config. The message always names the file (or checkpoint dir) and, when one is
 * involved, the tensor, so a user can find the culprit without a stack trace.
 */
export class ModelLoadError extends Error {
  readonly file: string;
  readonly tensor: string | null;

  constructor(file: string, detail: string, tensor: string | null = null) {
    super(tensor === null ? `${file}: ${detail}` : `${file}: tensor '${tensor}': ${detail}`);
    this.name = "ModelLoadError";
    this.file = file;
    this.tensor = tensor;
  }
}
