#!/usr/bin/env python3
"""Create a Llama-3-8B-shaped random-weight model with HF transformers, save it as bf16 safetensors,
and record HF's reference on it: final-position logits (bf16 model, and the same weights upcast to
float32), greedy continuations with their top-2 margins, and the logits of the last greedy step.

Usage (on the GPU machine):
  python3 scripts/gpu/make_llama8b.py --out /tmp/llama8b --tokenizer DIR --ref /tmp/llama8b-ref [--init peaked|hf]

Writes <ref>/reference.json (prompts, greedy tokens, margins) and <ref>/logits_{bf16,f32,decode_bf16}.bin
(float32, [num_prompts, vocab]). Shapes follow Meta-Llama-3.1-8B's config.json. Shards stay under 2 GB.

--init hf keeps transformers' initialization (every matrix N(0, 0.02)): its logits are nearly flat
(top-2 margins 0-0.1) and the 32-layer stack is chaotic (HF's own bf16 logits sit ~5% from float32),
so bf16 rounding alone flips greedy tokens and no check against it means much.
--init peaked (default) follows src/demo/random_model.ts, which gives the tiny test models clear winners:
  - embeddings N(0, 1); q, k, v, gate and up N(0, 1/fan_in), so attention and the MLP see O(1) inputs;
  - o_proj and down_proj 0.7/sqrt(layers/2) / sqrt(fan_in): every layer changes the residual stream, but
    the stream stays dominated by what is exact in bf16 (embeddings), not by 32 layers of rounding;
  - RMSNorm gains N(1, 0.2), the final norm's N(2, 0.4);
  - a "successor" lm_head: N(0, 0.3) plus, in row succ(a) for a fixed random permutation succ, the
    embedding of a projected on a random 48-dimensional subspace (rescaled to the embedding's norm).
    The current token then favours its successor by a margin of tens of logits, while the layers' part of
    the hidden state still decides some steps. A full-rank successor would win every step by thousands
    of logits at this width, leaving the layers nothing to decide; a rank of 16 makes near-ties common.
"""

import argparse
import json
import shutil
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

PROMPT_LENS = [7, 32, 128, 512, 1024, 2000]
GREEDY_STEPS = 32
SUCCESSOR_RANK = 48


def config(layers):
    return LlamaConfig(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=layers, num_attention_heads=32,
        num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=131072,
        rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000,
        eos_token_id=[128001, 128008, 128009], hidden_act="silu", attention_bias=False, mlp_bias=False,
        rope_scaling={"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        torch_dtype="bfloat16",
    )


@torch.no_grad()
def peaked_init(model, layers, g):
    """Overwrites transformers' init in place (see the module docstring); `g` is a CUDA generator."""
    def normal(t, std, mean=0.0):
        t.copy_(torch.randn(t.shape, generator=g, device=t.device, dtype=torch.float32).mul_(std).add_(mean))

    def linear(lin, gain):
        normal(lin.weight, gain / lin.weight.shape[1] ** 0.5)

    out_gain = 0.7 / (layers / 2) ** 0.5
    m = model.model
    normal(m.embed_tokens.weight, 1.0)
    for layer in m.layers:
        a, f = layer.self_attn, layer.mlp
        for lin in (a.q_proj, a.k_proj, a.v_proj, f.gate_proj, f.up_proj):
            linear(lin, 1.0)
        linear(a.o_proj, out_gain)
        linear(f.down_proj, out_gain)
        normal(layer.input_layernorm.weight, 0.2, 1.0)
        normal(layer.post_attention_layernorm.weight, 0.2, 1.0)
    normal(m.norm.weight, 0.4, 2.0)
    hidden, vocab = m.embed_tokens.weight.shape[1], m.embed_tokens.weight.shape[0]
    basis, _ = torch.linalg.qr(torch.randn(hidden, SUCCESSOR_RANK, generator=g, device="cuda"))
    succ = torch.randperm(vocab, generator=g, device="cuda")
    head = model.lm_head.weight
    normal(head, 0.3)
    for start in range(0, vocab, 16384):  # in slices: the f32 product of the whole table is 2 GB
        e = m.embed_tokens.weight[start:start + 16384].float()
        rows = (e @ basis) @ basis.T * (hidden / SUCCESSOR_RANK) ** 0.5
        idx = succ[start:start + 16384]
        head[idx] = (head[idx].float() + rows).to(head.dtype)


def build(layers, init):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(config(layers)).eval()
    torch.set_default_dtype(torch.float32)
    if init == "peaked":
        peaked_init(model, layers, torch.Generator(device="cuda").manual_seed(0))
    return model


def prompts(vocab):
    g = torch.Generator().manual_seed(1234)
    return [torch.randint(1000, vocab - 1000, (n,), generator=g).tolist() for n in PROMPT_LENS]


@torch.no_grad()
def final_logits(model, ids):
    return model(torch.tensor([ids], device="cuda")).logits[0, -1].float().cpu()


@torch.no_grad()
def greedy(model, ids):
    """Greedy tokens, top-2 logprob margins, and the raw logits of the last step (incremental decode)."""
    out = model.generate(torch.tensor([ids], device="cuda"), max_new_tokens=GREEDY_STEPS, min_new_tokens=GREEDY_STEPS,
                         do_sample=False, output_logits=True, return_dict_in_generate=True, pad_token_id=0)
    tokens = out.sequences[0, len(ids):].tolist()
    margins = []
    for s in out.logits:
        top = torch.topk(torch.log_softmax(s[0].float(), -1), 2).values
        margins.append(float(top[0] - top[1]))
    return tokens, margins, out.logits[-1][0].float().cpu()


def rel(a, b):
    return float((a - b).norm() / b.norm())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", required=True, help="directory with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--ref", required=True)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--init", choices=["hf", "peaked"], default="peaked")
    args = ap.parse_args()
    out, ref = Path(args.out), Path(args.ref)
    ref.mkdir(parents=True, exist_ok=True)
    ps = prompts(128256)

    t0 = time.time()
    model = build(args.layers, args.init)
    t_init = time.time() - t0
    model.save_pretrained(out, safe_serialization=True, max_shard_size="2GB")
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(Path(args.tokenizer) / f, out / f)
    t_save = time.time() - t0 - t_init
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    print(f"make_llama8b: --init {args.init}: init {t_init:.1f} s, save {t_save:.1f} s, {weight_bytes / 1e9:.2f} GB of bf16 weights", flush=True)

    logits_bf16 = torch.stack([final_logits(model, p) for p in ps])
    cases, decode_bf16 = [], []
    for p in ps:
        tokens, margins, last = greedy(model, p)
        cases.append({"prompt_token_ids": p, "greedy_tokens": tokens, "margins": margins})
        decode_bf16.append(last)
    logits_bf16.numpy().tofile(ref / "logits_bf16.bin")
    torch.stack(decode_bf16).numpy().tofile(ref / "logits_decode_bf16.bin")
    model.float()  # the same weights, upcast: how far bf16 itself is from exact
    logits_f32 = torch.stack([final_logits(model, p) for p in ps])
    logits_f32.numpy().tofile(ref / "logits_f32.bin")
    # The last greedy step again in f32, on the bf16 run's tokens (a full forward instead of cached decode).
    decode_f32 = torch.stack([final_logits(model, c["prompt_token_ids"] + c["greedy_tokens"][:-1]) for c in cases])
    noise = [rel(a, b) for a, b in zip(logits_bf16, logits_f32)]
    decode_noise = [rel(a, b) for a, b in zip(torch.stack(decode_bf16), decode_f32)]
    for c in cases:
        print(f"make_llama8b: prompt {len(c['prompt_token_ids'])}: HF greedy top-2 margins min {min(c['margins']):.2f}, "
              f"median {sorted(c['margins'])[len(c['margins']) // 2]:.2f}", flush=True)
    print(f"make_llama8b: HF bf16 vs HF f32 logits rel err {['%.2e' % r for r in noise]}; at the last greedy step "
          f"{['%.2e' % r for r in decode_noise]}", flush=True)
    (ref / "reference.json").write_text(json.dumps({
        "vocab_size": model.config.vocab_size, "weight_bytes": weight_bytes, "cases": cases, "init": args.init,
        "hf_bf16_vs_f32_rel_err": noise, "hf_bf16_vs_f32_decode_rel_err": decode_noise, "init_s": t_init, "save_s": t_save,
    }))


if __name__ == "__main__":
    main()
