#!/usr/bin/env python3
"""HF transformers `generate` throughput on the offline workload `vllm bench throughput` runs: random
prompts of --input-len tokens, --output-len sampled tokens each (temperature 1, eos ignored).

The batch size is picked by a short sweep (--sweep-tokens new tokens per size, each size warmed up
first so allocator growth and new GEMM shapes are not charged to whichever size runs first; sizes
above --num-prompts are skipped), then all --num-prompts run at the best size. Writes one JSON
object to --out.

Usage: python3 scripts/gpu/hf_generate_bench.py --model /tmp/llama8b --out hf.json [--num-prompts 1000]
"""

import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM


def run_batch(model, prompts, new_tokens):
    ids = torch.tensor(prompts, device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                         do_sample=True, temperature=1.0, top_p=1.0, top_k=0, pad_token_id=0)
    torch.cuda.synchronize()
    assert out.shape[1] == ids.shape[1] + new_tokens
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--num-prompts", type=int, default=1000)
    ap.add_argument("--input-len", type=int, default=256)
    ap.add_argument("--output-len", type=int, default=256)
    ap.add_argument("--batch-sizes", default="64,128,256,512")
    ap.add_argument("--sweep-tokens", type=int, default=32)
    args = ap.parse_args()

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, device_map="cuda").eval()
    load_s = time.perf_counter() - t0
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    prompts = torch.randint(0, vocab, (args.num_prompts, args.input_len), generator=g).tolist()

    sweep = {}
    with torch.no_grad():
        run_batch(model, prompts[:64], 8)  # warm-up: kernels, allocator, cuBLAS plans
        # Sizes past the prompt count would only rerun the same batch.
        for bs in [int(x) for x in args.batch_sizes.split(",") if int(x) <= args.num_prompts]:
            batch = prompts[:bs]
            try:
                run_batch(model, batch, 2)
                s = run_batch(model, batch, args.sweep_tokens)
            except torch.OutOfMemoryError:
                print(f"hf_generate: batch {bs} out of memory", flush=True)
                break
            sweep[bs] = len(batch) * args.sweep_tokens / s
            print(f"hf_generate: batch {bs}: {sweep[bs]:.0f} output tok/s over {args.sweep_tokens} new tokens", flush=True)
            torch.cuda.empty_cache()
        best = max(sweep, key=sweep.get)
        t0 = time.perf_counter()
        for i in range(0, args.num_prompts, best):
            run_batch(model, prompts[i:i + best], args.output_len)
        elapsed = time.perf_counter() - t0
    result = {
        "engine": "hf_transformers_generate", "batch_size": best, "sweep_output_tok_s": sweep, "sweep_tokens": args.sweep_tokens, "load_s": load_s,
        "num_prompts": args.num_prompts, "input_len": args.input_len, "output_len": args.output_len,
        "elapsed_s": elapsed, "requests_per_second": args.num_prompts / elapsed,
        "output_tokens_per_second": args.num_prompts * args.output_len / elapsed,
        "total_tokens_per_second": args.num_prompts * (args.input_len + args.output_len) / elapsed,
    }
    print(f"hf_generate: {result['requests_per_second']:.2f} req/s, {result['output_tokens_per_second']:.0f} output tok/s "
          f"at batch {best}", flush=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
