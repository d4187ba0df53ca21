/**
 * qwen3: Qwen3's `<think>…</think>`, whose templates may open the block in the prompt, and which thinks unless the
 * request sets `chat_template_kwargs.enable_thinking: false`: then the output is all answer.
 */
import { CONTENT_ONLY, promptEndsReasoning, type ReasoningParser, THINK_BLOCK, type ThinkTagIds } from "./reasoning_parser";

export function qwen3ReasoningParser(ids: ThinkTagIds): ReasoningParser {
  return {
    name: "qwen3",
    forRequest(req) {
      const thinking = req.chatTemplateKwargs?.enable_thinking !== false;
      return thinking && !promptEndsReasoning(req.promptTokenIds, ids) ? THINK_BLOCK : CONTENT_ONLY;
    },
  };
}
