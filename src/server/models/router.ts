/** Route: GET /v1/models, one entry per served model name. */
import { Elysia } from "elysia";
import { modelNotFound } from "../errors";
import type { ServerState } from "../state";

export interface ModelCard {
  id: string;
  object: "model";
  created: number;
  owned_by: "vllm";
  root: string;
  parent: null;
  max_model_len: number;
}

export function modelsRouter(state: ServerState) {
  const card = (id: string): ModelCard => ({
    id, object: "model", created: state.startTime, owned_by: "vllm", root: state.modelPath, parent: null, max_model_len: state.maxModelLen,
  });
  return new Elysia()
    .get("/v1/models", () => ({ object: "list" as const, data: state.config.servedModelNames.map(card) }), { detail: { tags: ["models"], summary: "List the served models" } })
    // Model ids may hold a slash (ORG/NAME), so the rest of the path is the id.
    .get("/v1/models/*", ({ params }) => {
      const id = decodeURIComponent((params as Record<string, string>)["*"]);
      if (!state.config.servedModelNames.includes(id)) throw modelNotFound(id);
      return card(id);
    }, { detail: { tags: ["models"], summary: "One served model" } });
}
