/** The Hugging Face hub flags of `serve`, `generate` and `bench`, and the model resolution they drive. */
import { findModelLocally, type ResolvedModel, resolveModelPath } from "../model_loader/hf_hub";
import { type HubFlags, hubSettings } from "../model_loader/hf_hub_settings";
import { ArgError, type FlagSpec } from "./arg_parser";

export const HUB_FLAGS: FlagSpec[] = [
  { name: "revision", type: "string", help: "branch, tag or commit of a hub model (--model ORG/NAME); default: main" },
  { name: "download-dir", type: "string", help: "Hugging Face cache folder for hub models; default: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub" },
  { name: "hf-token", type: "string", help: "token for gated or private hub models; default: $HF_TOKEN, else the token a `hf auth login` saved" },
  { name: "tokenizer-revision", type: "string", help: "accepted for compatibility: the tokenizer is read from the model's own snapshot (--revision)" },
];

export function hubFlagsFrom(v: Record<string, unknown>): HubFlags {
  const str = (name: string) => {
    const x = v[name] as string | undefined;
    if (x === "") throw new ArgError(`argument --${name}: must not be empty`);
    return x ?? null;
  };
  return { revision: str("revision"), downloadDir: str("download-dir"), hfToken: str("hf-token") };
}

/**
 * Runs `start` with the model resolved to a directory: at once when it is local or cached, after the
 * download otherwise. Flag errors are thrown before anything is fetched.
 */
export function withResolvedModel(command: string, v: Record<string, unknown>, log: (line: string) => void,
  start: (model: ResolvedModel) => number | Promise<number>): number | Promise<number> {
  const flags = hubFlagsFrom(v);
  const tokenizerRevision = (v["tokenizer-revision"] as string | undefined) ?? null;
  if (tokenizerRevision !== null && tokenizerRevision !== (flags.revision ?? "main"))
    log(`--tokenizer-revision ${tokenizerRevision}: ignored; the tokenizer comes from the model's revision '${flags.revision ?? "main"}'`);
  const settings = hubSettings(flags);
  const model = v["model"] as string;
  const local = findModelLocally(model, settings);
  if (local !== null) return start(local);
  return resolveModelPath(model, { ...settings, log }).then(start).catch((e) => reportError(command, e));
}

// main() reports what is thrown synchronously; a download ends later, so its errors are reported
// here the same way (the message alone, exit 2 for flag errors, 1 otherwise).
function reportError(command: string, e: unknown): number {
  const msg = e instanceof Error ? e.message : String(e);
  console.error(e instanceof ArgError ? `vllm ${command}: error: ${msg}` : `error: ${msg}`);
  if (process.env.VLLM_DEBUG && e instanceof Error) console.error(e.stack);
  return e instanceof ArgError ? 2 : 1;
}
