"""The run configuration: every key a run reads, with the defaults of ALGORITHMS.md.

Config files in `configs/` start from `base_config()` and apply an algorithm's defaults with
`for_algorithm(name)`; the command line overrides any key (`--config.algo.beta=15`). The dict
is locked, so a misspelt key fails with its name, and typed, so a wrong type fails too.
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

TASKS = ("countdown", "math", "code", "sql", "toy_first_char")


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.steps = 100  # RL steps
    c.workdir = "runs/default"
    c.model_path = (
        "artifacts/countdown_base"  # a local HF directory (config, safetensors, tokenizer)
    )
    c.task = "countdown"
    c.dtype = "float32"  # compute dtype
    c.param_dtype = "float32"  # storage dtype of the trained parameters

    c.mesh = ml_collections.ConfigDict()  # device mesh (flowrl_jax.distributed); -1 = the rest
    c.mesh.data = -1
    c.mesh.fsdp = 1
    c.mesh.tensor = 1

    c.data = ml_collections.ConfigDict()
    c.data.train_path = ""  # JSONL / Parquet; empty = the task's embedded generator
    c.data.eval_path = ""
    c.data.prompt_field = "prompt"
    c.data.answer_field = "answer"
    c.data.chat_template = False  # wrap prompts with the tokenizer's chat template
    c.data.max_prompt_len = 32  # tokens; longer prompts are dropped (and counted)
    c.data.num_train = 4000  # embedded generator sizes
    c.data.num_eval = 200
    c.data.countdown_numbers = 3
    c.data.countdown_max_number = 12
    c.data.numbers_use = "at_most_once"
    c.data.seed = 0  # the data (splits, order of the embedded task) do not change with c.seed

    c.rollout = ml_collections.ConfigDict()
    c.rollout.prompts_per_step = 16
    c.rollout.group_size = 8  # G responses per prompt
    c.rollout.temperature = 1.0
    c.rollout.top_p = 1.0
    c.rollout.top_k = 0
    c.rollout.max_new_tokens = 16
    c.rollout.recompute_logprobs = False  # recompute lp_old with the trainer's forward (as verl)

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-6
    c.optim.warmup_steps = 10
    c.optim.schedule = "constant"  # constant | cosine
    c.optim.weight_decay = 0.01
    c.optim.b1 = 0.9
    c.optim.b2 = 0.999
    c.optim.grad_clip = 1.0
    c.optim.epochs = 1  # passes over each rollout batch
    c.optim.mini_batch_prompts = 0  # prompts per optimizer step; 0 = the whole rollout batch
    c.optim.micro_batch_size = 0  # sequences per forward; 0 = the whole mini-batch

    c.algo = ml_collections.ConfigDict()
    c.algo.name = "grpo"
    c.algo.objective = "policy_gradient"  # policy_gradient | trajectory_balance
    c.algo.advantage = "grpo"  # see flowrl_jax.losses.advantage_names()
    c.algo.adv_mean = "group"  # for advantage=group_norm
    c.algo.adv_std = "group"
    c.algo.gamma = 1.0
    c.algo.lam = 1.0
    c.algo.policy_loss = "ppo_clip"  # ppo_clip | gspo
    c.algo.clip_ratio_low = 0.2
    c.algo.clip_ratio_high = 0.2
    c.algo.clip_ratio_c = config_dict.placeholder(float)  # dual clip; None = off
    c.algo.loss_agg_mode = "token-mean"
    c.algo.normalizer = "global"  # global (exact) | local (per micro-batch, as released codes)
    c.algo.kl_coef = 0.0  # β of the KL-to-reference term in the loss
    c.algo.kl_estimator = "k3"
    c.algo.kl_reward_coef = 0.0  # β of the KL penalty in the reward (PPO, REINFORCE++)
    c.algo.vf_coef = 0.5  # PPO critic
    c.algo.value_clip = 0.5
    c.algo.dynamic_sampling = False  # DAPO
    c.algo.max_resample = 3
    c.algo.overlong_buffer = 0  # L_b in tokens; 0 = no overlong shaping
    c.algo.overlong_penalty = 1.0
    c.algo.overlong_filter = False
    # FlowRL (§5)
    c.algo.beta = 15.0
    c.algo.weight_mode = "clip"  # none | raw | clip | max
    c.algo.weight_clip = 0.2
    c.algo.weight_max = 10.0
    c.algo.length_normalize = True
    c.algo.use_logz = True
    c.algo.logz_exclude_last_prompt_token = True
    c.algo.logz_stop_gradient = False
    c.algo.logz_dropout = 0.1
    c.algo.reference = "initial"  # initial | old (the "reference = old policy" ablation)
    # DPH-RL (§4)
    c.algo.divergence = ""  # forward_kl | js | alpha; empty = none
    c.algo.eta = 0.01
    c.algo.alpha = 0.2
    c.algo.pef_samples = 8  # n samples per prompt when building D_pef
    c.algo.pef_correct = 8  # prompts solved in at least this many are "perfect"
    c.algo.stored_per_step = 16
    c.algo.dph_weighting = "token"  # token | microbatch (the released code's weighting)
    c.algo.explore_only = True  # online RL only on D_exp (prompts not in D_pef)

    c.reward = ml_collections.ConfigDict()
    c.reward.correct = 1.0
    c.reward.wrong = 0.0
    c.reward.timeout_s = 5.0
    c.reward.num_workers = 0  # 0 = one per CPU core

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 0  # steps; 0 = only at the end
    c.eval.num_problems = 64
    c.eval.num_samples = 16
    c.eval.temperature = 1.0
    c.eval.top_p = 1.0
    c.eval.ks = (1, 4, 16)

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 0  # steps; 0 = only at the end
    c.checkpoint.keep = 2
    c.checkpoint.export_hf = True  # write the final policy as HF safetensors into workdir/export

    c.log = ml_collections.ConfigDict()
    c.log.tensorboard = True
    c.log.progress = True
    return c


def for_algorithm(name: str, config: ml_collections.ConfigDict | None = None):
    """`config` (default: `base_config()`) with algorithm `name`'s defaults applied, locked."""
    from flowrl_jax.algos import get_algorithm

    config = base_config() if config is None else config
    algo = get_algorithm(name)
    config.algo.name = name
    config.algo.update(algo.defaults)
    config.lock()
    return config


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks values that the types alone do not, naming the key and the valid choices."""
    from flowrl_jax.algos import get_algorithm
    from flowrl_jax.losses import AGG_MODES, F_DIVERGENCES, WEIGHT_MODES, advantage_names

    get_algorithm(config.algo.name)

    def choice(key: str, value, valid):
        if value not in valid:
            raise ValueError(f"config.{key}={value!r} is not valid; choose one of {list(valid)}.")

    def positive(key: str, value):
        if not value > 0:
            raise ValueError(f"config.{key}={value!r} must be > 0.")

    choice("task", config.task, TASKS)
    choice("algo.objective", config.algo.objective, ("policy_gradient", "trajectory_balance"))
    choice("algo.advantage", config.algo.advantage, advantage_names())
    choice("algo.policy_loss", config.algo.policy_loss, ("ppo_clip", "gspo"))
    choice("algo.loss_agg_mode", config.algo.loss_agg_mode, AGG_MODES)
    choice("algo.normalizer", config.algo.normalizer, ("global", "local"))
    choice("algo.weight_mode", config.algo.weight_mode, WEIGHT_MODES)
    choice("algo.reference", config.algo.reference, ("initial", "old"))
    choice("algo.divergence", config.algo.divergence, ("", *F_DIVERGENCES))
    choice("algo.dph_weighting", config.algo.dph_weighting, ("token", "microbatch"))
    choice("optim.schedule", config.optim.schedule, ("constant", "cosine"))
    choice("dtype", config.dtype, ("float32", "bfloat16"))
    choice("param_dtype", config.param_dtype, ("float32", "bfloat16"))
    for key in (
        "steps",
        "rollout.prompts_per_step",
        "rollout.group_size",
        "rollout.max_new_tokens",
        "data.max_prompt_len",
        "optim.epochs",
    ):
        positive(key, config[key.split(".")[0]][key.split(".")[1]] if "." in key else config[key])
    if config.algo.advantage in ("rloo",) and config.rollout.group_size < 2:
        raise ValueError("algo.advantage='rloo' needs rollout.group_size >= 2.")
    if config.rollout.temperature <= 0 and config.algo.objective == "trajectory_balance":
        raise ValueError("FlowRL needs rollout.temperature > 0 (log-probs under logits / T).")
    prompts = config.rollout.prompts_per_step
    mini = config.optim.mini_batch_prompts or prompts
    if prompts % mini:
        raise ValueError(
            f"rollout.prompts_per_step={prompts} is not a multiple of "
            f"optim.mini_batch_prompts={mini}."
        )
    seqs = mini * config.rollout.group_size
    n_mini = prompts // mini
    stored = config.algo.stored_per_step if config.algo.divergence else 0
    if stored % n_mini:
        raise ValueError(
            f"algo.stored_per_step={stored} does not split evenly over the {n_mini} "
            "mini-batches of a step (rollout.prompts_per_step / optim.mini_batch_prompts)."
        )
    rows = seqs + stored // n_mini  # what the trainer's update splits into micro-batches
    micro = config.optim.micro_batch_size or rows
    if rows % micro or (config.optim.micro_batch_size and seqs % micro):
        held = f"{seqs} sequences (mini_batch_prompts x group_size)"
        if stored:
            held += f" + {stored // n_mini} stored DPH-RL samples"
        raise ValueError(
            f"a mini-batch holds {held}: each part must be a multiple of "
            f"optim.micro_batch_size={micro}."
        )


def countdown_config(algorithm: str) -> ml_collections.ConfigDict:
    """`algorithm` on the embedded Countdown task, with budgets sized for a laptop CPU.

    The base policy is the tiny Qwen2-architecture model the project trains itself
    (`make base-model`, i.e. `python -m flowrl_jax.train.pretrain`, cached in
    artifacts/countdown_base; `make demo` builds it when missing). The RL budget is tuned for
    that model (docs/demo.md has what `make demo` measures with it). With 16 prompts per
    step the gain was within noise, and a larger lr traded Pass@k for less Pass@1 or
    collapsed the policy: Adam's early steps are sign-like, so a noisy batch moves every
    weight by about lr.
    """
    c = base_config()
    c.task = "countdown"
    c.model_path = "artifacts/countdown_base"
    c.workdir = f"runs/countdown/{algorithm}"
    c.steps = 40
    c.data.max_prompt_len = 16
    c.rollout.prompts_per_step = 32
    c.rollout.group_size = 8
    c.rollout.max_new_tokens = 16
    c.optim.lr = 1e-4
    c.optim.warmup_steps = 2
    c.optim.weight_decay = 0.0
    c.eval.num_problems = 64
    c.eval.num_samples = 16
    return for_algorithm(algorithm, c)
