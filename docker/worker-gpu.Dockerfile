# nightshift GPU worker image. tfjs-node-gpu 4.22 links libtensorflow 2.9.1, built
# against CUDA 11.2 / cuDNN 8.1; the CUDA 11.8 + cuDNN 8 runtime base carries
# compatible libraries (CUDA 11.x minor-version compatibility, cuDNN 8 ABI), so the
# CUDA version of the host's AMI does not matter: the host only needs the NVIDIA
# driver and the container toolkit (the Deep Learning AMIs have both) and
# `docker run --gpus all`.
#   docker build -f docker/worker-gpu.Dockerfile -t nightshift-worker-gpu .
FROM node:22.12.0-bookworm-slim AS node

FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04 AS build
COPY --from=node /usr/local/bin/node /usr/local/bin/node
COPY --from=node /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s /usr/local/lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# tfjs-node-gpu at build time (it downloads libtensorflow with GPU support during install),
# at the version of the release's @tensorflow/tfjs
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm install --no-save --omit=dev --no-audit --no-fund "@tensorflow/tfjs-node-gpu@$(node -p 'require("./node_modules/@tensorflow/tfjs/package.json").version')" \
 && npm cache clean --force

FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04
COPY --from=node /usr/local/bin/node /usr/local/bin/node
RUN useradd --uid 1000 --create-home --shell /usr/sbin/nologin nightshift
ENV NODE_ENV=production \
    NIGHTSHIFT_DATA_DIR=/tmp/nightshift \
    NIGHTSHIFT_HEALTH_FILE=/tmp/nightshift-health \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TF_FORCE_GPU_ALLOW_GROWTH=true
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY --chown=root:root services ./services
COPY --chown=root:root workers ./workers
COPY --chown=root:root scripts ./scripts
USER nightshift
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "const f=process.env.NIGHTSHIFT_HEALTH_FILE;try{process.exit(Date.now()-require('fs').statSync(f).mtimeMs<60000?0:1)}catch{process.exit(1)}"]
CMD ["node", "--import", "tsx", "workers/trainer/main.ts"]
