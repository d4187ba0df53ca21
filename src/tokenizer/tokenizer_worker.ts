/**
 * A tokenizer pool worker: its own copy of the tokenizer, rebuilt from the origin the pool sends, running
 * one job at a time. It can be terminated mid-job (a chat template past its time limit) without touching
 * the server's thread.
 */
import { Tokenizer, TokenizerError, type TokenizerOrigin } from "./tokenizer";
import { type JobSettings, runTokenizerJob, type TokenizerJob, type TokenizerJobResult } from "./tokenizer_jobs";

export type TokenizerWorkerRequest =
  | { type: "init"; origin: TokenizerOrigin; settings: JobSettings }
  | { type: "job"; id: number; job: TokenizerJob };

export type TokenizerWorkerReply =
  | { type: "ready" }
  | { type: "init-failed"; message: string }
  | { type: "rendered"; id: number }
  | { type: "done"; id: number; result: TokenizerJobResult }
  | { type: "failed"; id: number; message: string; tokenizerError: boolean };

declare const self: Worker;

let tokenizer: Tokenizer | null = null;
let settings: JobSettings | null = null;

self.onmessage = (ev: MessageEvent<TokenizerWorkerRequest>) => {
  const msg = ev.data;
  if (msg.type === "init") return init(msg.origin, msg.settings);
  try {
    const result = runTokenizerJob(tokenizer!, msg.job, settings!, () => reply({ type: "rendered", id: msg.id }));
    reply({ type: "done", id: msg.id, result });
  } catch (e) {
    reply({ type: "failed", id: msg.id, message: (e as Error).message ?? String(e), tokenizerError: e instanceof TokenizerError });
  }
};

function init(origin: TokenizerOrigin, s: JobSettings): void {
  try {
    tokenizer = Tokenizer.fromOrigin(origin);
    settings = s;
    reply({ type: "ready" });
  } catch (e) {
    reply({ type: "init-failed", message: (e as Error).message ?? String(e) });
  }
}

function reply(r: TokenizerWorkerReply): void {
  self.postMessage(r);
}
