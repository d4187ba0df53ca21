/**
 * A decoder layer's feed-forward block as the layer loop sees it: the SiLU-gated MLP of Llama and its kin, or
 * a mixture-of-experts block (moe.ts). Blocks read the post-attention-normed hidden rows and write the rows
 * the next fused add+RMSNorm adds to the residual.
 */
import type { Backend, Tensor } from "../backend/backend";
import type { Checkpoint } from "../model_loader/checkpoint";
import { checkShape, hostF32 } from "./weights";

export interface FeedForward {
  /** out[0..n) = block(x[0..n)); out never aliases x. */
  forward(x: Tensor, out: Tensor, n: number): void;
}

/** Activation buffers every dense MLP of a model shares: [maxTokens, 2 * width] and [maxTokens, width]. */
export interface MlpScratch {
  gateUp: Tensor;
  act: Tensor;
  /** The widest intermediate size the buffers hold. */
  width: number;
}

/** Makes each layer's block; `denseWidth` is the widest dense MLP it makes (sizes the shared MlpScratch). */
export interface FeedForwardFactory {
  denseWidth: number;
  create(ckpt: Checkpoint, layer: number, scratch: MlpScratch): FeedForward;
}

export function allocMlpScratch(backend: Backend, maxTokens: number, width: number): MlpScratch {
  const dt = backend.activationDtype;
  return { gateUp: backend.empty([maxTokens, 2 * width], dt), act: backend.empty([maxTokens, width], dt), width };
}

/** down(silu(gate x) * up x), gate and up fused into one projection; `prefix` is e.g. "model.layers.3.mlp.". */
export class DenseMlp implements FeedForward {
  private readonly gateUp: Tensor;
  private readonly down: Tensor;
  private readonly gateUpBias: Tensor | null;
  private readonly downBias: Tensor | null;

  constructor(
    private readonly backend: Backend,
    ckpt: Checkpoint,
    prefix: string,
    private readonly hidden: number,
    private readonly inter: number,
    bias: boolean,
    private readonly scratch: MlpScratch,
  ) {
    if (inter > scratch.width) throw new Error(`${prefix}: intermediate size ${inter} exceeds the MLP scratch (${scratch.width})`);
    const gate = checkShape(ckpt, prefix + "gate_proj.weight", [inter, hidden]);
    const up = checkShape(ckpt, prefix + "up_proj.weight", [inter, hidden]);
    this.gateUp = backend.concatRows([gate, up]);
    this.down = backend.weight(checkShape(ckpt, prefix + "down_proj.weight", [hidden, inter]));
    this.gateUpBias = bias
      ? hostF32(backend, [checkShape(ckpt, prefix + "gate_proj.bias", [inter]), checkShape(ckpt, prefix + "up_proj.bias", [inter])])
      : null;
    this.downBias = bias ? hostF32(backend, [checkShape(ckpt, prefix + "down_proj.bias", [hidden])]) : null;
  }

  forward(x: Tensor, out: Tensor, n: number): void {
    const b = this.backend, s = this.scratch, I = this.inter;
    b.matmul(s.gateUp, x, this.gateUp, this.gateUpBias, n, 2 * I, this.hidden);
    b.siluMul(s.act, s.gateUp, n, I);
    b.matmul(out, s.act, this.down, this.downBias, n, this.hidden, I);
  }
}

/** Llama's MLP in every layer. */
export function denseFeedForward(backend: Backend, hidden: number, inter: number, bias: boolean): FeedForwardFactory {
  return {
    denseWidth: inter,
    create: (ckpt, layer, scratch) => new DenseMlp(backend, ckpt, `model.layers.${layer}.mlp.`, hidden, inter, bias, scratch),
  };
}
