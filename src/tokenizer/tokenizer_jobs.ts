/**
 * The work a tokenizer thread does, as plain data in and out: encode text, render a conversation with the
 * chat template and encode it, or decode ids. The same function runs in a pool worker and, without one, on
 * the calling thread, so both give identical results.
 */
import { applyChatTemplate, type ChatTemplateOptions } from "./chat_template";
import { type ChatMessage, type Tokenizer, TokenizerError } from "./tokenizer";

export type TokenizerJob =
  | { op: "encode"; text: string; addSpecialTokens: boolean }
  | { op: "chat"; messages: ChatMessage[]; options: ChatJobOptions; addSpecialTokens: boolean }
  | { op: "decode"; ids: number[]; skipSpecialTokens: boolean };

/** What a request may set of the template options (the template itself and the limits are the pool's). */
export type ChatJobOptions = Pick<ChatTemplateOptions, "addGenerationPrompt" | "continueFinalMessage" | "tools" | "chatTemplateKwargs">;

export type TokenizerJobResult = { ids: number[] } | { text: string };

/** A chat template that replaces the tokenizer's own (--chat-template), and where it came from. */
export interface ChatTemplateOverride {
  text: string;
  source: string;
}

/** Settings every job of one pool shares. */
export interface JobSettings {
  chatTemplate: ChatTemplateOverride | null;
  /** Longest text encoded and longest rendered prompt, in characters. */
  maxPromptChars: number;
}

/** Runs one job; `onRendered` is called between rendering and encoding a chat prompt (the render's time limit ends there). */
export function runTokenizerJob(tokenizer: Tokenizer, job: TokenizerJob, s: JobSettings, onRendered: () => void = () => {}): TokenizerJobResult {
  switch (job.op) {
    case "encode":
      checkLength(job.text.length, s.maxPromptChars, "the prompt");
      return { ids: tokenizer.encode(job.text, { addSpecialTokens: job.addSpecialTokens }) };
    case "chat": {
      const prompt = applyChatTemplate(tokenizer, job.messages, {
        ...job.options,
        chatTemplate: s.chatTemplate?.text,
        chatTemplateSource: s.chatTemplate?.source,
        maxOutputChars: s.maxPromptChars,
      });
      onRendered();
      checkLength(prompt.length, s.maxPromptChars, "the rendered chat prompt");
      return { ids: tokenizer.encode(prompt, { addSpecialTokens: job.addSpecialTokens }) };
    }
    case "decode":
      return { text: tokenizer.decode(job.ids, { skipSpecialTokens: job.skipSpecialTokens }) };
  }
}

function checkLength(length: number, max: number, what: string): void {
  if (length > max) throw new TokenizerError(`${what} has ${length} characters, more than the ${max} this server tokenizes (max_model_len × characters per token)`);
}
