"""FlowRL on code with DeepSeek-R1-Distill-Qwen-7B: the paper's code table (FlowRL, arXiv
2509.15207: LiveCodeBench Avg@16, CodeForces rating and percentile, HumanEval+; FlowRL's
CodeForces rating 1549 against GRPO 1314 and PPO 1403, docs/algorithms.md §7).

Released script: `verl@FlowRL/command/training/code/flowrl_7B_code.sh` (Xuekai-Zhu/FlowRL), one
node of 8 GPUs with the rollout on 2 GPUs each (tensor_model_parallel_size=2); the shared
settings and their sources are in `flowrl_jax.train.papers.flowrl`. What this script changes: 64
prompts per step, sampling temperature 0.6, the 0 / 1 reward of rllm's code verifier, DeepCoder
data.

Hardware: one node of 8 GPUs of 80 GB (H100 / A100-80GB), mesh fsdp=8; `flowrl-jax plan` on this
file says it fits. Paths are placeholders.
"""

from flowrl_jax.train.papers import flowrl


def get_config():
    c = flowrl(
        "code",
        # PRETRAINED_MODEL=.../deepseek-ai/DeepSeek-R1-Distill-Qwen-7B
        model_path="/data/DeepSeek-R1-Distill-Qwen-7B",
        architecture="deepseek-r1-distill-qwen-7b",
        workdir="runs/paper/flowrl_r1_distill_qwen_7b_code",
        fsdp=8,
        device_memory_gib=80.0,
        micro_batch_size=8,  # one sequence per GPU (ppo_max_token_len_per_gpu = 10240 tokens)
        prompts_per_call=8,
        # Not published: the script's bound is trainer.total_epochs=20 (about 7,500 steps over
        # DeepCoder's ~24k problems); the step count behind the paper's table is not given.
        steps=1000,
    )
    with c.unlocked():
        c.rollout.prompts_per_step = 64  # data.train_batch_size=64
        c.rollout.temperature = 0.6  # actor_rollout_ref.rollout.temperature=0.6
        # DeepCoder in the release's verl layout (data/README.md, code_data/: five
        # deepcoder_train-0000k-of-00005.parquet shards, prepared with rllm's DeepCoder
        # scripts): chat-message prompts, the tests as a JSON string under
        # reward_model.ground_truth. The loader reads one file: concatenate the five shards
        # (and the LiveCodeBench test shards) first.
        c.data.train_path = "/data/flowrl/code_data/deepcoder_train.parquet"
        c.data.eval_path = "/data/flowrl/code_data/test_livecodebench.parquet"
        c.data.prompt_field = "prompt"
        c.data.answer_field = "reward_model.ground_truth"
        c.data.prompt_template = "{prompt}"  # the instruction is in the data
        # reward_model.reward_manager=naive_code -> rllm/rewards/code_reward.py with
        # rllm/rewards/reward_types.py's RewardConfig: 1 if every test passes, else 0.
        c.reward.correct = 1.0
        c.reward.wrong = 0.0
        c.reward.timeout_s = 20.0  # not published per response; the code recipes' budget
        c.eval.every = 10  # trainer.test_freq=10
        c.checkpoint.every = 25  # save_freq=25
    return c
