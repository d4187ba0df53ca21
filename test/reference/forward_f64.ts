/**
 * An independent float64 forward pass of the supported decoder architectures, written to mirror the
 * Hugging Face transformers modeling code one step at a time. It shares nothing with the engine
 * except the checkpoint reader: it parses config.json itself, decodes bf16/f16/f32 itself and runs
 * every token through plain loops with a per-sequence KV cache. Tests compare the engine against it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openCheckpoint } from "../../src/model_loader/checkpoint";

/** Logits (one vocab-sized row per input position) of `tokenIds` run through the model in `dir`. */
export function referenceLogits(dir: string, tokenIds: number[], opts: ReferenceOptions = {}): Float64Array[] {
  const model = loadReferenceModel(dir, opts);
  const seq = new ReferenceSequence(model);
  const hidden = tokenIds.map((id) => seq.append(id));
  return model.logits(hidden);
}

/**
 * Greedy decoding of `steps` tokens after `promptIds` (EOS does not stop it). margins[i] is the gap
 * between the chosen logit and the runner-up at step i: how far from a tie the choice was.
 */
export function referenceGreedy(dir: string, promptIds: number[], steps: number, opts: ReferenceOptions = {}): { tokens: number[]; margins: number[] } {
  if (promptIds.length === 0) throw new Error("referenceGreedy needs a non-empty prompt");
  const model = loadReferenceModel(dir, opts);
  const seq = new ReferenceSequence(model);
  let last: Float64Array = new Float64Array(0);
  for (const id of promptIds) last = seq.append(id);
  const tokens: number[] = [];
  const margins: number[] = [];
  for (let step = 0; step < steps; step++) {
    const [logits] = model.logits([last]);
    const { best, margin } = top2(logits);
    tokens.push(best);
    margins.push(margin);
    if (step + 1 < steps) last = seq.append(best);
  }
  return { tokens, margins };
}

/**
 * Greedy decoding as referenceGreedy, returning the smallest gap between a token's k-th and (k+1)-th router
 * logit over every sparse layer and position: how far from a tie the expert choices were (Infinity without MoE).
 */
export function referenceRouterMargin(dir: string, promptIds: number[], steps: number): number {
  const model = loadReferenceModel(dir);
  const seq = new ReferenceSequence(model);
  let last: Float64Array = new Float64Array(0);
  for (const id of promptIds) last = seq.append(id);
  for (let step = 0; step + 1 < steps; step++) last = seq.append(top2(model.logits([last])[0]).best);
  return seq.minRouterMargin;
}

/** Index of the largest logit (lowest index on ties) and its lead over the second largest. */
export function top2(logits: Float64Array): { best: number; margin: number } {
  let best = 0;
  let second = -Infinity;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) {
      second = logits[best];
      best = i;
    } else if (logits[i] > second) {
      second = logits[i];
    }
  }
  return { best, margin: logits[best] - second };
}

/** maxModelLen: the context the engine serves, which picks longrope's long or short factors (vLLM's rule). */
export interface ReferenceOptions {
  maxModelLen?: number;
}

// --- config -----------------------------------------------------------------------------------

interface ReferenceConfig {
  architecture: string;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  eps: number;
  tie: boolean;
  qkvBias: boolean;
  oBias: boolean;
  mlpBias: boolean;
  qkNorm: boolean;
  invFreq: Float64Array;
  /** Per layer: the sliding window (Infinity: full attention) and the RoPE frequencies. */
  window: number[];
  layerInvFreq: Float64Array[];
  rotaryDim: number;
  ropeScale: number; // longrope's attention factor on cos and sin
  fusedQkv: boolean; // Phi-3's qkv_proj and gate_up_proj
  gemma: null | { embedScale: number; queryPreAttnScalar: number; attnCap: number | null; finalCap: number | null };
  /** Mixture of experts: which layers are sparse, the router's top-k and whether it renormalises. */
  moe: null | { mixtral: boolean; experts: number; topK: number; normTopk: boolean; sparse: boolean[]; sharedExpert: boolean };
}

const GEMMA_ARCHS = ["Gemma2ForCausalLM", "Gemma3ForCausalLM"];
const MOE_ARCHS = ["MixtralForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM"];

function readConfig(dir: string, opts: ReferenceOptions): ReferenceConfig {
  const c = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  const architecture: string = c.architectures[0];
  if (!["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Phi3ForCausalLM", ...GEMMA_ARCHS, ...MOE_ARCHS].includes(architecture)) {
    throw new Error(`reference forward does not implement ${architecture}`);
  }
  const isGemma = GEMMA_ARCHS.includes(architecture);
  if (!isGemma && c.hidden_act !== undefined && c.hidden_act !== "silu") throw new Error(`hidden_act ${c.hidden_act} not implemented`);
  if (isGemma && (c.hidden_activation ?? "gelu_pytorch_tanh") !== "gelu_pytorch_tanh") throw new Error(`hidden_activation ${c.hidden_activation} not implemented`);
  if (architecture.startsWith("Qwen") && c.use_sliding_window === true) throw new Error("reference forward does not implement Qwen's sliding layers");
  const numHeads: number = c.num_attention_heads;
  const headDim: number = c.head_dim ?? c.hidden_size / numHeads;
  const isQwen2 = architecture === "Qwen2ForCausalLM" || (architecture === "Qwen2MoeForCausalLM" && c.qkv_bias !== false);
  const attentionBias = !architecture.startsWith("Qwen2") && !["MistralForCausalLM", "MixtralForCausalLM"].includes(architecture) && c.attention_bias === true;
  const layers = layerAttention(c, architecture, headDim, opts);
  return {
    architecture,
    ...layers,
    fusedQkv: architecture === "Phi3ForCausalLM",
    gemma: isGemma ? {
      embedScale: Math.fround(Math.sqrt(c.hidden_size)), // HF: sqrt(hidden) in the (f32) weight dtype
      queryPreAttnScalar: c.query_pre_attn_scalar,
      attnCap: architecture === "Gemma2ForCausalLM" ? c.attn_logit_softcapping ?? null : null,
      finalCap: c.final_logit_softcapping ?? null,
    } : null,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads: c.num_key_value_heads ?? numHeads,
    headDim,
    eps: c.rms_norm_eps,
    tie: c.tie_word_embeddings ?? isGemma,
    qkvBias: isQwen2 || attentionBias,
    oBias: attentionBias,
    mlpBias: architecture === "LlamaForCausalLM" && c.mlp_bias === true,
    qkNorm: ["Qwen3ForCausalLM", "Gemma3ForCausalLM", "Qwen3MoeForCausalLM"].includes(architecture),
    moe: MOE_ARCHS.includes(architecture) ? moeConfig(c, architecture) : null,
    invFreq: layers.layerInvFreq[0],
  };
}

/** The sparse layers as the HF decoder layers pick them: Mixtral all; Qwen by decoder_sparse_step and mlp_only_layers. */
function moeConfig(c: Record<string, any>, arch: string): NonNullable<ReferenceConfig["moe"]> {
  const mixtral = arch === "MixtralForCausalLM";
  const only: number[] = c.mlp_only_layers ?? [];
  const step: number = c.decoder_sparse_step ?? 1;
  return {
    mixtral,
    experts: mixtral ? c.num_local_experts : c.num_experts,
    topK: c.num_experts_per_tok,
    normTopk: mixtral || c.norm_topk_prob === true,
    sparse: Array.from({ length: c.num_hidden_layers }, (_, i) => mixtral || (!only.includes(i) && (i + 1) % step === 0)),
    sharedExpert: arch === "Qwen2MoeForCausalLM",
  };
}

/**
 * Each layer's window and RoPE, from the config fields the tiny models write (transformers 5 layout for
 * Gemma and Phi-3: layer_types, rope_parameters).
 */
function layerAttention(c: Record<string, any>, arch: string, headDim: number, opts: ReferenceOptions) {
  const n: number = c.num_hidden_layers;
  const types: string[] = c.layer_types ?? new Array(n).fill(c.sliding_window != null && arch !== "LlamaForCausalLM" && !arch.startsWith("Qwen") ? "sliding_attention" : "full_attention");
  const window = types.map((t) => (t === "sliding_attention" ? c.sliding_window : Infinity));
  if (arch === "Gemma3ForCausalLM") {
    const rp = c.rope_parameters;
    const full = ropeInvFreq(headDim, rp.full_attention.rope_theta, rp.full_attention);
    const local = ropeInvFreq(headDim, rp.sliding_attention.rope_theta, rp.sliding_attention);
    return { window, layerInvFreq: types.map((t) => (t === "sliding_attention" ? local : full)), rotaryDim: headDim, ropeScale: 1 };
  }
  const rp = c.rope_parameters ?? { ...(c.rope_scaling ?? {}), rope_theta: c.rope_theta ?? 10000 };
  const rotaryDim = Math.floor(headDim * (rp.partial_rotary_factor ?? 1));
  let inv: Float64Array, ropeScale = 1;
  if ((rp.rope_type ?? rp.type) === "longrope") {
    const original: number = c.original_max_position_embeddings ?? rp.original_max_position_embeddings;
    const long = (opts.maxModelLen ?? c.max_position_embeddings) > original;
    const ext: number[] = long ? rp.long_factor : rp.short_factor;
    inv = ropeInvFreq(rotaryDim, rp.rope_theta, null).map((f, i) => f / ext[i]);
    const factor = c.max_position_embeddings / original;
    ropeScale = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(original));
  } else {
    inv = ropeInvFreq(rotaryDim, rp.rope_theta ?? 10000, rp.rope_type === "default" ? null : (c.rope_parameters ? rp : c.rope_scaling ?? null));
  }
  return { window, layerInvFreq: new Array(n).fill(inv), rotaryDim, ropeScale };
}

/** inv_freq[i] = theta^(-2i/d), then the rope_scaling adjustment HF applies at init. */
export function ropeInvFreq(headDim: number, theta: number, scaling: Record<string, number | string> | null): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / Math.pow(theta, (2 * i) / headDim);
  const type = scaling?.rope_type ?? scaling?.type ?? "default";
  if (scaling === null || type === "default") return inv;
  const factor = Number(scaling.factor);
  if (type === "linear") return inv.map((f) => f / factor);
  if (type !== "llama3") throw new Error(`rope_type ${type} not implemented`);
  const low = Number(scaling.low_freq_factor);
  const high = Number(scaling.high_freq_factor);
  const oldContext = Number(scaling.original_max_position_embeddings);
  const lowFreqWavelen = oldContext / low;
  const highFreqWavelen = oldContext / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f; // high frequencies are kept
    if (wavelen > lowFreqWavelen) return f / factor; // low frequencies are interpolated
    const smooth = (oldContext / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

// --- weights ----------------------------------------------------------------------------------

class ReferenceModel {
  constructor(
    readonly cfg: ReferenceConfig,
    private readonly weights: Map<string, Float64Array>,
  ) {}

  w(name: string): Float64Array {
    const t = this.weights.get(name);
    if (t === undefined) throw new Error(`reference forward: missing tensor ${name}`);
    return t;
  }

  /** Final-normed hidden states → logits through lm_head (or the tied embedding). */
  logits(hidden: Float64Array[]): Float64Array[] {
    const { vocabSize, hiddenSize: h, tie } = this.cfg;
    const head = this.w(tie ? "model.embed_tokens.weight" : "lm_head.weight");
    if (head.length !== vocabSize * h) throw new Error(`output head has ${head.length} values, expected ${vocabSize} x ${h}`);
    const out = hidden.map(() => new Float64Array(vocabSize));
    // Row-outer so each head row is read once for all positions.
    for (let v = 0; v < vocabSize; v++) {
      const base = v * h;
      for (let t = 0; t < hidden.length; t++) {
        const x = hidden[t];
        let s = 0;
        for (let i = 0; i < h; i++) s += head[base + i] * x[i];
        const cap = this.cfg.gemma?.finalCap ?? null;
        out[t][v] = cap === null ? s : cap * Math.tanh(s / cap);
      }
    }
    return out;
  }
}

// A couple of models stay decoded so a test that alternates between two does not re-read them.
// Keyed by path: a directory rewritten in place would be served stale, which no caller does.
const cache: { dir: string; model: ReferenceModel }[] = [];
const CACHE_SIZE = 2;

function loadReferenceModel(dir: string, opts: ReferenceOptions = {}): ReferenceModel {
  const key = `${dir}\0${opts.maxModelLen ?? ""}`;
  const hit = cache.find((e) => e.dir === key);
  if (hit) return hit.model;
  const cfg = readConfig(dir, opts);
  const ckpt = openCheckpoint(dir);
  const weights = new Map<string, Float64Array>();
  for (const [name, t] of ckpt.tensors) weights.set(name, decodeToF64(t.dtype, t.data, name));
  const model = new ReferenceModel(cfg, weights);
  cache.unshift({ dir: key, model });
  cache.length = Math.min(cache.length, CACHE_SIZE);
  return model;
}

/** Exact widening of little-endian F32/F16/BF16 bytes to float64. */
export function decodeToF64(dtype: string, bytes: Uint8Array, name = "?"): Float64Array {
  const aligned = bytes.slice(); // the mapped view may sit at an odd offset
  if (dtype === "F32") return Float64Array.from(new Float32Array(aligned.buffer));
  const halves = new Uint16Array(aligned.buffer);
  if (dtype === "BF16") {
    const bits = new Uint32Array(halves.length);
    for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
    return Float64Array.from(new Float32Array(bits.buffer));
  }
  if (dtype === "F16") {
    const table = f16Table();
    const out = new Float64Array(halves.length);
    for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
    return out;
  }
  throw new Error(`reference forward: tensor ${name} has unsupported dtype ${dtype}`);
}

let f16Values: Float64Array | undefined;

/** Every f16 bit pattern's value: sign * 2^(e-15) * (1 + m/1024), or m * 2^-24 when e = 0. */
function f16Table(): Float64Array {
  if (f16Values) return f16Values;
  const table = new Float64Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f) table[h] = mant ? NaN : sign * Infinity;
    else if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else table[h] = sign * (1024 + mant) * 2 ** (exp - 25);
  }
  return (f16Values = table);
}

// --- the forward pass ---------------------------------------------------------------------------

/** One sequence being decoded: its KV cache (post-RoPE keys, values) per layer. */
class ReferenceSequence {
  /** Smallest k-th vs (k+1)-th router logit gap seen so far. */
  minRouterMargin = Infinity;
  private readonly keys: Float64Array[][];
  private readonly values: Float64Array[][];

  constructor(private readonly model: ReferenceModel) {
    this.keys = Array.from({ length: model.cfg.numLayers }, () => []);
    this.values = Array.from({ length: model.cfg.numLayers }, () => []);
  }

  /** Runs token `id` at the next position; returns its final-normed hidden state. */
  append(id: number): Float64Array {
    const { cfg } = this.model;
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) throw new Error(`token id ${id} out of range`);
    const embed = this.model.w("model.embed_tokens.weight");
    const x = embed.slice(id * cfg.hiddenSize, (id + 1) * cfg.hiddenSize);
    const norm = (v: Float64Array, name: string) => (cfg.gemma ? gemmaRmsNorm : rmsNorm)(v, this.model.w(name), cfg.eps);
    if (cfg.gemma) x.forEach((v, i) => (x[i] = v * cfg.gemma!.embedScale));
    for (let layer = 0; layer < cfg.numLayers; layer++) {
      const p = `model.layers.${layer}`;
      if (cfg.gemma) {
        // Gemma norms each sub-block's output too, before adding it to the residual.
        addInPlace(x, norm(this.attention(layer, norm(x, `${p}.input_layernorm.weight`)), `${p}.post_attention_layernorm.weight`));
        addInPlace(x, norm(this.mlp(layer, norm(x, `${p}.pre_feedforward_layernorm.weight`)), `${p}.post_feedforward_layernorm.weight`));
        continue;
      }
      addInPlace(x, this.attention(layer, norm(x, `${p}.input_layernorm.weight`)));
      addInPlace(x, this.mlp(layer, norm(x, `${p}.post_attention_layernorm.weight`)));
    }
    return norm(x, "model.norm.weight");
  }

  /** q, k, v of one token: separate projections, or slices of Phi-3's fused qkv_proj. */
  private qkv(p: string, x: Float64Array): [Float64Array, Float64Array, Float64Array] {
    const { cfg } = this.model;
    if (!cfg.fusedQkv) return [this.proj(`${p}.q_proj`, x, cfg.qkvBias), this.proj(`${p}.k_proj`, x, cfg.qkvBias), this.proj(`${p}.v_proj`, x, cfg.qkvBias)];
    const all = this.proj(`${p}.qkv_proj`, x, false), q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim;
    return [all.slice(0, q), all.slice(q, q + kv), all.slice(q + kv)];
  }

  private attention(layer: number, x: Float64Array): Float64Array {
    const { cfg } = this.model;
    const p = `model.layers.${layer}.self_attn`;
    const [q, k, v] = this.qkv(p, x);
    if (cfg.qkNorm) {
      const norm = cfg.gemma ? gemmaRmsNorm : rmsNorm;
      perHead(q, cfg.headDim, (head) => norm(head, this.model.w(`${p}.q_norm.weight`), cfg.eps));
      perHead(k, cfg.headDim, (head) => norm(head, this.model.w(`${p}.k_norm.weight`), cfg.eps));
    }
    const pos = this.keys[layer].length;
    const rope = (head: Float64Array) => rotatePartial(head, pos, cfg.layerInvFreq[layer], cfg.rotaryDim, cfg.ropeScale);
    perHead(q, cfg.headDim, rope);
    perHead(k, cfg.headDim, rope);
    this.keys[layer].push(k);
    this.values[layer].push(v);

    const out = new Float64Array(cfg.numHeads * cfg.headDim);
    const group = cfg.numHeads / cfg.numKvHeads;
    // Keys at positions > pos - window: the sliding window of this layer (Infinity for full attention).
    const first = Math.max(0, pos - cfg.window[layer] + 1);
    const keys = this.keys[layer].slice(first), values = this.values[layer].slice(first);
    const scale = cfg.gemma ? 1 / Math.sqrt(cfg.gemma.queryPreAttnScalar) : 1 / Math.sqrt(cfg.headDim);
    for (let h = 0; h < cfg.numHeads; h++) {
      const head = attendOneHead(q.subarray(h * cfg.headDim, (h + 1) * cfg.headDim), keys, values, Math.floor(h / group), cfg.headDim, scale, cfg.gemma?.attnCap ?? null);
      out.set(head, h * cfg.headDim);
    }
    return this.proj(`${p}.o_proj`, out, cfg.oBias);
  }

  private mlp(layer: number, x: Float64Array): Float64Array {
    const p = `model.layers.${layer}.mlp`;
    const { mlpBias: bias, fusedQkv: fused, gemma, moe } = this.model.cfg;
    if (moe?.sparse[layer]) return this.sparseMoe(layer, x, moe);
    const gateUp = fused ? this.proj(`${p}.gate_up_proj`, x, false) : null;
    const gate = gateUp ? gateUp.slice(0, gateUp.length / 2) : this.proj(`${p}.gate_proj`, x, bias);
    const up = gateUp ? gateUp.slice(gateUp.length / 2) : this.proj(`${p}.up_proj`, x, bias);
    const act = gate.map((g, i) => (gemma ? geluTanh(g) : g / (1 + Math.exp(-g))) * up[i]);
    return this.proj(`${p}.down_proj`, act, bias);
  }

  /**
   * softmax(router x), its top-k experts (largest first, lower index on ties), renormalised or not; the sum of
   * weight * expert(x); plus Qwen2-MoE's sigmoid(shared_expert_gate x) * shared_expert(x).
   */
  private sparseMoe(layer: number, x: Float64Array, moe: NonNullable<ReferenceConfig["moe"]>): Float64Array {
    const p = moe.mixtral ? `model.layers.${layer}.block_sparse_moe` : `model.layers.${layer}.mlp`;
    const logits = this.proj(`${p}.gate`, x, false);
    const sorted = Array.from(logits).sort((a, b) => b - a);
    this.minRouterMargin = Math.min(this.minRouterMargin, sorted[moe.topK - 1] - sorted[moe.topK]);
    const max = Math.max(...logits);
    const probs = logits.map((v) => Math.exp(v - max));
    const total = probs.reduce((a, b) => a + b, 0);
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b).slice(0, moe.topK);
    const kept = order.reduce((a, e) => a + probs[e] / total, 0);
    const out = new Float64Array(x.length);
    for (const e of order) {
      const weight = probs[e] / total / (moe.normTopk ? kept : 1);
      const names = moe.mixtral ? ["w1", "w3", "w2"] : ["gate_proj", "up_proj", "down_proj"];
      const y = this.swiglu(`${p}.experts.${e}`, x, names);
      for (let i = 0; i < out.length; i++) out[i] += weight * y[i];
    }
    if (moe.sharedExpert) {
      const gate = 1 / (1 + Math.exp(-this.proj(`${p}.shared_expert_gate`, x, false)[0]));
      const y = this.swiglu(`${p}.shared_expert`, x, ["gate_proj", "up_proj", "down_proj"]);
      for (let i = 0; i < out.length; i++) out[i] += gate * y[i];
    }
    return out;
  }

  private swiglu(p: string, x: Float64Array, [gate, up, down]: string[]): Float64Array {
    const g = this.proj(`${p}.${gate}`, x, false), u = this.proj(`${p}.${up}`, x, false);
    return this.proj(`${p}.${down}`, g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]), false);
  }

  /** nn.Linear: W[out, in] @ x (+ b). */
  private proj(prefix: string, x: Float64Array, bias: boolean): Float64Array {
    const w = this.model.w(`${prefix}.weight`);
    const n = w.length / x.length;
    if (!Number.isInteger(n)) throw new Error(`${prefix}.weight does not match input size ${x.length}`);
    const y = bias ? this.model.w(`${prefix}.bias`).slice() : new Float64Array(n);
    if (y.length !== n) throw new Error(`${prefix}.bias has ${y.length} entries, expected ${n}`);
    for (let o = 0; o < n; o++) {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += w[o * x.length + i] * x[i];
      y[o] += s;
    }
    return y;
  }
}

/** softmax(cap(q·k_j * scale) over the visible keys j) @ v for one query head reading kv head `kvHead`. */
function attendOneHead(q: Float64Array, keys: Float64Array[], values: Float64Array[], kvHead: number, headDim: number, scale: number, cap: number | null): Float64Array {
  const off = kvHead * headDim;
  const scores = keys.map((k) => {
    let s = 0;
    for (let i = 0; i < headDim; i++) s += q[i] * k[off + i];
    return cap === null ? s * scale : cap * Math.tanh((s * scale) / cap);
  });
  const max = Math.max(...scores);
  const weights = scores.map((s) => Math.exp(s - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Float64Array(headDim);
  values.forEach((v, j) => {
    for (let i = 0; i < headDim; i++) out[i] += (weights[j] / total) * v[off + i];
  });
  return out;
}

function rmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  if (weight.length !== x.length) throw new Error(`norm weight has ${weight.length} entries, input ${x.length}`);
  let sumSq = 0;
  for (let i = 0; i < x.length; i++) sumSq += x[i] * x[i];
  const inv = 1 / Math.sqrt(sumSq / x.length + eps);
  return x.map((v, i) => weight[i] * (v * inv));
}

/**
 * HF rotate_half over the first `rot` dimensions: pairs (i, i + rot/2) rotate by pos * inv_freq[i], with
 * cos and sin times `scale`; the rest pass through.
 */
function rotatePartial(x: Float64Array, pos: number, invFreq: Float64Array, rot: number, scale: number): Float64Array {
  const half = rot / 2;
  const out = x.slice();
  for (let i = 0; i < half; i++) {
    const angle = pos * invFreq[i];
    const c = Math.cos(angle) * scale;
    const s = Math.sin(angle) * scale;
    out[i] = x[i] * c - x[i + half] * s;
    out[i + half] = x[i + half] * c + x[i] * s;
  }
  return out;
}

/** Gemma's RMSNorm: x / rms(x) * (1 + w). */
function gemmaRmsNorm(x: Float64Array, weight: Float64Array, eps: number): Float64Array {
  return rmsNorm(x, weight.map((w) => 1 + w), eps);
}

/** gelu_pytorch_tanh. */
function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** Replaces each head_dim slice of `x` with fn(slice). */
function perHead(x: Float64Array, headDim: number, fn: (head: Float64Array) => Float64Array): void {
  for (let off = 0; off < x.length; off += headDim) x.set(fn(x.slice(off, off + headDim)), off);
}

function addInPlace(x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
