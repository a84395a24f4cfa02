#!/usr/bin/env bash
# One GPU: install the CUDA extra into a virtual environment (once) and train.
#   launch/gpu.sh --config=configs/countdown/flowrl.py [--config.key=value ...]
# FLOWRL_JAX_VENV chooses the environment (default: .venv in the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FLOWRL_JAX_VENV:-.venv}
[ -d "$venv" ] || python3 -m venv "$venv"
[ -f "$venv/.installed-cuda" ] || { "$venv/bin/pip" install -q -e '.[cuda]' && touch "$venv/.installed-cuda"; }
exec "$venv/bin/python" -m flowrl_jax.train train "$@"
