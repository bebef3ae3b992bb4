# nightshift API and provisioner image (one image, two commands):
#   docker build -f docker/api.Dockerfile -t nightshift-api .
#   docker run nightshift-api                                              # the API (services/api/main.ts)
#   docker run nightshift-api node --import tsx services/provisioner/main.ts  # the provisioner
# Small (Debian slim, production dependencies only), runs as the unprivileged "node" user.
FROM node:22.12.0-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    NIGHTSHIFT_PROVISIONER_PORT=9090 \
    NIGHTSHIFT_DATA_DIR=/tmp/nightshift
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --chown=root:root services ./services
COPY --chown=root:root workers ./workers
COPY --chown=root:root infra ./infra
COPY --chown=root:root bin ./bin
USER node
EXPOSE 8080 9090
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "--import", "tsx", "services/api/main.ts"]
