/**
 * Structured outputs at the HTTP edge: `response_format`, vLLM's `structured_outputs`, the older top-level
 * `guided_*` fields and a tool_choice schema all become the engine's one StructuredOutputsParams. At most
 * one constraint may be set across all of them; the grammar is compiled before the request is queued, so
 * a bad schema, regex or grammar is a 400 that names its field.
 */
import { z } from "zod";
import type { SamplingParams, StructuredOutputsParams } from "../engine/sampling_params";
import { StructuredOutputError } from "../structured_output/errors";
import { BadRequestError } from "./errors";
import { checkJsonDepth } from "./json_depth";
import type { ServerState } from "./state";

const jsonSchemaValue = z.union([z.string(), z.record(z.string(), z.unknown())]);
const choices = z.array(z.string()).min(1);

/** The request fields (both generation endpoints) that ask for a constraint. */
export const structuredOutputFields = {
  response_format: z.object({
    type: z.string(),
    json_schema: z.object({
      name: z.string(),
      description: z.string().nullish(),
      schema: z.record(z.string(), z.unknown()).nullish(),
      strict: z.boolean().nullish(),
    }).nullish(),
  }).nullish(),
  structured_outputs: z.object({
    json: jsonSchemaValue.nullish(),
    regex: z.string().nullish(),
    choice: choices.nullish(),
    grammar: z.string().nullish(),
    json_object: z.boolean().nullish(),
    disable_any_whitespace: z.boolean().nullish(),
    disable_additional_properties: z.boolean().nullish(),
    structural_tag: z.unknown().optional(),
    whitespace_pattern: z.string().nullish(),
  }).nullish(),
  guided_json: jsonSchemaValue.nullish(),
  guided_regex: z.string().nullish(),
  guided_choice: choices.nullish(),
  guided_grammar: z.string().nullish(),
  guided_whitespace_pattern: z.string().nullish(),
};

const fieldsObject = z.object(structuredOutputFields);
export type StructuredOutputFields = z.infer<typeof fieldsObject>;

/** A request's one constraint, and the request field it came from (for error messages). */
export interface Constraint {
  params: StructuredOutputsParams;
  param: string;
}

type Found = [param: string, kind: Partial<StructuredOutputsParams>];

/**
 * The request's constraint, or null when it has none. `toolSchema` is the JSON schema enforcing tool_choice
 * "required" or a named function. More than one constraint is a 400.
 */
export function resolveConstraint(r: StructuredOutputFields, toolSchema: Record<string, unknown> | null = null): Constraint | null {
  const found: Found[] = [...fromStructuredOutputs(r), ...fromResponseFormat(r), ...fromGuided(r)];
  if (toolSchema !== null) found.push(["tool_choice", { json: toolSchema }]);
  if (found.length === 0) return null;
  if (found.length > 1)
    throw new BadRequestError(`only one structured output constraint may be set per request, got ${found.map(([p]) => p).join(", ")}`, found[1][0]);
  const [param, kind] = found[0];
  // A schema sent as JSON text escaped the body's nesting check; the grammar code recurses on it.
  if (typeof kind.json === "string") checkJsonDepth(kind.json, `${param} (a JSON schema)`, param);
  const so = r.structured_outputs;
  const params: StructuredOutputsParams = { ...kind };
  // The JSON flags shape whichever JSON constraint applies, as vLLM merges them into one params object.
  if (typeof so?.disable_any_whitespace === "boolean") params.disableAnyWhitespace = so.disable_any_whitespace;
  if (typeof so?.disable_additional_properties === "boolean") params.disableAdditionalProperties = so.disable_additional_properties;
  return { params, param };
}

function fromStructuredOutputs(r: StructuredOutputFields): Found[] {
  const so = r.structured_outputs;
  if (!so) return [];
  for (const f of ["structural_tag", "whitespace_pattern"] as const)
    if (so[f] !== undefined && so[f] !== null) throw new BadRequestError(`structured_outputs.${f} is not supported yet`, `structured_outputs.${f}`);
  const found: Found[] = [];
  if (so.json !== null && so.json !== undefined) found.push(["structured_outputs.json", { json: so.json }]);
  if (so.regex !== null && so.regex !== undefined) found.push(["structured_outputs.regex", { regex: so.regex }]);
  if (so.choice !== null && so.choice !== undefined) found.push(["structured_outputs.choice", { choice: so.choice }]);
  if (so.grammar !== null && so.grammar !== undefined) found.push(["structured_outputs.grammar", { grammar: so.grammar }]);
  if (so.json_object === true) found.push(["structured_outputs.json_object", { jsonObject: true }]);
  return found;
}

function fromResponseFormat(r: StructuredOutputFields): Found[] {
  const rf = r.response_format;
  if (!rf || rf.type === "text") return [];
  if (rf.type === "json_object") return [["response_format", { jsonObject: true }]];
  if (rf.type === "json_schema") {
    const schema = rf.json_schema?.schema;
    if (schema === null || schema === undefined)
      throw new BadRequestError("response_format of type 'json_schema' needs json_schema.schema", "response_format.json_schema");
    return [["response_format", { json: schema }]];
  }
  if (rf.type === "structural_tag") throw new BadRequestError("response_format of type 'structural_tag' is not supported yet", "response_format.type");
  throw new BadRequestError(`response_format.type must be 'text', 'json_object' or 'json_schema', got '${rf.type}'`, "response_format.type");
}

// Older clients still send these; vLLM dropped them silently, which confused users, so they are honoured.
function fromGuided(r: StructuredOutputFields): Found[] {
  if (r.guided_whitespace_pattern !== null && r.guided_whitespace_pattern !== undefined)
    throw new BadRequestError("guided_whitespace_pattern is not supported yet", "guided_whitespace_pattern");
  const found: Found[] = [];
  if (r.guided_json !== null && r.guided_json !== undefined) found.push(["guided_json", { json: r.guided_json }]);
  if (r.guided_regex !== null && r.guided_regex !== undefined) found.push(["guided_regex", { regex: r.guided_regex }]);
  if (r.guided_choice !== null && r.guided_choice !== undefined) found.push(["guided_choice", { choice: r.guided_choice }]);
  if (r.guided_grammar !== null && r.guided_grammar !== undefined) found.push(["guided_grammar", { grammar: r.guided_grammar }]);
  return found;
}

/**
 * Compiles the grammar of each params (a no-op without a constraint). Start the engine requests right after
 * this resolves: a prepared grammar is kept in the cache only for a while. A constraint that is invalid,
 * unsupported or too slow to compile is a 400 carrying the compiler's message.
 */
export async function prepareConstraint(state: ServerState, params: readonly SamplingParams[], constraint: Constraint | null): Promise<void> {
  if (constraint === null) return;
  try {
    await Promise.all(params.map((p) => state.llm.engine.prepareStructuredOutput(p)));
  } catch (e) {
    if (e instanceof StructuredOutputError) throw new BadRequestError(e.message, constraint.param);
    throw e;
  }
}
