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
    for setting in c.settings.values():
        setting.variants = list(VARIANTS)
    c.claims = claims(256, "hard")
    return c
