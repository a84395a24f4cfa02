"""The GRPO baseline of DPH-RL on BIRD text-to-SQL with Llama-3.1-8B-Instruct (DPH-RL, "The Choice
of Divergence", arXiv 2509.07430: the BIRD Pass@k table and curves, Pass@16 GRPO 67.7 against
the base model's 75.0; Spider dev out of domain; docs/algorithms.md §7).

Released script: `scripts/llama/grpo.sh` (seamoke/DPH-RL, a verl fork): GRPO with ε 0.2
(clip_ratio_high=0.2), verl's dual clip 3, no KL (use_kl_loss=False), every BIRD training
question, trainer.total_epochs=30. Shared settings and their sources:
`flowrl_jax.train.papers.dph_sql`.

Hardware: 8 H100 of 80 GB, fsdp=8 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import dph_sql


def get_config():
    return dph_sql(
        "grpo",
        model_path="/data/Meta-Llama-3.1-8B-Instruct",
        workdir="runs/paper/grpo_llama3.1_8b_sql",
        # trainer.total_epochs=30 over BIRD train (9,428 questions, 73 steps of 128 each)
        steps=2190,
    )
