"""The reverse-KL baseline of DPH-RL (RKL) on BIRD text-to-SQL with Llama-3.1-8B-Instruct (DPH-RL,
"The Choice of Divergence", arXiv 2509.07430: the BIRD Pass@k table and curves, Pass@16 RKL 71.8
against the base model's 75.0; Spider dev out of domain; docs/algorithms.md §7).

Released script: `scripts/llama/reverse_kl.sh` (seamoke/DPH-RL, a verl fork): clip-higher ε_high
0.28, verl's dual clip and β·k3 to the initial policy on the online samples
(sft_loss_mode=reverse, use_kl_loss=True), every BIRD training question,
trainer.total_epochs=30. β: the script passes kl_loss_coef from its command line, and the value
of the paper's runs is not published (the fallback `${2:'0.01'}` is a substring expansion, not a
default); 0.01 here, verl's default. Shared settings and their sources:
`flowrl_jax.train.papers.dph_sql`.

Hardware: 8 H100 of 80 GB, fsdp=8 (`flowrl-jax plan`: fits).
"""

from flowrl_jax.train.papers import dph_sql


def get_config():
    return dph_sql(
        "grpo_rkl",
        model_path="/data/Meta-Llama-3.1-8B-Instruct",
        workdir="runs/paper/grpo_rkl_llama3.1_8b_sql",
        # trainer.total_epochs=30 over BIRD train (9,428 questions, 73 steps of 128 each)
        steps=2190,
    )
