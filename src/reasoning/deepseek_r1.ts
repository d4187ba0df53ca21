/** deepseek_r1: DeepSeek R1's `<think>…</think>`; R1 may leave out the start tag, so all text before `</think>` is reasoning. */
import { CONTENT_ONLY, promptEndsReasoning, type ReasoningParser, THINK_BLOCK, type ThinkTagIds } from "./reasoning_parser";

export function deepseekR1ReasoningParser(ids: ThinkTagIds): ReasoningParser {
  return {
    name: "deepseek_r1",
    forRequest: (req) => (promptEndsReasoning(req.promptTokenIds, ids) ? CONTENT_ONLY : THINK_BLOCK),
  };
}
