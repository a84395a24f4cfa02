"""The "DAPO" baseline of DPH-RL on BIRD text-to-SQL with Llama-3.1-8B-Instruct (DPH-RL, "The
Choice of Divergence", arXiv 2509.07430: the BIRD Pass@k table and curves, Pass@16 DAPO 69.0
against the base model's 75.0; Spider dev out of domain; docs/algorithms.md §7).

Released script: `scripts/llama/dapo.sh` (seamoke/DPH-RL, a verl fork): clip-higher ε_high 0.28
with verl's dual clip and the k3 KL loss at verl's default coefficient 0.01 (use_kl_loss=True,
kl_loss_type low_var_kl), neither dynamic sampling nor overlong shaping, every BIRD training
question, trainer.total_epochs=30 (`dph_dapo`, docs/algorithms.md §4.2). Shared settings and
their sources: `flowrl_jax.train.papers.dph_sql`.

Hardware: 8 H100 of 80 GB, fsdp=8 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import dph_sql


def get_config():
    return dph_sql(
        "dph_dapo",
        model_path="/data/Meta-Llama-3.1-8B-Instruct",
        workdir="runs/paper/dph_dapo_llama3.1_8b_sql",
        # trainer.total_epochs=30 over BIRD train (9,428 questions, 73 steps of 128 each)
        steps=2190,
    )
