# nightshift CPU worker image: the fused engine and the pure-JS TensorFlow.js backends.
# CPU instance types run it without GPU flags, one unit per core (NIGHTSHIFT_WORKER_CONCURRENCY).
#   docker build -f docker/worker-cpu.Dockerfile -t nightshift-worker-cpu .
FROM node:22.12.0-bookworm-slim
ENV NODE_ENV=production \
    NIGHTSHIFT_DATA_DIR=/tmp/nightshift \
    NIGHTSHIFT_HEALTH_FILE=/tmp/nightshift-health
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --chown=root:root services ./services
COPY --chown=root:root workers ./workers
USER node
# healthy while the worker's heartbeats reach Redis (the agent touches the file after each one)
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const f=process.env.NIGHTSHIFT_HEALTH_FILE;try{process.exit(Date.now()-require('fs').statSync(f).mtimeMs<60000?0:1)}catch{process.exit(1)}"]
CMD ["node", "--import", "tsx", "workers/trainer/main.ts"]
