/**
 * The decoder-only transformer shared by Llama 2/3.x, Mistral, Qwen2/2.5, Qwen3 and Phi-3: pre-norm attention
 * (GQA, RoPE, optional q/k/v bias, optional per-head q/k RMSNorm) and a feed-forward block: the SiLU-gated MLP,
 * or the mixture-of-experts block of Mixtral and Qwen-MoE (moe.ts passes its own). Differences between
 * the families are flags on ModelConfig, as in vLLM where the Qwen and Mistral models reuse Llama's layers.
 */
import type { AttentionLayerOptions, Backend, Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import type { ModelConfig } from "../model_loader/model_config";
import type { ForwardBatch, KVCache } from "./forward_batch";
import { computeInvFreq } from "./rotary_embedding";
import { attentionLayers } from "./attention_layers";
import { allocMlpScratch, denseFeedForward, type FeedForward, type FeedForwardFactory } from "./feed_forward";
import { checkShape, hostF32 } from "./weights";
import type { TensorInfo } from "../model_loader/safetensors";

export { checkShape };

/** q, k and v are either one fused projection (backends with qkvRopeAndCache) or three. */
type QkvWeights =
  | { fused: true; qkvProj: Tensor; qkvBias: Tensor | null }
  | { fused: false; qProj: Tensor; kProj: Tensor; vProj: Tensor; qBias: Tensor | null; kBias: Tensor | null; vBias: Tensor | null };

interface LayerWeights {
  inputLayernorm: Tensor;
  qkv: QkvWeights;
  oProj: Tensor; oBias: Tensor | null;
  qNorm: Tensor | null; kNorm: Tensor | null;
  postAttentionLayernorm: Tensor;
  mlp: FeedForward;
}

/** Activation buffers sized once for the largest step (qkv with a fused projection, else k and v). */
interface Workspace {
  hidden: Tensor; residual: Tensor; q: Tensor; k: Tensor | null; v: Tensor | null; qkv: Tensor | null; attnOut: Tensor; proj: Tensor;
  lastHidden: Tensor; logits: Tensor;
}

/** feedForward: each layer's block (default: the SiLU-gated MLP); mixture-of-experts models pass theirs. */
export interface LlamaOptions {
  maxModelLen?: number;
  feedForward?: FeedForwardFactory;
}

export class LlamaForCausalLM {
  private readonly layers: LayerWeights[];
  private readonly embedTokens: Tensor;
  private readonly norm: Tensor;
  private readonly lmHead: Tensor;
  private readonly invFreq: Tensor;
  private readonly ws: Workspace;
  private readonly attnLayers: AttentionLayerOptions[];
  readonly qSize: number;
  readonly kvSize: number;
  private readonly fusedQkv: boolean;

  constructor(
    readonly config: ModelConfig,
    private readonly backend: Backend,
    ckpt: Checkpoint,
    readonly maxNumTokens: number,
    readonly maxNumLogits: number,
    opts: LlamaOptions = {},
  ) {
    const c = config;
    this.fusedQkv = backend.qkvRopeAndCache !== undefined;
    this.qSize = c.numAttentionHeads * c.headDim;
    this.kvSize = c.numKeyValueHeads * c.headDim;
    this.embedTokens = backend.weight(checkShape(ckpt, "model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]));
    this.norm = backend.weight(checkShape(ckpt, "model.norm.weight", [c.hiddenSize]));
    this.lmHead = c.tieWordEmbeddings
      ? this.embedTokens
      : backend.weight(checkShape(ckpt, "lm_head.weight", [c.vocabSize, c.hiddenSize]));
    const ff = opts.feedForward ?? denseFeedForward(backend, c.hiddenSize, c.intermediateSize, c.mlpBias);
    const scratch = allocMlpScratch(backend, maxNumTokens, ff.denseWidth);
    this.layers = Array.from({ length: c.numHiddenLayers }, (_, i) => this.loadLayer(ckpt, i, ff.create(ckpt, i, scratch)));
    this.invFreq = backend.empty([c.headDim / 2], "f32");
    backend.write(this.invFreq, computeInvFreq(c, opts));
    this.attnLayers = attentionLayers(c, opts.maxModelLen);
    this.ws = this.allocWorkspace();
  }

  private loadLayer(ckpt: Checkpoint, i: number, mlp: FeedForward): LayerWeights {
    const c = this.config, b = this.backend, pre = `model.layers.${i}.`;
    const w = (name: string, shape: number[]) => b.weight(checkShape(ckpt, pre + name, shape));
    const opt = (on: boolean, name: string, shape: number[]) => (on ? w(name, shape) : null);
    const bias = (on: boolean, name: string, shape: number[]) => (on ? this.f32([checkShape(ckpt, pre + name, shape)]) : null);
    const proj = (x: "q" | "k" | "v") => checkShape(ckpt, `${pre}self_attn.${x}_proj.weight`, [x === "q" ? this.qSize : this.kvSize, c.hiddenSize]);
    const projBias = (x: "q" | "k" | "v") => checkShape(ckpt, `${pre}self_attn.${x}_proj.bias`, [x === "q" ? this.qSize : this.kvSize]);
    // One q|k|v projection where the backend has the fused op after it: one GEMM where three would be launched.
    const qkv: QkvWeights = this.fusedQkv
      ? { fused: true, qkvProj: b.concatRows([proj("q"), proj("k"), proj("v")]), qkvBias: c.attentionBias ? this.f32([projBias("q"), projBias("k"), projBias("v")]) : null }
      : {
        fused: false, qProj: b.weight(proj("q")), kProj: b.weight(proj("k")), vProj: b.weight(proj("v")),
        qBias: c.attentionBias ? this.f32([projBias("q")]) : null, kBias: c.attentionBias ? this.f32([projBias("k")]) : null,
        vBias: c.attentionBias ? this.f32([projBias("v")]) : null,
      };
    return {
      inputLayernorm: w("input_layernorm.weight", [c.hiddenSize]),
      qkv,
      oProj: w("self_attn.o_proj.weight", [c.hiddenSize, this.qSize]),
      oBias: bias(c.oProjBias, "self_attn.o_proj.bias", [c.hiddenSize]),
      qNorm: opt(c.qkNorm, "self_attn.q_norm.weight", [c.headDim]),
      kNorm: opt(c.qkNorm, "self_attn.k_norm.weight", [c.headDim]),
      postAttentionLayernorm: w("post_attention_layernorm.weight", [c.hiddenSize]),
      mlp,
    };
  }

  private f32(parts: TensorInfo[]): Tensor {
    return hostF32(this.backend, parts);
  }

  private allocWorkspace(): Workspace {
    const c = this.config, n = this.maxNumTokens, b = this.backend, dt = b.activationDtype;
    return {
      hidden: b.empty([n, c.hiddenSize], dt),
      residual: b.empty([n, c.hiddenSize], dt),
      q: b.empty([n, this.qSize], dt),
      k: this.fusedQkv ? null : b.empty([n, this.kvSize], dt),
      v: this.fusedQkv ? null : b.empty([n, this.kvSize], dt),
      qkv: this.fusedQkv ? b.empty([n, this.qSize + 2 * this.kvSize], dt) : null,
      attnOut: b.empty([n, this.qSize], dt),
      proj: b.empty([n, c.hiddenSize], dt),
      lastHidden: b.empty([this.maxNumLogits, c.hiddenSize], dt),
      logits: b.empty([this.maxNumLogits, c.vocabSize], "f32"),
    };
  }

  /** Runs the flat batch and returns logits [batch.numLogits, vocab] for the rows in batch.logitsIndices. */
  forward(batch: ForwardBatch, kvCaches: readonly KVCache[]): Tensor {
    const c = this.config, b = this.backend, ws = this.ws, n = batch.numTokens, H = c.hiddenSize;
    if (n > this.maxNumTokens || batch.numLogits > this.maxNumLogits) throw new Error("forward: batch larger than the workspace");
    b.embedding(ws.residual, this.embedTokens, batch.inputIds, n, H);
    for (let i = 0; i < this.layers.length; i++) {
      const L = this.layers[i];
      if (i === 0) b.rmsNorm(ws.hidden, ws.residual, L.inputLayernorm, n, H, c.rmsNormEps);
      else b.addRmsNorm(ws.hidden, ws.residual, ws.proj, L.inputLayernorm, n, H, c.rmsNormEps);
      this.attention(L, batch, kvCaches[i], this.attnLayers[i]);
      b.addRmsNorm(ws.hidden, ws.residual, ws.proj, L.postAttentionLayernorm, n, H, c.rmsNormEps);
      L.mlp.forward(ws.hidden, ws.proj, n);
    }
    b.addRmsNorm(ws.hidden, ws.residual, ws.proj, this.norm, n, H, c.rmsNormEps);
    // Only the rows that are sampled go through lm_head.
    b.embedding(ws.lastHidden, ws.hidden, batch.logitsIndices, batch.numLogits, H);
    b.matmul(ws.logits, ws.lastHidden, this.lmHead, null, batch.numLogits, c.vocabSize, H);
    return ws.logits;
  }

  private attention(L: LayerWeights, batch: ForwardBatch, kv: KVCache, layer: AttentionLayerOptions): void {
    const c = this.config, b = this.backend, ws = this.ws, n = batch.numTokens, H = c.hiddenSize;
    const nh = c.numAttentionHeads, nkv = c.numKeyValueHeads, hd = c.headDim, P = L.qkv;
    if (P.fused) {
      b.matmul(ws.qkv!, ws.hidden, P.qkvProj, P.qkvBias, n, this.qSize + 2 * this.kvSize, H);
      b.qkvRopeAndCache!(ws.q, ws.qkv!, kv.k, kv.v, L.qNorm, L.kNorm, c.rmsNormEps, batch.positions, batch.slotMapping, this.invFreq, n, nh, nkv, hd);
    } else {
      const k = ws.k!, v = ws.v!;
      b.matmul(ws.q, ws.hidden, P.qProj, P.qBias, n, this.qSize, H);
      b.matmul(k, ws.hidden, P.kProj, P.kBias, n, this.kvSize, H);
      b.matmul(v, ws.hidden, P.vProj, P.vBias, n, this.kvSize, H);
      if (L.qNorm && L.kNorm) {
        b.rmsNorm(ws.q, ws.q, L.qNorm, n * nh, hd, c.rmsNormEps);
        b.rmsNorm(k, k, L.kNorm, n * nkv, hd, c.rmsNormEps);
      }
      if (b.ropeAndCache) {
        b.ropeAndCache(ws.q, k, v, kv.k, kv.v, batch.positions, batch.slotMapping, this.invFreq, n, nh, nkv, hd);
      } else {
        b.rope(ws.q, k, batch.positions, this.invFreq, n, nh, nkv, hd);
        b.reshapeAndCache(k, v, kv.k, kv.v, batch.slotMapping, n, nkv, hd);
      }
    }
    b.pagedAttention(ws.attnOut, ws.q, kv.k, kv.v, batch.attn, nh, nkv, hd, kv.blockSize, 1 / Math.sqrt(hd), layer);
    b.matmul(ws.proj, ws.attnOut, L.oProj, L.oBias, n, H, this.qSize);
  }
}
