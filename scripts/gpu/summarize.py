#!/usr/bin/env python3
"""Prints the table of a cuda-check run from the JSON files it left in --dir, and writes summary.json."""

import argparse
import json
from pathlib import Path


def load(d, name):
    p = Path(d) / name
    return json.loads(p.read_text()) if p.exists() else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    check, tput, hf, cold, dec1 = (load(args.dir, n) for n in ("llama8b_check.json", "throughput.json", "hf_generate.json", "cold_start.json", "decode_batch1.json"))
    rows = []
    if check:
        rows.append(("device", check["device"]))
        dec = check.get("max_decode_rel_err_vs_hf_bf16")
        rows.append(("logits rel err vs HF bf16 (max: prompt, decode)", f"{check['max_rel_err_vs_hf_bf16']:.2e}, {dec if dec is None else f'{dec:.2e}'} (issue bound {check['rel_err_bound']}: {'met' if check.get('spec_logits_ok') else 'not met'}; --init {check.get('init')})"))
        rows.append(("logits rel err vs HF f32 (ours / HF bf16)", ", ".join(f"{c['rel_err_vs_hf_f32']:.2e}/{c['hf_bf16_rel_err_vs_f32']:.2e}" for c in check["cases"])))
        rows.append(("noise-aware verdict (logits, greedy)", f"{'ok' if check.get('logits_ok') else 'FAIL'}, {'ok' if check.get('greedy_ok') else 'FAIL'}"))
        rows.append(("greedy steps equal to HF (HF min margin)", ", ".join(f"{c['greedy_steps_equal']}/32 ({c['min_margin']:.1f})" for c in check["cases"])))
        rows.append((f"greedy 32/32 where HF margins >= {check.get('large_margin')}", f"{'met' if check.get('spec_greedy_ok') else 'NOT met'} on {check.get('large_margin_prompts')} prompts"))
        rows.append(("device vs host sampling on real logits", f"{check.get('device_sampling_mismatches')} mismatches in {check.get('device_sampling_checks')} rows"))
        d = check["decode_batch1"]
        rows.append(("batch-1 decode (harness)", f"{d['tok_per_s']:.1f} tok/s ({d['ms_per_step']:.2f} ms/step, host issue {d['host_issue_ms_per_step']:.2f} ms)"))
        rows.append(("bandwidth roofline", f"{check['roofline_tok_per_s']:.1f} tok/s ({check['weight_bytes'] / 1e9:.2f} GB at {check['copy_bandwidth_bytes_per_s'] / 1e12:.2f} TB/s)"))
        for r in check.get("decode_batched", []):
            rows.append((f"decode batch {r['batch']} + device sampling", f"{r['gpu_tok_per_s']:.0f} tok/s (forward {r['forward_ms']:.2f} ms, sampling {r['sample_ms']:.2f} ms, with top_k+top_p {r['sample_topk_topp_ms']:.2f} ms; logits to host {r['logits_readback_ms']:.2f} ms)"))
        rows.append(("weight load (harness)", f"{check['load_seconds']:.1f} s"))
    if dec1:
        rows.append(("batch-1 engine (bench, 512 in / 256 out)", f"{dec1['output_tokens_per_second']:.1f} output tok/s ({dec1['elapsed_time']:.2f} s, prompt included)"))
    if tput:
        rows.append(("vllm-bun throughput", f"{tput['requests_per_second']:.2f} req/s, {tput['output_tokens_per_second']:.0f} output tok/s ({tput['num_requests']} prompts)"))
    if hf:
        rows.append(("HF generate throughput", f"{hf['requests_per_second']:.2f} req/s, {hf['output_tokens_per_second']:.0f} output tok/s (batch {hf['batch_size']}, {hf['num_prompts']} prompts)"))
    if cold:
        phases = ", ".join(f"{k} {v:.1f}" for k, v in cold["phase_seconds"].items())
        rows.append(("cold start to /health", f"{cold['healthy_s']:.1f} s ({phases})" if cold["healthy_s"] else "never healthy"))
    width = max((len(r[0]) for r in rows), default=0)
    print("\n".join(f"{k.ljust(width)}  {v}" for k, v in rows))
    (Path(args.dir) / "summary.json").write_text(json.dumps({"check": check, "throughput": tput, "hf_generate": hf, "cold_start": cold}, indent=2))


if __name__ == "__main__":
    main()
