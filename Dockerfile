# vllm-bun for NVIDIA GPUs: built with Node and the CUDA toolkit (our kernels + cuBLASLt), run on the slim
# CUDA runtime image. `--device auto` picks the GPU when the container is started with one.
#   docker build -t vllm-bun:cuda .
#   docker run --gpus all -p 8000:8000 -v hf-cache:/home/nonroot/.cache/huggingface vllm-bun:cuda Qwen/Qwen3-0.6B
# CUDA 13 needs an NVIDIA driver >= 580; for older drivers build with --build-arg CUDA_VERSION=12.8.1.
ARG CUDA_VERSION=13.0.0
ARG UBUNTU=ubuntu24.04
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim

FROM ${NODE_IMAGE} AS node

FROM docker.io/nvidia/cuda:${CUDA_VERSION}-devel-${UBUNTU} AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && apt-get install -y --no-install-recommends build-essential python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# sm_80 (A100) and sm_90a (H100/H200) cubins plus compute_80 PTX for newer GPUs; VK_CUDA_ARCHS overrides.
ARG VK_CUDA_ARCHS=sm_80,sm_90a
RUN VK_CUDA_ARCHS=${VK_CUDA_ARCHS} node scripts/build-cuda.mjs \
 && node scripts/build.mjs \
 && cc -static -Os -o dist/vllm-healthcheck deploy/image/healthcheck.c

FROM docker.io/nvidia/cuda:${CUDA_VERSION}-runtime-${UBUNTU}
RUN useradd --uid 65532 --user-group --create-home --home-dir /home/nonroot nonroot \
 && mkdir -p /home/nonroot/.cache/huggingface && chown -R 65532:65532 /home/nonroot/.cache
COPY --from=build /src/dist/vllm /src/dist/vllm-healthcheck /usr/local/bin/
USER 65532:65532
ENV HOME=/home/nonroot \
    XDG_CACHE_HOME=/home/nonroot/.cache \
    HF_HOME=/home/nonroot/.cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /home/nonroot
VOLUME ["/home/nonroot/.cache/huggingface"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=600s --retries=3 CMD ["vllm-healthcheck", "8000", "/health"]
ENTRYPOINT ["vllm", "serve"]
