#!/bin/bash
# nightshift worker bootstrap (EC2 user data). Rendered by
# services/provisioner/providers/user-data.ts: every double-braced name becomes a single-quoted
# shell value. Configuration only: no job content, no secrets — the Redis URL is read
# from SSM Parameter Store with the instance role.
set -euo pipefail
exec > >(tee -a /var/log/nightshift-bootstrap.log) 2>&1

# A bootstrap that never hands over to the worker must not keep billing: power off in
# N minutes unless the worker, once it heartbeats, cancels this (shutdown -c).
shutdown -h +{{NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN}} 'nightshift: the worker never started'

NIGHTSHIFT_PREFIX={{NIGHTSHIFT_PREFIX}}
NIGHTSHIFT_CLUSTER={{NIGHTSHIFT_CLUSTER}}
NIGHTSHIFT_IDLE_TIMEOUT_S={{NIGHTSHIFT_IDLE_TIMEOUT_S}}
NIGHTSHIFT_S3_BUCKET={{NIGHTSHIFT_S3_BUCKET}}
AWS_REGION={{AWS_REGION}}
REDIS_URL_PARAMETER={{NIGHTSHIFT_REDIS_URL_PARAMETER}}
RELEASE_URI={{NIGHTSHIFT_RELEASE_URI}}
CUDA_HOME_WANTED={{NIGHTSHIFT_CUDA_HOME}}
NIGHTSHIFT_S3_SOURCES={{NIGHTSHIFT_S3_SOURCES}}

# A machine that cannot start its worker must not keep billing.
trap 'echo "bootstrap failed; powering off"; shutdown -h now' ERR

export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"
REDIS_URL="$(aws ssm get-parameter --with-decryption --name "$REDIS_URL_PARAMETER" --query Parameter.Value --output text)"

install -d -o ubuntu -g ubuntu /opt/nightshift
aws s3 cp "$RELEASE_URI" /opt/nightshift/release.tgz
tar -xzf /opt/nightshift/release.tgz -C /opt/nightshift
cd /opt/nightshift
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash -
  apt-get install -y nodejs
fi
npm ci --omit=dev --no-audit --no-fund
# the GPU binding matching the release's @tensorflow/tfjs; the worker picks the best backend
# that loads (tfjs-node-gpu, tfjs-node, wasm, cpu) and logs it, so a failed GPU install still trains
TFJS_VERSION="$(node -p 'require("./node_modules/@tensorflow/tfjs/package.json").version')"
npm install --no-save "@tensorflow/tfjs-node-gpu@$TFJS_VERSION" || echo "tfjs-node-gpu unavailable: the worker falls back to another backend"

# tfjs-node-gpu links against CUDA 11.x / cuDNN 8: prefer that toolkit when the image has several.
CUDA_LD=""
if [ -d "$CUDA_HOME_WANTED" ]; then CUDA_LD="$CUDA_HOME_WANTED/lib64"; fi

umask 077
cat > /etc/nightshift-worker.env <<ENV
REDIS_URL=$REDIS_URL
NIGHTSHIFT_PREFIX=$NIGHTSHIFT_PREFIX
NIGHTSHIFT_CLUSTER=$NIGHTSHIFT_CLUSTER
NIGHTSHIFT_IDLE_TIMEOUT_S=$NIGHTSHIFT_IDLE_TIMEOUT_S
NIGHTSHIFT_S3_BUCKET=$NIGHTSHIFT_S3_BUCKET
NIGHTSHIFT_S3_SOURCES=$NIGHTSHIFT_S3_SOURCES
AWS_REGION=$AWS_REGION
NIGHTSHIFT_COMPUTE=ec2
NIGHTSHIFT_SHUTDOWN_COMMAND=sudo shutdown -h now
NIGHTSHIFT_HANDOVER_COMMAND=sudo shutdown -c
LD_LIBRARY_PATH=$CUDA_LD
ENV

# The worker restarts on a crash; after 5 crashes in 10 minutes the machine powers
# off (InstanceInitiatedShutdownBehavior=terminate ends the instance).
cat > /etc/systemd/system/nightshift-worker.service <<'UNIT'
[Unit]
Description=nightshift worker
After=network-online.target
StartLimitIntervalSec=600
StartLimitBurst=5
OnFailure=poweroff.target

[Service]
User=ubuntu
WorkingDirectory=/opt/nightshift
EnvironmentFile=/etc/nightshift-worker.env
ExecStart=/usr/bin/node --import tsx workers/trainer/main.ts
Restart=on-failure
RestartSec=5
KillSignal=SIGTERM
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
UNIT
echo 'ubuntu ALL=(root) NOPASSWD: /usr/sbin/shutdown' > /etc/sudoers.d/nightshift-shutdown
trap - ERR
systemctl daemon-reload
systemctl enable --now nightshift-worker.service
