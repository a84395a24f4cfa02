#!/usr/bin/env bash
# Run the same training entry point on every host of a TPU pod slice.
#
#   launch/tpu_pod.sh <tpu-name> <zone> --config=configs/countdown/flowrl.py [--config.key=value ...]
#
# Every host runs `python -m flowrl_jax.train train ...`; FLOWRL_JAX_DISTRIBUTED=1 makes the
# trainer call jax.distributed.initialize() (the TPU runtime supplies the coordinator), after
# which jax.devices() spans the whole slice. The repository must already be on every host at
# the same path (e.g. `gcloud compute tpus tpu-vm scp --recurse . <tpu>:~/flowrl_jax --worker=all`).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 <tpu-name> <zone> --config=<file> [--config.key=value ...]" >&2
  exit 2
fi
tpu=$1
zone=$2
shift 2
args=$(printf '%q ' "$@")
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  cd ~/flowrl_jax
  [ -d .venv ] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[tpu]'; }
  FLOWRL_JAX_DISTRIBUTED=1 .venv/bin/python -m flowrl_jax.train train $args
"
