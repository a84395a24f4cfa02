"""DPH-RL with the Jensen-Shannon generator (DPH-JS) on BIRD text-to-SQL with Llama-3.1-8B-Instruct
(DPH-RL, "The Choice of Divergence", arXiv 2509.07430: the BIRD Pass@k table and curves, Pass@16
DPH-JS 72.4 against the base model's 75.0; Spider dev out of domain; docs/algorithms.md §7).

Released script: `scripts/llama/js_kl.sh` (seamoke/DPH-RL, a verl fork):
sft_loss_mode=js_low_var: η·f on the stored D_pef samples, no KL loss, clip-higher ε_high 0.28,
online prompts from D_exp only for trainer.total_epochs=5. η is the script's default 0.01;
secondary accounts of the paper report DPH-JS at η = 0.2 (docs/algorithms.md §4.2): pass
--config.algo.eta=0.2 to try it. Shared settings and their sources:
`flowrl_jax.train.papers.dph_sql`.

Hardware: 8 H100 of 80 GB, fsdp=8 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import dph_sql


def get_config():
    return dph_sql(
        "dph_js",
        model_path="/data/Meta-Llama-3.1-8B-Instruct",
        workdir="runs/paper/dph_js_llama3.1_8b_sql",
        # 5 epochs over D_exp: its size is not published (see dph_forward_kl_llama3.1_8b_sql.py);
        # 5 epochs of the whole BIRD train set, an upper bound
        steps=365,
    )
