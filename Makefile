# The README's two commands: `make demo` and `make test`. Both work on a machine with only
# Python >= 3.10 and make: they create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo base-model study test figures lint bench-sampler bench-rl-step bench-verifiers clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-base

# The embedded default: builds the base policy into artifacts/ on first use (cached), then RL
# with FlowRL and GRPO and the Pass@k / diversity table in runs/demo (docs/demo.md).
demo: $(VENV)/.installed-base
	$(BIN)/python -m flowrl_jax.demo

# The base policy alone (a no-op when artifacts/countdown_base is built by the current recipe).
base-model: $(VENV)/.installed-base
	$(BIN)/python -m flowrl_jax.train.pretrain --out=artifacts/countdown_base

# The reproduction study (docs/study.md): about 75 minutes on 2 idle CPU cores, resumable.
study: $(VENV)/.installed-base
	$(BIN)/python -m flowrl_jax.study --config=configs/study/fast.py

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Each notebook's main plot, docs/<notebook>.png (the README shows them).
figures: $(VENV)/.installed-test
	$(BIN)/python tests/notebooks/nbrun.py docs

lint: $(VENV)/.installed-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench-sampler: $(VENV)/.installed-test
	$(BIN)/python benchmarks/sampler.py

$(VENV)/.installed-bench: setup.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@ $(VENV)/.installed-test $(VENV)/.installed-base

# One RL step against TRL's GRPOTrainer (docs/performance.md): minutes on 2 CPU cores.
bench-rl-step: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/rl_step.py

bench-verifiers: $(VENV)/.installed-base
	$(BIN)/python benchmarks/verifiers.py

clean:
	rm -rf $(VENV) runs .pytest_cache
