"""DPH-RL with the forward-KL generator (DPH-F) on BIRD text-to-SQL with Llama-3.1-8B-Instruct
(DPH-RL, "The Choice of Divergence", arXiv 2509.07430: the BIRD Pass@k table and curves, Pass@16
DPH-F 71.6 against the base model's 75.0; Spider dev out of domain; docs/algorithms.md §7).

Released script: `scripts/llama/forward_kl.sh` (seamoke/DPH-RL, a verl fork):
sft_loss_mode=forward: η·f on the stored D_pef samples, no KL loss (use_kl_loss=False),
clip-higher ε_high 0.28, online prompts from D_exp only (train_wrong.parquet) for
trainer.total_epochs=5. Shared settings and their sources: `flowrl_jax.train.papers.dph_sql`.

Hardware: 8 H100 of 80 GB, fsdp=8 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import dph_sql


def get_config():
    return dph_sql(
        "dph_forward_kl",
        model_path="/data/Meta-Llama-3.1-8B-Instruct",
        workdir="runs/paper/dph_forward_kl_llama3.1_8b_sql",
        # 5 epochs over D_exp (train_wrong.parquet); its size for Llama is not published (the
        # file is not in the snapshot read), so this is 5 epochs of the whole BIRD train set
        # (9,428 questions, 73 steps of 128): an upper bound
        steps=365,
    )
