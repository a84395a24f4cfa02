"""The fast study preset (`make study`): about 75 minutes on 2 idle CPU cores, resumable.

Main setting: the embedded Countdown task with 3 numbers and its base policy (the demo's),
every algorithm and ablation, 3 seeds, Pass@k to k = 64. Second setting, `hard`: Countdown
with 4 numbers, a base policy built the same way, on which rewards concentrate (most groups
all wrong), a subset of the variants (no DPH-RL: see HARD).
"""

import ml_collections

from flowrl_jax.study import VARIANTS, claims

# The variants the claims compare first, then the other algorithms and ablations: a study
# stopped early (it resumes) has every claim's runs before the rest.
MAIN = [
    "grpo",
    "dapo",
    "ppo",
    "flowrl",
    "dph_forward_kl",
    "dph_js",
    "rkl",
    "lite_ppo",
    "lite_ppo_seq",
    "flowrl_no_weight",
    "flowrl_beta5",
    "dr_grpo",
    "reinforce_pp",
    "rloo",
    "dph_alpha",
    "lite_ppo_group_std",
    "lite_ppo_no_std",
]
# No DPH-RL in the hard setting: its base solves no training problem 8 times in 8 (nor, by the
# binomial estimate from its evaluation, 4 in 8), so D_pef is empty and DPH-RL would run as
# plain PPO-clip (the first runs of this study showed it).
HARD = ["grpo", "dapo", "ppo", "flowrl", "rkl", "lite_ppo", "lite_ppo_group_std"]
HARD += ["lite_ppo_no_std"]


def get_config():
    c = ml_collections.ConfigDict()
    c.name = "fast"
    c.workdir = "runs/study/fast"
    c.report = "docs/study.md"
    c.summary = ""
    c.seeds = (0, 1, 2)
    c.parallel = 0  # training processes at once; 0 = one per two cores
    # The RL budget of every run (keys of the run config). 4 optimizer steps per rollout, as
    # the papers' mini-batches make, so that clipping and importance weights act.
    c.rl = {
        "steps": 40,
        "rollout": {"prompts_per_step": 32, "group_size": 8},
        "optim": {"mini_batch_prompts": 8, "lr": 5e-5},
    }
    c.eval = ml_collections.ConfigDict(dict(problems=200, samples=64, temperature=1.0, seed=12345))
    c.variants = VARIANTS
    c.settings = {
        "main": {
            "about": "Countdown with 3 numbers from 1-12; the demo's base policy.",
            "recipe": {},
            "rl": {},
            "variants": MAIN,
        },
        "hard": {
            "about": "Countdown with 4 numbers from 1-12: longer answers, a base policy that "
            "solves far fewer problems, so most groups are all wrong (concentrated rewards). "
            "No DPH-RL here: the base solves no training problem in half its samples, so D_pef is "
            "empty and DPH-RL would be plain PPO-clip.",
            "recipe": {"num_numbers": 4},
            "rl": {"rollout": {"max_new_tokens": 20}},
            "variants": HARD,
        },
    }
    c.claims = claims(64, "hard")
    return c
