#!/usr/bin/env bash
# Runs on the GPU test machine (see ../shared/GPU.md): regenerates the HF transformers reference fixtures.
# Needs .gpu/bun.xz and .gpu/tokenizers.tar.xz carried along (scripts/gpu/pack.sh makes them).
# Writes $OUT/hf_models.json and $OUT/hf_tokenizer.json; copy them into test/fixtures/.
set -euo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
xz -dc .gpu/bun.xz > /tmp/bun && chmod +x /tmp/bun
tar -xJf .gpu/tokenizers.tar.xz
/tmp/bun scripts/make-tiny-models.ts --out /tmp/tiny-models
python3 scripts/fixtures/model_fixtures.py --models /tmp/tiny-models --out "$OUT/hf_models.json"
T=node_modules/@lenml
python3 scripts/fixtures/tokenizer_fixtures.py --tok llama2=$T/tokenizer-llama2/models --tok llama3=$T/tokenizer-llama3/models \
  --tok qwen3=$T/tokenizer-qwen3/models --out "$OUT/hf_tokenizer.json"
ls -la "$OUT"
