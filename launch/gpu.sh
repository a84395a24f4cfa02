#!/usr/bin/env bash
# One GPU: install the CUDA extra into .venv (once) and train.
#   launch/gpu.sh --config=configs/countdown/flowrl.py [--config.key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] || python3 -m venv .venv
[ -f .venv/.installed-cuda ] || { .venv/bin/pip install -q -e '.[cuda]' && touch .venv/.installed-cuda; }
exec .venv/bin/python -m flowrl_jax.train train "$@"
