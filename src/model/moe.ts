/**
 * Mixtral, Qwen2-MoE and Qwen3-MoE: Llama's decoder (attention, norms, layer loop) with a sparse
 * mixture-of-experts block in place of the MLP, as in vLLM. The block routes each token to its top-k experts
 * (moeRoute: softmax over the router logits in f32, top-k, renormalised or not), runs them grouped by expert
 * (moeExperts: gate|up fused, then down, weighted and summed per token) and, in Qwen2-MoE, adds a
 * sigmoid-gated shared expert. Layers that decoder_sparse_step or mlp_only_layers leave dense keep the MLP.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import type { ModelConfig, MoeConfig } from "../model_loader/model_config";
import type { TensorInfo } from "../model_loader/safetensors";
import { DenseMlp, type FeedForward, type FeedForwardFactory, type MlpScratch } from "./feed_forward";
import { LlamaForCausalLM } from "./llama";
import { requireOps } from "./require_ops";
import { checkShape } from "./weights";

/** Where a checkpoint keeps layer i's router and experts (the hub's names, which differ by family). */
interface MoeNames {
  router(i: number): string;
  /** Expert e's gate, up and down projections. */
  expert(i: number, e: number): [string, string, string];
}

const MIXTRAL_NAMES: MoeNames = {
  router: (i) => `model.layers.${i}.block_sparse_moe.gate.weight`,
  expert: (i, e) => {
    const p = `model.layers.${i}.block_sparse_moe.experts.${e}.`;
    return [`${p}w1.weight`, `${p}w3.weight`, `${p}w2.weight`];
  },
};

const QWEN_NAMES: MoeNames = {
  router: (i) => `model.layers.${i}.mlp.gate.weight`,
  expert: (i, e) => {
    const p = `model.layers.${i}.mlp.experts.${e}.`;
    return [`${p}gate_proj.weight`, `${p}up_proj.weight`, `${p}down_proj.weight`];
  },
};

/** Per-step buffers every sparse layer shares, sized for the largest step. */
interface MoeScratch {
  routerLogits: Tensor; // [maxTokens, numExperts]
  topkIds: Tensor; // [maxTokens, topK] i32
  topkWeights: Tensor; // [maxTokens, topK] f32
  workspace: Tensor; // moeExperts' own
  sharedOut: Tensor | null; // [maxTokens, hidden]
  sharedGate: Tensor | null; // [maxTokens]
}

export class SparseMoeBlock implements FeedForward {
  private readonly router: Tensor;
  private readonly gateUp: Tensor;
  private readonly down: Tensor;
  private readonly shared: { mlp: DenseMlp; gate: Tensor } | null;

  constructor(
    private readonly backend: Backend,
    ckpt: Checkpoint,
    names: MoeNames,
    layer: number,
    private readonly hidden: number,
    private readonly moe: MoeConfig,
    private readonly s: MoeScratch,
    mlpScratch: MlpScratch,
  ) {
    const E = moe.numExperts, I = moe.expertIntermediateSize, H = hidden;
    this.router = backend.weight(checkShape(ckpt, names.router(layer), [E, H]));
    const gateUp: TensorInfo[] = [], down: TensorInfo[] = [];
    for (let e = 0; e < E; e++) {
      const [g, u, d] = names.expert(layer, e);
      gateUp.push(checkShape(ckpt, g, [I, H]), checkShape(ckpt, u, [I, H]));
      down.push(checkShape(ckpt, d, [H, I]));
    }
    // One tensor per projection, expert after expert: [E * 2I, H] (each expert's gate rows, then its up rows) and [E * H, I].
    this.gateUp = backend.concatRows(gateUp);
    this.down = backend.concatRows(down);
    this.shared = moe.sharedExpertIntermediateSize > 0
      ? {
        mlp: new DenseMlp(backend, ckpt, `model.layers.${layer}.mlp.shared_expert.`, H, moe.sharedExpertIntermediateSize, false, mlpScratch),
        gate: backend.weight(checkShape(ckpt, `model.layers.${layer}.mlp.shared_expert_gate.weight`, [1, H])),
      }
      : null;
  }

  forward(x: Tensor, out: Tensor, n: number): void {
    const b = this.backend, s = this.s, m = this.moe, H = this.hidden, E = m.numExperts, k = m.numExpertsPerTok;
    b.matmul(s.routerLogits, x, this.router, null, n, E, H);
    b.moeRoute!(s.topkIds, s.topkWeights, s.routerLogits, n, E, k, m.normTopkProb);
    b.moeExperts!(out, s.workspace, x, this.gateUp, this.down, s.topkIds, s.topkWeights, n, H, m.expertIntermediateSize, E, k);
    if (this.shared === null) return;
    this.shared.mlp.forward(x, s.sharedOut!, n);
    b.matmul(s.sharedGate!, x, this.shared.gate, null, n, 1, H);
    b.moeSharedAdd!(out, s.sharedOut!, s.sharedGate!, n, H);
  }
}

/** Sparse blocks where config.moe says so, the dense MLP (intermediate_size) elsewhere. */
export function moeFeedForward(config: ModelConfig, backend: Backend, maxNumTokens: number): FeedForwardFactory {
  const moe = config.moe!, H = config.hiddenSize, b = backend, dt = b.activationDtype, n = maxNumTokens, shared = moe.sharedExpertIntermediateSize > 0;
  const names = config.architecture === "MixtralForCausalLM" ? MIXTRAL_NAMES : QWEN_NAMES;
  const bytes = b.moeWorkspaceBytes!(n, H, moe.expertIntermediateSize, moe.numExperts, moe.numExpertsPerTok);
  const scratch: MoeScratch = {
    routerLogits: b.empty([n, moe.numExperts], dt),
    topkIds: b.empty([n, moe.numExpertsPerTok], "i32"),
    topkWeights: b.empty([n, moe.numExpertsPerTok], "f32"),
    workspace: b.empty([Math.ceil(bytes / 4)], "i32"),
    sharedOut: shared ? b.empty([n, H], dt) : null,
    sharedGate: shared ? b.empty([n], dt) : null,
  };
  const dense = moe.sparseLayers.some((s) => !s) ? config.intermediateSize : 0;
  return {
    denseWidth: Math.max(dense, moe.sharedExpertIntermediateSize),
    create: (ckpt, i, mlpScratch) => moe.sparseLayers[i]
      ? new SparseMoeBlock(b, ckpt, names, i, H, moe, scratch, mlpScratch)
      : new DenseMlp(b, ckpt, `model.layers.${i}.mlp.`, H, config.intermediateSize, false, mlpScratch),
  };
}

export class MoeForCausalLM extends LlamaForCausalLM {
  constructor(config: ModelConfig, backend: Backend, ckpt: Checkpoint, maxNumTokens: number, maxNumLogits: number, opts: { maxModelLen?: number } = {}) {
    if (config.moe === undefined) throw new Error(`${config.architecture}: config has no mixture-of-experts fields`);
    requireOps(backend, config.architecture, ["moeRoute", "moeWorkspaceBytes", "moeExperts"]);
    if (config.moe.sharedExpertIntermediateSize > 0) requireOps(backend, config.architecture, ["moeSharedAdd"]);
    super(config, backend, ckpt, maxNumTokens, maxNumLogits, { ...opts, feedForward: moeFeedForward(config, backend, maxNumTokens) });
  }
}
