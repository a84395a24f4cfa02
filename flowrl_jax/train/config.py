"""The run configuration: every key a run reads, with its default (docs/algorithms.md).

Config files in `configs/` start from `base_config()` and apply an algorithm's defaults with
`for_algorithm(name)`; the command line overrides any key (`--config.algo.beta=15`). The dict
is locked, so a misspelt key fails with its name, and typed, so a wrong type fails too. The
`algo` section holds the hyper-parameters of every registered algorithm (`flowrl_jax.algos`):
each algorithm reads its own and checks them; `validate` refuses a value set for a key that the
named algorithm does not read.
"""

from __future__ import annotations

import math

import ml_collections
from ml_collections import config_dict


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

    c.model = ml_collections.ConfigDict()  # memory of the training forward (flowrl_jax.models)
    c.model.remat = "none"  # rematerialise each layer in the backward pass: none | full | dots
    c.model.logprob_chunk = 512  # response positions per LM-head application (0: all at once)
    c.model.architecture = ""  # for `plan` when model_path holds no config.json: a preset name
    #   (flowrl_jax.models.presets, e.g. qwen2.5-7b) or the path of a Hugging Face config.json

    c.mesh = ml_collections.ConfigDict()  # device mesh (flowrl_jax.distributed); -1 = the rest
    c.mesh.data = -1
    c.mesh.fsdp = 1
    c.mesh.tensor = 1
    c.mesh.device_memory_gib = 0.0  # one device's memory, for `flowrl-jax plan` (0: not set)

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
    c.rollout.prompts_per_call = 0  # prompts per sampler call (bounds the KV cache); 0 = all
    c.rollout.recompute_logprobs = config_dict.placeholder(bool)  # lp_old from the update's
    #   forward (as the released codes) instead of the sampler's; None: when dtype is not float32

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
    c.optim.max_skipped_steps = 5  # stop after this many RL steps in a row with no finite
    #   gradient (every update skipped); 0 = never stop

    c.algo = algo_section()

    c.reward = ml_collections.ConfigDict()
    c.reward.correct = 1.0
    c.reward.wrong = 0.0
    c.reward.timeout_s = 5.0
    c.reward.num_workers = 0  # verifier processes; 0 = one per CPU core
    c.reward.unsafe_in_process = False  # verify in the trainer's process: no sandbox, no timeout

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


def algo_section() -> ml_collections.ConfigDict:
    """`name` and the hyper-parameters of every registered algorithm, with their defaults."""
    from flowrl_jax.algos import config_fields

    section = ml_collections.ConfigDict()
    section.name = "grpo"
    for key, (default, kind) in sorted(config_fields().items()):
        section[key] = config_dict.placeholder(kind) if default is None else default
    return section


def for_algorithm(name: str, config: ml_collections.ConfigDict | None = None):
    """`config` (default: `base_config()`) with algorithm `name`'s defaults applied, locked."""
    from flowrl_jax.algos import get_algorithm

    config = base_config() if config is None else config
    config.algo.name = name
    config.algo.update(get_algorithm(name).defaults)
    config.lock()
    return config


def validate(config: ml_collections.ConfigDict) -> None:
    """Checks values that the types alone do not, naming the key, its value and what is valid.

    The algorithm checks its own section (`Params`), and here the rest: choices, ranges, and
    how the step's batch splits into mini- and micro-batches.
    """
    from flowrl_jax.algos import make_algorithm
    from flowrl_jax.models import REMAT_POLICIES
    from flowrl_jax.tasks import task_names

    def fail(key: str, value, what: str):
        raise ValueError(f"config.{key}={value!r} {what}.")

    def check(key: str, ok, what: str):
        node = config
        for part in key.split("."):
            node = node[part]
        if not ok(node):
            fail(key, node, what)

    def number(low: float, high: float = math.inf, *, strict_low: bool = False):
        def ok(v):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                return False
            return (v > low if strict_low else v >= low) and v <= high

        return ok

    def choice(key: str, valid):
        check(key, lambda v: v in valid, f"is not valid; choose one of {list(valid)}")

    choice("task", task_names())
    choice("dtype", ("float32", "bfloat16"))
    choice("param_dtype", ("float32", "bfloat16"))
    choice("optim.schedule", ("constant", "cosine"))
    choice("model.remat", tuple(REMAT_POLICIES))
    check("model.logprob_chunk", number(0), "must be >= 0 (0: all response positions at once)")
    for key in (
        "steps",
        "rollout.prompts_per_step",
        "rollout.group_size",
        "rollout.max_new_tokens",
        "data.max_prompt_len",
        "optim.epochs",
    ):
        check(key, number(1), "must be >= 1")
    for key in ("mesh.data", "mesh.fsdp", "mesh.tensor"):
        check(key, lambda v: v == -1 or v >= 1, "must be >= 1, or -1 for the remaining devices")
    check("mesh.device_memory_gib", number(0), "must be >= 0 (0: not set)")
    if [config.mesh.data, config.mesh.fsdp, config.mesh.tensor].count(-1) > 1:
        raise ValueError("config.mesh: at most one of data, fsdp, tensor may be -1.")
    for key in ("seed", "data.seed", "data.num_train", "data.num_eval"):
        check(key, number(0), "must be >= 0")
    check("optim.lr", number(0, strict_low=True), "must be a finite number > 0")
    check("optim.grad_clip", number(0, strict_low=True), "must be a finite number > 0")
    for key in ("optim.weight_decay", "optim.warmup_steps", "optim.mini_batch_prompts"):
        check(key, number(0), "must be >= 0")
    check("optim.micro_batch_size", number(0), "must be >= 0 (0: the whole mini-batch)")
    check("optim.max_skipped_steps", number(0), "must be >= 0 (0: never stop)")
    for key in ("optim.b1", "optim.b2"):
        check(key, number(0, 1), "must be in [0, 1]")
    check("rollout.temperature", number(0), "must be >= 0 (0: greedy)")
    check("rollout.top_p", number(0, 1, strict_low=True), "must be in (0, 1]")
    check("rollout.top_k", number(0), "must be >= 0 (0: off)")
    check("rollout.prompts_per_call", number(0), "must be >= 0 (0: the whole step at once)")
    for key in ("reward.correct", "reward.wrong"):
        check(key, number(-math.inf), "must be a finite number")
    check("reward.timeout_s", number(0, strict_low=True), "must be a finite number > 0")
    check("reward.num_workers", number(0), "must be >= 0 (0: one per CPU core)")
    for key in ("eval.every", "eval.num_problems", "eval.num_samples"):
        check(key, number(0), "must be >= 0")
    check("eval.temperature", number(0), "must be >= 0 (0: greedy)")
    check("eval.top_p", number(0, 1, strict_low=True), "must be in (0, 1]")
    check("eval.ks", lambda v: len(v) > 0 and all(number(1)(k) for k in v), "must be ints >= 1")
    check("checkpoint.every", number(0), "must be >= 0 (0: only at the end)")
    check("checkpoint.keep", number(1), "must be >= 1")

    algorithm = make_algorithm(config.algo)
    _check_unread_algo_keys(config.algo, algorithm)
    algorithm.check_run(config)

    prompts = config.rollout.prompts_per_step
    mini = config.optim.mini_batch_prompts or prompts
    if prompts % mini:
        raise ValueError(
            f"rollout.prompts_per_step={prompts} is not a multiple of "
            f"optim.mini_batch_prompts={mini}."
        )
    rows = algorithm.minibatch_rows(config)  # what the trainer's update splits
    micro = config.optim.micro_batch_size or rows
    if rows % micro:
        raise ValueError(
            f"a mini-batch of {config.algo.name} holds {rows} rows (mini_batch_prompts x "
            f"group_size, and the rows the algorithm adds): it must be a multiple of "
            f"optim.micro_batch_size={micro}."
        )


def _check_unread_algo_keys(section: ml_collections.ConfigDict, algorithm) -> None:
    """A value set for a hyper-parameter the named algorithm does not have would be ignored
    silently (e.g. `algo.overlong_buffer` with `algo.name=grpo`, or a config built for another
    algorithm): refuse it, naming the algorithms that read it."""
    import dataclasses

    from flowrl_jax.algos import algorithm_names, config_fields, get_algorithm

    read = {f.name for f in dataclasses.fields(algorithm.Params)}
    for key, (default, _) in sorted(config_fields().items()):
        if key in read or section[key] == default:
            continue
        users = [
            n
            for n in algorithm_names()
            if key in {f.name for f in dataclasses.fields(get_algorithm(n).Params)}
        ]
        raise ValueError(
            f"config.algo.{key}={section[key]!r} is not read by algo.name={section.name!r} "
            f"(it is a hyper-parameter of {', '.join(users)}): remove it, or start from that "
            f"algorithm's config (for_algorithm / configs/...)."
        )


def recomputes_logprobs(config: ml_collections.ConfigDict) -> bool:
    """Whether a run replaces the sampler's behaviour log-probs by the update's forward
    (`rollout.recompute_logprobs`; None: whenever the compute dtype is not float32, where the
    sampler's differ from the update's, by up to 0.036 per token on the embedded Countdown
    policy; docs/algorithms.md §8.2)."""
    recompute = config.rollout.recompute_logprobs
    return config.dtype != "float32" if recompute is None else bool(recompute)


def countdown_config(algorithm: str = "grpo") -> ml_collections.ConfigDict:
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
