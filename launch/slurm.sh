#!/usr/bin/env bash
# Multi-node GPU training under SLURM: one process per node, each driving all of its node's
# GPUs; jax.distributed reads the coordinator, process count and id from SLURM's environment.
#
#   sbatch --nodes=4 --gpus-per-node=8 --time=48:00:00 launch/slurm.sh --config=<file> [--config.key=value ...]
#
# (or, inside an allocation from salloc, run it directly). The repository must be on a file
# system that every node sees; it is the directory sbatch was called from. The environment
# (FLOWRL_JAX_VENV, default .venv there) is created and `.[cuda]` installed once, on the first
# node, before the run starts.
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
venv=${FLOWRL_JAX_VENV:-.venv}
[ -d "$venv" ] || python3 -m venv "$venv"
[ -f "$venv/.installed-cuda" ] || { "$venv/bin/pip" install -q -e '.[cuda]' && touch "$venv/.installed-cuda"; }
exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 \
  env FLOWRL_JAX_DISTRIBUTED=1 "$venv/bin/python" -m flowrl_jax.train train "$@"
