#!/usr/bin/env bash
# Run the same training command on every host of a TPU pod slice.
#
#   launch/tpu_pod.sh <tpu-name> <zone> --config=configs/paper/flowrl_qwen2.5_7b_math.py [--config.key=value ...]
#
# 1. copies the repository's tracked files to every worker (~/flowrl_jax),
# 2. installs `.[tpu]` into ~/flowrl_jax/.venv once per worker (kept for later launches),
# 3. starts `python -m flowrl_jax.train train <your flags>` on all workers at once, with
#    FLOWRL_JAX_DISTRIBUTED=1 (jax.distributed finds the other hosts on a TPU VM by itself),
#    each worker logging to ~/flowrl_jax/train.log,
# 4. streams worker 0's log until its training process exits (Ctrl-C stops the streaming,
#    not the run).
# Flags after the zone reach the trainer exactly as given (each is quoted for the remote shell).
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 <tpu-name> <zone> --config=<file> [--config.key=value ...]" >&2
  exit 2
fi
tpu=$1
zone=$2
shift 2
cd "$(dirname "$0")/.."
args=$(printf '%q ' "$@")
archive=$(mktemp -d)/flowrl_jax.tar.gz
git ls-files -z | tar --null -czf "$archive" -T -

remote() {  # remote <worker> <command>
  gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker="$1" --command="$2"
}

gcloud compute tpus tpu-vm scp "$archive" "$tpu":flowrl_jax.tar.gz --zone="$zone" --worker=all
remote all "set -e
mkdir -p ~/flowrl_jax && tar -xzf ~/flowrl_jax.tar.gz -C ~/flowrl_jax && cd ~/flowrl_jax
[ -f .venv/.installed-tpu ] || { python3 -m venv .venv && .venv/bin/pip install -q -e '.[tpu]' && touch .venv/.installed-tpu; }
FLOWRL_JAX_DISTRIBUTED=1 nohup .venv/bin/python -m flowrl_jax.train train $args > train.log 2>&1 < /dev/null &
echo \$! > train.pid"
remote 0 "tail -n +1 --pid=\$(cat ~/flowrl_jax/train.pid) -f ~/flowrl_jax/train.log"
