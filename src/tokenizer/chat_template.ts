import { basename } from "node:path";
import { Template } from "@huggingface/jinja";
import { withOutputLimit } from "./template_limits";
import { type ChatMessage, type Tokenizer, TokenizerError } from "./tokenizer";

/** Options of `applyChatTemplate`, named after transformers' `apply_chat_template` arguments. */
export interface ChatTemplateOptions {
  addGenerationPrompt?: boolean;
  continueFinalMessage?: boolean;
  tools?: unknown[];
  /** Overrides the tokenizer's own template (the `--chat-template` flag). */
  chatTemplate?: string;
  /** Extra template variables, e.g. `{ enable_thinking: false }`. */
  chatTemplateKwargs?: Record<string, unknown>;
  /** Where an overriding `chatTemplate` came from (a file name or "--chat-template"), for error messages. */
  chatTemplateSource?: string;
  /** Longest output (and longest string or list inside the render) in characters; unbounded when absent. */
  maxOutputChars?: number | null;
}

// Appended to the final message so the render can be cut right after its content.
const CONTINUE_MARKER = "CONTINUE_FINAL_MESSAGE_MARKER ";
const MAX_CACHED_TEMPLATES = 16;
const compiled = new Map<string, Template>();

/**
 * Renders `messages` to a prompt string as transformers' `apply_chat_template(..., tokenize=False)`
 * does. The result already holds BOS when the template emits it, so encode it with
 * `addSpecialTokens: false`.
 */
export function applyChatTemplate(tokenizer: Tokenizer, messages: ChatMessage[], opts: ChatTemplateOptions = {}): string {
  const source = opts.chatTemplate ?? tokenizer.chatTemplate;
  if (source == null) {
    throw new TokenizerError(
      `the model at ${tokenizer.source} has no chat template; pass one with --chat-template (a Jinja file or string)`,
    );
  }
  if (messages.length === 0) throw new TokenizerError("cannot apply a chat template to an empty conversation");
  if (opts.continueFinalMessage && opts.addGenerationPrompt) {
    throw new TokenizerError("continue_final_message and add_generation_prompt cannot both be set");
  }
  const origin = templateOrigin(tokenizer, opts);
  const template = compile(source, origin);
  if (!opts.continueFinalMessage) return render(template, tokenizer, messages, opts, origin);

  const { chat, finalText } = markFinalMessage(messages, source);
  const rendered = render(template, tokenizer, chat, opts, origin);
  return cutAfterFinalMessage(rendered, finalText);
}

// Errors name the template's file by its base name only: they reach clients, who need no server paths.
function templateOrigin(tokenizer: Tokenizer, opts: ChatTemplateOptions): string {
  if (opts.chatTemplate !== undefined) return opts.chatTemplateSource ?? "--chat-template";
  return tokenizer.chatTemplatePath === null ? "the tokenizer's chat template" : basename(tokenizer.chatTemplatePath);
}

function compile(source: string, origin: string): Template {
  let template = compiled.get(source);
  if (template !== undefined) return template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new TokenizerError(`cannot parse chat template (${origin}): ${(err as Error).message}`);
  }
  if (compiled.size >= MAX_CACHED_TEMPLATES) compiled.delete(compiled.keys().next().value!);
  compiled.set(source, template);
  return template;
}

function render(template: Template, tokenizer: Tokenizer, messages: ChatMessage[], opts: ChatTemplateOptions, origin: string): string {
  // Named special tokens first, so caller kwargs may override them; the fixed variables win over both.
  const variables: Record<string, unknown> = {
    ...tokenizer.specialTokenStrings,
    ...opts.chatTemplateKwargs,
    messages,
    tools: opts.tools ?? null,
    documents: null,
    add_generation_prompt: opts.addGenerationPrompt ?? false,
  };
  try {
    return withOutputLimit(opts.maxOutputChars ?? null, () => template.render(variables));
  } catch (err) {
    if (err instanceof TokenizerError) throw err;
    throw new TokenizerError(`chat template error (${origin}): ${(err as Error).message}`);
  }
}

// Copies the conversation with the marker after the final message's (last text part's) content.
function markFinalMessage(messages: ChatMessage[], source: string): { chat: ChatMessage[]; finalText: string } {
  if (!source.includes("content")) {
    throw new TokenizerError("continue_final_message needs a chat template that renders message content");
  }
  const last = messages[messages.length - 1]!;
  const content = last.content;
  if (typeof content === "string") {
    return { chat: [...messages.slice(0, -1), { ...last, content: content + CONTINUE_MARKER }], finalText: content };
  }
  if (Array.isArray(content)) {
    const index = content.findLastIndex((part) => typeof part.text === "string");
    if (index >= 0) {
      const parts = content.map((part, i) => (i === index ? { ...part, text: part.text + CONTINUE_MARKER } : part));
      return { chat: [...messages.slice(0, -1), { ...last, content: parts }], finalText: content[index]!.text! };
    }
  }
  throw new TokenizerError("continue_final_message is set but the final message has no text to continue");
}

// Cuts the render where the marker sits; a template that trimmed the content loses trailing space too.
function cutAfterFinalMessage(rendered: string, finalText: string): string {
  const marker = CONTINUE_MARKER.trim();
  const at = rendered.lastIndexOf(marker);
  if (at < 0 || !rendered.includes(finalText.trim())) {
    throw new TokenizerError("continue_final_message is set but the chat template dropped part of the final message");
  }
  const keptSpacing = rendered.startsWith(CONTINUE_MARKER, at);
  return keptSpacing ? rendered.slice(0, at) : rendered.slice(0, at).trimEnd();
}
