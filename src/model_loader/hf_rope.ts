// The RoPE fields of a config.json in both spellings transformers reads: 4.x (rope_theta, rope_scaling,
// Gemma 3's rope_local_base_freq) and 5.x (rope_parameters, nested by layer type for Gemma 3).
import { ModelLoadError } from "./errors";
import type { ConfigFields } from "./hf_config";
import type { Architecture, GemmaConfig, LongRopeScaling, ModelConfig, RopeScaling } from "./model_config";

/** What the RoPE parse needs from the rest of the config. */
export interface RopeContext {
  architecture: Architecture;
  headDim: number;
  maxPositionEmbeddings: number;
}

export type RopeFields = Pick<ModelConfig, "ropeTheta" | "ropeScaling" | "partialRotaryFactor"> & {
  localRope: GemmaConfig["localRope"];
};

const GEMMA3_THETA = { global: 1_000_000, local: 10_000 };

export function readRope(f: ConfigFields, ctx: RopeContext): RopeFields {
  if (ctx.architecture === "Gemma3ForCausalLM") return readGemma3Rope(f, ctx);
  const partial = readPartialRotary(f, ctx);
  const rotaryDim = Math.floor(ctx.headDim * (partial ?? 1));
  const withPartial = (r: Pick<ModelConfig, "ropeTheta" | "ropeScaling">): RopeFields =>
    ({ ...r, ...(partial === undefined ? {} : { partialRotaryFactor: partial }), localRope: null });
  const sctx = { ...ctx, rotaryDim, originalMax: topLevelOriginalMax(f, ctx) };
  if (f.has("rope_parameters")) {
    const p = f.object("rope_parameters");
    const theta = p.has("rope_theta") ? p.positiveNumber("rope_theta") : f.positiveNumber("rope_theta", 10000);
    return withPartial({ ropeTheta: theta, ropeScaling: readRopeScaling(p, "default", sctx) });
  }
  const theta = f.positiveNumber("rope_theta", 10000);
  if (!f.has("rope_scaling") || f.get("rope_scaling") === "default") return withPartial({ ropeTheta: theta, ropeScaling: null });
  return withPartial({ ropeTheta: theta, ropeScaling: readRopeScaling(f.object("rope_scaling"), null, sctx) });
}

// Gemma 3 rotates its sliding-window layers with their own base (and never scales them).
function readGemma3Rope(f: ConfigFields, ctx: RopeContext): RopeFields {
  const sctx = { ...ctx, rotaryDim: ctx.headDim, originalMax: null };
  if (f.has("rope_parameters")) {
    const p = f.object("rope_parameters");
    const full = p.has("full_attention") ? p.object("full_attention") : null;
    const local = p.has("sliding_attention") ? p.object("sliding_attention") : null;
    const localScaling = local ? readRopeScaling(local, "default", sctx) : null;
    if (localScaling !== null) local!.fail("rope_type", `"default" (Gemma 3 never scales its sliding-window layers)`, localScaling.type);
    return {
      ropeTheta: full?.has("rope_theta") ? full.positiveNumber("rope_theta") : f.positiveNumber("rope_theta", GEMMA3_THETA.global),
      ropeScaling: full ? readRopeScaling(full, "default", sctx) : null,
      localRope: { theta: local?.has("rope_theta") ? local.positiveNumber("rope_theta") : f.positiveNumber("rope_local_base_freq", GEMMA3_THETA.local), scaling: null },
    };
  }
  const scaling = !f.has("rope_scaling") || f.get("rope_scaling") === "default" ? null : readRopeScaling(f.object("rope_scaling"), null, sctx);
  return {
    ropeTheta: f.positiveNumber("rope_theta", GEMMA3_THETA.global),
    ropeScaling: scaling,
    localRope: { theta: f.positiveNumber("rope_local_base_freq", GEMMA3_THETA.local), scaling: null },
  };
}

// Phi-3 keeps partial_rotary_factor at the top level or inside rope_parameters; 1 means full rotary.
function readPartialRotary(f: ConfigFields, ctx: RopeContext): number | undefined {
  const inner = f.has("rope_parameters") ? f.object("rope_parameters") : null;
  const src = inner?.has("partial_rotary_factor") ? inner : f.has("partial_rotary_factor") ? f : null;
  if (src === null) return undefined;
  const factor = src.positiveNumber("partial_rotary_factor");
  if (factor > 1) src.fail("partial_rotary_factor", "a number in (0, 1]", factor);
  if (ctx.architecture !== "Phi3ForCausalLM") {
    if (factor === 1) return undefined;
    src.fail("partial_rotary_factor", `1 for ${ctx.architecture}`, factor);
  }
  const rotary = Math.floor(ctx.headDim * factor);
  if (rotary % 2 !== 0 || rotary === 0) src.fail("partial_rotary_factor", `one that rotates an even, non-zero part of head_dim ${ctx.headDim}`, factor);
  return factor === 1 ? undefined : factor;
}

// Phi-3 writes original_max_position_embeddings at the top level, and transformers prefers it there.
function topLevelOriginalMax(f: ConfigFields, ctx: RopeContext): number | null {
  if (ctx.architecture !== "Phi3ForCausalLM") return null;
  return f.positiveInt("original_max_position_embeddings", 4096);
}

interface ScalingContext extends RopeContext {
  rotaryDim: number;
  originalMax: number | null;
}

function readRopeScaling(s: ConfigFields, fallbackType: string | null, ctx: ScalingContext): RopeScaling | null {
  const type = s.string("rope_type") ?? s.string("type") ?? fallbackType;
  if (type === null) return s.fail("rope_type", `one of "default", "linear", "llama3", "longrope"`, undefined);
  switch (type) {
    case "default":
      return null;
    case "linear":
      return { type: "linear", factor: readFactor(s) };
    case "llama3": {
      const lowFreqFactor = s.positiveNumber("low_freq_factor");
      const highFreqFactor = s.positiveNumber("high_freq_factor");
      if (highFreqFactor <= lowFreqFactor) s.fail("high_freq_factor", `greater than low_freq_factor (${lowFreqFactor})`, highFreqFactor);
      return {
        type: "llama3",
        factor: readFactor(s),
        lowFreqFactor,
        highFreqFactor,
        originalMaxPositionEmbeddings: s.positiveInt("original_max_position_embeddings"),
      };
    }
    case "longrope":
    case "su": // Phi-3's first name for longrope
    case "yarn": // transformers runs a Phi-3 config that says yarn as longrope
      // Only Phi-3's loader applies longrope's attention factor (phi3.ts).
      if (ctx.architecture === "Phi3ForCausalLM") return readLongRope(s, ctx);
    // falls through
    default:
      throw new ModelLoadError(s.source, `RoPE scaling type '${type}' is not supported (supported: default, linear, llama3, longrope)`);
  }
}

function readFactor(s: ConfigFields): number {
  const factor = s.positiveNumber("factor");
  if (factor < 1) s.fail("factor", "a number >= 1", factor);
  return factor;
}

// As transformers computes it: factor defaults to max_position_embeddings / original, and the cos/sin
// multiplier to sqrt(1 + ln(factor) / ln(original)).
function readLongRope(s: ConfigFields, ctx: ScalingContext): LongRopeScaling {
  const originalMax = ctx.originalMax ?? s.positiveInt("original_max_position_embeddings", ctx.maxPositionEmbeddings);
  const half = ctx.rotaryDim / 2;
  const factors = (key: string): number[] => {
    const v = s.get(key);
    if (!Array.isArray(v) || v.length !== half || !v.every((x) => typeof x === "number" && Number.isFinite(x) && x > 0)) {
      s.fail(key, `a list of ${half} positive numbers (half the rotary dimension)`, v);
    }
    return [...(v as number[])];
  };
  const factor = s.has("factor") ? s.positiveNumber("factor") : ctx.maxPositionEmbeddings / originalMax;
  const attentionFactor = s.has("attention_factor")
    ? s.positiveNumber("attention_factor")
    : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(originalMax));
  return { type: "longrope", shortFactor: factors("short_factor"), longFactor: factors("long_factor"), originalMaxPositionEmbeddings: originalMax, attentionFactor };
}
