/**
 * Gemma 2 and Gemma 3 (text): embeddings scaled by sqrt(hidden), (1 + w) RMSNorms around both sub-blocks
 * (input, post_attention, pre_feedforward, post_feedforward), a GeGLU MLP, query_pre_attn_scalar, sliding-window
 * and full layers. Gemma 2 soft-caps attention and final logits; Gemma 3 adds (1 + w) q/k norms and rotates
 * its sliding-window layers with their own RoPE base.
 */
import { type AttentionLayerOptions, type Backend, type Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import { tensorToF32 } from "../model_loader/convert";
import type { GemmaConfig, ModelConfig } from "../model_loader/model_config";
import type { TensorInfo } from "../model_loader/safetensors";
import { attentionLayers } from "./attention_layers";
import { requireOps } from "./require_ops";
import type { ForwardBatch, KVCache } from "./forward_batch";
import { checkShape } from "./llama";
import { computeInvFreq } from "./rotary_embedding";

interface LayerWeights {
  inputLayernorm: Tensor;
  qProj: Tensor; kProj: Tensor; vProj: Tensor; oProj: Tensor;
  qkvBias: [Tensor, Tensor, Tensor] | null; oBias: Tensor | null;
  qNorm: Tensor | null; kNorm: Tensor | null;
  postAttentionLayernorm: Tensor; preFeedforwardLayernorm: Tensor; postFeedforwardLayernorm: Tensor;
  gateUpProj: Tensor; downProj: Tensor;
  attn: AttentionLayerOptions;
  invFreq: Tensor;
}

interface Workspace {
  hidden: Tensor; residual: Tensor; q: Tensor; k: Tensor; v: Tensor; attnOut: Tensor; proj: Tensor;
  gateUp: Tensor; act: Tensor; lastHidden: Tensor; logits: Tensor;
}

export class Gemma2ForCausalLM {
  private readonly gemma: GemmaConfig;
  private readonly layers: LayerWeights[];
  private readonly embedTokens: Tensor;
  private readonly norm: Tensor;
  private readonly lmHead: Tensor;
  private readonly embedScale: number;
  private readonly ws: Workspace;
  private readonly qSize: number;
  private readonly kvSize: number;

  constructor(
    readonly config: ModelConfig,
    private readonly backend: Backend,
    ckpt: Checkpoint,
    readonly maxNumTokens: number,
    readonly maxNumLogits: number,
    opts: { maxModelLen?: number } = {},
  ) {
    const c = config;
    if (c.gemma === undefined) throw new Error(`${c.architecture}: config has no Gemma fields`);
    this.gemma = c.gemma;
    requireOps(backend, c.architecture, ["scale", "geluTanhMul"]);
    if (this.gemma.finalLogitSoftcapping !== null) requireOps(backend, c.architecture, ["softCap"]);
    this.qSize = c.numAttentionHeads * c.headDim;
    this.kvSize = c.numKeyValueHeads * c.headDim;
    this.embedTokens = backend.weight(checkShape(ckpt, "model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]));
    this.norm = this.gemmaNorm(checkShape(ckpt, "model.norm.weight", [c.hiddenSize]));
    this.lmHead = c.tieWordEmbeddings ? this.embedTokens : backend.weight(checkShape(ckpt, "lm_head.weight", [c.vocabSize, c.hiddenSize]));
    // HF multiplies by sqrt(hidden) cast to the activation dtype (55.4256 becomes 55.5 in bf16).
    this.embedScale = roundTo(Math.sqrt(c.hiddenSize), backend.activationDtype);
    const global = this.invFreq(computeInvFreq(c, opts));
    const local = this.gemma.localRope ? this.invFreq(computeInvFreq(c, { ...opts, local: true })) : global;
    const attn = attentionLayers(c, opts.maxModelLen, this.gemma.attnLogitSoftcapping ?? 0);
    this.layers = Array.from({ length: c.numHiddenLayers }, (_, i) =>
      this.loadLayer(ckpt, i, attn[i], c.layerTypes?.[i] === "full_attention" || c.slidingWindow === null ? global : local));
    this.ws = this.allocWorkspace();
  }

  private loadLayer(ckpt: Checkpoint, i: number, attn: AttentionLayerOptions, invFreq: Tensor): LayerWeights {
    const c = this.config, b = this.backend, pre = `model.layers.${i}.`, H = c.hiddenSize;
    const w = (name: string, shape: number[]) => b.weight(checkShape(ckpt, pre + name, shape));
    const norm = (name: string, size: number) => this.gemmaNorm(checkShape(ckpt, pre + name, [size]));
    const bias = (name: string, size: number) => this.f32(tensorToF32(checkShape(ckpt, pre + name, [size])));
    const gate = checkShape(ckpt, pre + "mlp.gate_proj.weight", [c.intermediateSize, H]);
    const up = checkShape(ckpt, pre + "mlp.up_proj.weight", [c.intermediateSize, H]);
    return {
      inputLayernorm: norm("input_layernorm.weight", H),
      qProj: w("self_attn.q_proj.weight", [this.qSize, H]),
      kProj: w("self_attn.k_proj.weight", [this.kvSize, H]),
      vProj: w("self_attn.v_proj.weight", [this.kvSize, H]),
      oProj: w("self_attn.o_proj.weight", [H, this.qSize]),
      qkvBias: c.attentionBias
        ? [bias("self_attn.q_proj.bias", this.qSize), bias("self_attn.k_proj.bias", this.kvSize), bias("self_attn.v_proj.bias", this.kvSize)]
        : null,
      oBias: c.oProjBias ? bias("self_attn.o_proj.bias", H) : null,
      qNorm: c.qkNorm ? norm("self_attn.q_norm.weight", c.headDim) : null,
      kNorm: c.qkNorm ? norm("self_attn.k_norm.weight", c.headDim) : null,
      postAttentionLayernorm: norm("post_attention_layernorm.weight", H),
      preFeedforwardLayernorm: norm("pre_feedforward_layernorm.weight", H),
      postFeedforwardLayernorm: norm("post_feedforward_layernorm.weight", H),
      gateUpProj: b.concatRows([gate, up]),
      downProj: w("mlp.down_proj.weight", [H, c.intermediateSize]),
      attn,
      invFreq,
    };
  }

  /** Gemma's RMSNorm scales by (1 + w), computed in f32 as HF does: folded into an f32 weight once. */
  private gemmaNorm(info: TensorInfo): Tensor {
    return this.f32(tensorToF32(info).map((x) => Math.fround(1 + x)));
  }

  private invFreq(values: Float32Array): Tensor {
    return this.f32(values);
  }

  private f32(values: Float32Array): Tensor {
    const t = this.backend.empty([values.length], "f32");
    this.backend.write(t, values);
    return t;
  }

  private allocWorkspace(): Workspace {
    const c = this.config, n = this.maxNumTokens, b = this.backend, dt = b.activationDtype;
    return {
      hidden: b.empty([n, c.hiddenSize], dt),
      residual: b.empty([n, c.hiddenSize], dt),
      q: b.empty([n, this.qSize], dt),
      k: b.empty([n, this.kvSize], dt),
      v: b.empty([n, this.kvSize], dt),
      attnOut: b.empty([n, this.qSize], dt),
      proj: b.empty([n, c.hiddenSize], dt),
      gateUp: b.empty([n, 2 * c.intermediateSize], dt),
      act: b.empty([n, c.intermediateSize], dt),
      lastHidden: b.empty([this.maxNumLogits, c.hiddenSize], dt),
      logits: b.empty([this.maxNumLogits, c.vocabSize], "f32"),
    };
  }

  /** Runs the flat batch and returns logits [batch.numLogits, vocab] for the rows in batch.logitsIndices. */
  forward(batch: ForwardBatch, kvCaches: readonly KVCache[]): Tensor {
    const c = this.config, b = this.backend, ws = this.ws, n = batch.numTokens, H = c.hiddenSize, eps = c.rmsNormEps;
    if (n > this.maxNumTokens || batch.numLogits > this.maxNumLogits) throw new Error("forward: batch larger than the workspace");
    b.embedding(ws.residual, this.embedTokens, batch.inputIds, n, H);
    b.scale!(ws.residual, n, H, this.embedScale);
    for (let i = 0; i < this.layers.length; i++) {
      const L = this.layers[i];
      // ws.proj holds the previous layer's post-feedforward-normed MLP output, still to be added.
      if (i === 0) b.rmsNorm(ws.hidden, ws.residual, L.inputLayernorm, n, H, eps);
      else b.addRmsNorm(ws.hidden, ws.residual, ws.proj, L.inputLayernorm, n, H, eps);
      this.attention(L, batch, kvCaches[i]);
      b.rmsNorm(ws.proj, ws.proj, L.postAttentionLayernorm, n, H, eps);
      b.addRmsNorm(ws.hidden, ws.residual, ws.proj, L.preFeedforwardLayernorm, n, H, eps);
      this.mlp(L, n);
      b.rmsNorm(ws.proj, ws.proj, L.postFeedforwardLayernorm, n, H, eps);
    }
    b.addRmsNorm(ws.hidden, ws.residual, ws.proj, this.norm, n, H, eps);
    b.embedding(ws.lastHidden, ws.hidden, batch.logitsIndices, batch.numLogits, H);
    b.matmul(ws.logits, ws.lastHidden, this.lmHead, null, batch.numLogits, c.vocabSize, H);
    const cap = this.gemma.finalLogitSoftcapping;
    if (cap !== null) b.softCap!(ws.logits, batch.numLogits, c.vocabSize, cap);
    return ws.logits;
  }

  private attention(L: LayerWeights, batch: ForwardBatch, kv: KVCache): void {
    const c = this.config, b = this.backend, ws = this.ws, n = batch.numTokens, H = c.hiddenSize;
    const nh = c.numAttentionHeads, nkv = c.numKeyValueHeads, hd = c.headDim;
    b.matmul(ws.q, ws.hidden, L.qProj, L.qkvBias?.[0] ?? null, n, this.qSize, H);
    b.matmul(ws.k, ws.hidden, L.kProj, L.qkvBias?.[1] ?? null, n, this.kvSize, H);
    b.matmul(ws.v, ws.hidden, L.vProj, L.qkvBias?.[2] ?? null, n, this.kvSize, H);
    if (L.qNorm && L.kNorm) {
      b.rmsNorm(ws.q, ws.q, L.qNorm, n * nh, hd, c.rmsNormEps);
      b.rmsNorm(ws.k, ws.k, L.kNorm, n * nkv, hd, c.rmsNormEps);
    }
    if (b.ropeAndCache) {
      b.ropeAndCache(ws.q, ws.k, ws.v, kv.k, kv.v, batch.positions, batch.slotMapping, L.invFreq, n, nh, nkv, hd);
    } else {
      b.rope(ws.q, ws.k, batch.positions, L.invFreq, n, nh, nkv, hd);
      b.reshapeAndCache(ws.k, ws.v, kv.k, kv.v, batch.slotMapping, n, nkv, hd);
    }
    b.pagedAttention(ws.attnOut, ws.q, kv.k, kv.v, batch.attn, nh, nkv, hd, kv.blockSize, 1 / Math.sqrt(this.gemma.queryPreAttnScalar), L.attn);
    b.matmul(ws.proj, ws.attnOut, L.oProj, L.oBias, n, H, this.qSize);
  }

  private mlp(L: LayerWeights, n: number): void {
    const c = this.config, b = this.backend, ws = this.ws, I = c.intermediateSize;
    b.matmul(ws.gateUp, ws.hidden, L.gateUpProj, null, n, 2 * I, c.hiddenSize);
    b.geluTanhMul!(ws.act, ws.gateUp, n, I);
    b.matmul(ws.proj, ws.act, L.downProj, null, n, c.hiddenSize, I);
  }
}

/** `x` rounded to what the activation dtype holds (bf16: round to nearest even on the top 16 bits). */
function roundTo(x: number, dtype: Backend["activationDtype"]): number {
  if (dtype === "f32") return Math.fround(x);
  if (dtype !== "bf16") throw new Error(`Gemma: no rounding to activation dtype ${dtype}`);
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  const bits = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0];
}
