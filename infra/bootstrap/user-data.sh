#!/bin/bash
# nightshift worker bootstrap (EC2 user data). Rendered by
# services/provisioner/providers/user-data.ts: every double-braced name becomes a single-quoted
# shell value. Configuration only: no job content, no secrets — the Redis URL is read
# from SSM Parameter Store with the instance role.
#
# The worker runs in a container image (NIGHTSHIFT_WORKER_IMAGE): on GPU types the GPU
# image (CUDA 11 + cuDNN 8 + tfjs-node-gpu) with every GPU passed through the NVIDIA container
# toolkit the Deep Learning AMI ships, so the CUDA version of the AMI does not matter;
# on CPU types the CPU image without GPU flags. Two OS variants: Amazon Linux (the
# proprietary-driver DLAMI for p3, and the CPU AMI) and Ubuntu (the OSS-driver DLAMI).
set -euo pipefail
exec > >(tee -a /var/log/nightshift-bootstrap.log) 2>&1

BOOTSTRAP_OS={{BOOTSTRAP_OS}}
WORKER_IMAGE={{WORKER_IMAGE}}
GPU_FLAGS={{GPU_FLAGS}}
ACCELERATOR={{ACCELERATOR}}
WORKER_SLOTS={{WORKER_SLOTS}}
LOG_GROUP={{LOG_GROUP}}
# A bootstrap that never hands over to the worker must not keep billing: power off in
# N minutes unless the worker, once it heartbeats, cancels this (shutdown -c).
shutdown -h +{{NIGHTSHIFT_BOOTSTRAP_POWEROFF_MIN}} 'nightshift: the worker never started'

NIGHTSHIFT_PREFIX={{NIGHTSHIFT_PREFIX}}
NIGHTSHIFT_REDIS_CLUSTER={{NIGHTSHIFT_REDIS_CLUSTER}}
NIGHTSHIFT_CLUSTER={{NIGHTSHIFT_CLUSTER}}
NIGHTSHIFT_IDLE_TIMEOUT_S={{NIGHTSHIFT_IDLE_TIMEOUT_S}}
NIGHTSHIFT_S3_BUCKET={{NIGHTSHIFT_S3_BUCKET}}
AWS_REGION={{AWS_REGION}}
REDIS_URL_PARAMETER={{NIGHTSHIFT_REDIS_URL_PARAMETER}}
NIGHTSHIFT_S3_SOURCES={{NIGHTSHIFT_S3_SOURCES}}

# A machine that cannot start its worker must not keep billing: keep the log, then power off
# (InstanceInitiatedShutdownBehavior=terminate ends the instance).
INSTANCE_ID=unknown
on_error() {
  echo "bootstrap failed; powering off"
  aws s3 cp /var/log/nightshift-bootstrap.log "s3://$NIGHTSHIFT_S3_BUCKET/instances/$INSTANCE_ID/bootstrap.log" || true
  shutdown -h now
}
trap on_error ERR

export AWS_REGION AWS_DEFAULT_REGION="$AWS_REGION"

# The instance id, read once here with retries and handed to the worker (no IMDS read at worker start).
IMDS_TOKEN="$(curl -fsS --retry 10 --retry-delay 1 --retry-connrefused -X PUT http://169.254.169.254/latest/api/token -H 'X-aws-ec2-metadata-token-ttl-seconds: 300')"
INSTANCE_ID="$(curl -fsS --retry 10 --retry-delay 1 --retry-connrefused -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/instance-id)"
INSTANCE_TYPE="$(curl -fsS --retry 10 --retry-delay 1 --retry-connrefused -H "X-aws-ec2-metadata-token: $IMDS_TOKEN" http://169.254.169.254/latest/meta-data/instance-type)"

case "$BOOTSTRAP_OS" in
  amazon-linux)
    # Amazon Linux 2 (proprietary-driver DLAMI: docker and the NVIDIA container toolkit are installed) or 2023 (CPU AMI)
    if ! command -v docker >/dev/null; then
      if command -v dnf >/dev/null; then dnf install -y docker; else yum install -y docker; fi
    fi
    command -v aws >/dev/null || { if command -v dnf >/dev/null; then dnf install -y awscli; else yum install -y awscli; fi; }
    ;;
  ubuntu)
    # Ubuntu 22.04 (OSS-driver DLAMI: docker and the NVIDIA container toolkit are installed)
    if ! command -v docker >/dev/null; then apt-get update && apt-get install -y docker.io; fi
    command -v aws >/dev/null || { apt-get update && apt-get install -y awscli; }
    ;;
  *)
    echo "unknown bootstrap variant $BOOTSTRAP_OS"; false ;;
esac
systemctl enable --now docker

REDIS_URL="$(aws ssm get-parameter --with-decryption --name "$REDIS_URL_PARAMETER" --query Parameter.Value --output text)"

# Pull the worker image (ECR: log in with the instance role first).
REGISTRY="${WORKER_IMAGE%%/*}"
if [[ "$REGISTRY" == *.dkr.ecr.*.amazonaws.com ]]; then
  aws ecr get-login-password --region "$AWS_REGION" | docker login --username AWS --password-stdin "$REGISTRY"
fi
docker pull "$WORKER_IMAGE"

install -d -m 1777 /run/nightshift
umask 077
cat > /etc/nightshift-worker.env <<ENV
REDIS_URL=$REDIS_URL
NIGHTSHIFT_PREFIX=$NIGHTSHIFT_PREFIX
NIGHTSHIFT_REDIS_CLUSTER=$NIGHTSHIFT_REDIS_CLUSTER
NIGHTSHIFT_CLUSTER=$NIGHTSHIFT_CLUSTER
NIGHTSHIFT_IDLE_TIMEOUT_S=$NIGHTSHIFT_IDLE_TIMEOUT_S
NIGHTSHIFT_S3_BUCKET=$NIGHTSHIFT_S3_BUCKET
NIGHTSHIFT_S3_SOURCES=$NIGHTSHIFT_S3_SOURCES
AWS_REGION=$AWS_REGION
NIGHTSHIFT_COMPUTE=ec2
NIGHTSHIFT_INSTANCE_ID=$INSTANCE_ID
NIGHTSHIFT_INSTANCE_TYPE=$INSTANCE_TYPE
NIGHTSHIFT_ACCELERATOR=$ACCELERATOR
NIGHTSHIFT_WORKER_CONCURRENCY=$WORKER_SLOTS
NIGHTSHIFT_SHUTDOWN_COMMAND=touch /run/nightshift/poweroff
NIGHTSHIFT_HANDOVER_COMMAND=touch /run/nightshift/handover
ENV

# The worker's dead-man switch (and a GPU that fails verification) asks for a power-off by
# creating /run/nightshift/poweroff; this path unit turns that into a shutdown.
cat > /etc/systemd/system/nightshift-poweroff.path <<'UNIT'
[Unit]
Description=nightshift: power off when the worker asks
[Path]
PathExists=/run/nightshift/poweroff
[Install]
WantedBy=multi-user.target
UNIT
# The worker, once it heartbeats, cancels the bootstrap's delayed power-off through /run/nightshift/handover.
cat > /etc/systemd/system/nightshift-handover.path <<'UNIT'
[Unit]
Description=nightshift: the worker took over
[Path]
PathExists=/run/nightshift/handover
[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/nightshift-handover.service <<'UNIT'
[Unit]
Description=nightshift: cancel the bootstrap's delayed power-off
[Service]
Type=oneshot
ExecStart=/usr/sbin/shutdown -c
UNIT
cat > /etc/systemd/system/nightshift-poweroff.service <<'UNIT'
[Unit]
Description=nightshift: power off
[Service]
Type=oneshot
ExecStart=/usr/sbin/shutdown -h now
UNIT

# The worker restarts on a crash; after 5 failed starts in 10 minutes systemd powers the
# machine off (StartLimitAction), which terminates the instance. Its log goes to
# CloudWatch Logs (group LOG_GROUP, one stream per instance) and survives the instance.
cat > /etc/systemd/system/nightshift-worker.service <<UNIT
[Unit]
Description=nightshift worker
After=docker.service network-online.target
Requires=docker.service
StartLimitIntervalSec=600
StartLimitBurst=5
StartLimitAction=poweroff

[Service]
# the same limits under their [Service] names for systemd before 230 (Amazon Linux 2 has 219)
StartLimitInterval=600
StartLimitBurst=5
StartLimitAction=poweroff
ExecStartPre=-/usr/bin/docker rm -f nightshift-worker
ExecStart=/usr/bin/docker run --rm --name nightshift-worker --network host $GPU_FLAGS \
  --env-file /etc/nightshift-worker.env -v /run/nightshift:/run/nightshift \
  --log-driver awslogs --log-opt awslogs-region=$AWS_REGION --log-opt awslogs-group=$LOG_GROUP \
  --log-opt awslogs-stream=$INSTANCE_ID --log-opt awslogs-create-group=true \
  --stop-timeout 110 $WORKER_IMAGE
ExecStop=/usr/bin/docker stop -t 110 nightshift-worker
Restart=on-failure
RestartSec=5
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
UNIT
trap - ERR
systemctl daemon-reload
systemctl enable --now nightshift-poweroff.path
systemctl enable --now nightshift-handover.path
systemctl enable --now nightshift-worker.service
