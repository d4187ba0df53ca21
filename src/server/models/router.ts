/** Route: GET /v1/models, one entry per served model name. */
import { Elysia } from "elysia";
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
  return new Elysia().get("/v1/models", () => ({
    object: "list" as const,
    data: state.config.servedModelNames.map((id): ModelCard => ({
      id, object: "model", created: state.startTime, owned_by: "vllm", root: state.modelPath, parent: null, max_model_len: state.maxModelLen,
    })),
  }), { detail: { tags: ["models"], summary: "List the served models" } });
}
