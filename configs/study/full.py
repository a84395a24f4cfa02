"""The full study preset, for a GPU: every variant in both settings, 5 seeds, more steps,
Pass@k to k = 256 on 500 problems."""

from fast import get_config as fast_config

from flowrl_jax.study import VARIANTS, claims


def get_config():
    c = fast_config()
    c.name = "full"
    c.workdir = "runs/study/full"
    c.report = "runs/study/full/study.md"
    c.seeds = (0, 1, 2, 3, 4)
    c.rl.steps = 100
    c.eval.problems = 500
    c.eval.samples = 256
    c.settings.main.variants = list(VARIANTS)
    # DPH-RL needs problems the base solves 8/8 (D_pef); the hard base has none (fast.py).
    c.settings.hard.variants = [
        v for v in VARIANTS if not VARIANTS[v]["algorithm"].startswith("dph")
    ]
    c.claims = claims(256, "hard")
    return c
