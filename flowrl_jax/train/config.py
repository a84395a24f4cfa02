"""The run configuration: every key a run reads, with its default (docs/algorithms.md).

Config files in `configs/` start from `base_config()` and apply an algorithm's defaults with
`for_algorithm(name)`; the command line overrides any key (`--config.algo.beta=15`). The dict
is locked, so a misspelt key fails with its name, and typed, so a wrong type fails too. The
`algo` section holds the hyper-parameters of every registered algorithm (`flowrl_jax.algos`):
each algorithm reads its own and checks them; `validate` refuses a value set for a key that the
named algorithm does not read.
"""

from __future__ import annotations

import ast
import json
import math
from typing import Any

import ml_collections
from ml_collections import config_dict


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0  # sampling and initialisation (each step's key is fold_in(key(seed), step))
    c.steps = 100  # RL steps
    c.workdir = "runs/default"  # where the run writes: config, metrics, samples, checkpoints
    c.model_path = (
        "artifacts/countdown_base"  # a local HF directory (config, safetensors, tokenizer)
    )
    c.task = "countdown"  # countdown | math | code | sql | toy_first_char (flowrl_jax/tasks/)
    c.dtype = "float32"  # compute dtype
    c.param_dtype = "float32"  # storage dtype of the trained parameters

    c.model = ml_collections.ConfigDict()  # memory of the training forward (flowrl_jax.models)
    c.model.remat = "none"  # rematerialise each layer in the backward pass: none | full | dots
    c.model.logprob_chunk = 512  # response positions per LM-head application (0: all at once)
    c.model.architecture = ""  # for `plan` when model_path holds no config.json: a preset name
    #   (flowrl_jax.models.presets, e.g. qwen2.5-7b) or the path of a Hugging Face config.json

    c.mesh = ml_collections.ConfigDict()  # device mesh (flowrl_jax.distributed); -1 = the rest
    c.mesh.data = -1  # data-parallel devices (batch rows)
    c.mesh.fsdp = 1  # devices the parameters and optimizer state are sharded over
    c.mesh.tensor = 1  # devices attention heads and MLP columns are split over
    c.mesh.device_memory_gib = 0.0  # one device's memory, for `flowrl-jax plan` (0: not set)

    c.data = ml_collections.ConfigDict()
    c.data.train_path = ""  # .jsonl / .json / .parquet, or hf:<name>[:<config>][:<split>]
    #   (offline: a save_to_disk directory or the local datasets cache); empty = the task's
    #   embedded generator
    c.data.eval_path = ""  # the same for evaluation (an hf: source without split reads "test")
    c.data.prompt_field = "prompt"  # the prompt's column (dotted path): a string or chat messages
    c.data.answer_field = ""  # the reference's column (dotted path, e.g.
    #   reward_model.ground_truth); empty = the task's own (math: answer, code: tests, sql: gold)
    c.data.prompt_template = "{prompt}"  # the prompt text; {name} = a row field or task field
    #   (sql: {schema}); {{ }} = literal braces; on chat messages it rewrites the last user turn
    c.data.system_prompt = ""  # a system message put first (the chat template then applies)
    c.data.chat_template = False  # also apply the chat template to string prompts (message
    #   lists always get it)
    c.data.on_bad_row = "error"  # a row that breaks the task's schema: error | skip (counted)
    c.data.db_root = ""  # sql: where <db_id>/<db_id>.sqlite and relative db_path resolve
    c.data.max_prompt_len = 32  # tokens; longer prompts are dropped (and counted)
    c.data.num_train = 4000  # problems the embedded generator makes for training
    c.data.num_eval = 200  # and for evaluation
    c.data.countdown_numbers = 3  # countdown: numbers per problem
    c.data.countdown_max_number = 12  # countdown: largest number
    c.data.numbers_use = "at_most_once"  # countdown: at_most_once | exactly_once
    c.data.seed = 0  # the data (splits, order of the embedded task) do not change with c.seed

    c.rollout = ml_collections.ConfigDict()
    c.rollout.prompts_per_step = 16  # prompts sampled per RL step
    c.rollout.group_size = 8  # G responses per prompt
    c.rollout.temperature = 1.0  # sampling temperature (log-probs are taken under it)
    c.rollout.top_p = 1.0  # nucleus sampling; 1 = off
    c.rollout.top_k = 0  # top-k sampling; 0 = off
    c.rollout.max_new_tokens = 16  # response length limit (longer ones are truncated)
    c.rollout.prompts_per_call = 0  # prompts per sampler call (bounds the KV cache); 0 = all
    c.rollout.recompute_logprobs = config_dict.placeholder(bool)  # lp_old from the update's
    #   forward (as the released codes) instead of the sampler's; None: when dtype is not float32

    c.optim = ml_collections.ConfigDict()
    c.optim.lr = 1e-6  # AdamW learning rate (after warm-up)
    c.optim.warmup_steps = 10  # optimizer steps of linear warm-up from 0
    c.optim.schedule = "constant"  # constant | cosine
    c.optim.weight_decay = 0.01  # AdamW's decoupled weight decay
    c.optim.b1 = 0.9  # AdamW β1
    c.optim.b2 = 0.999  # AdamW β2
    c.optim.grad_clip = 1.0  # global gradient norm clip
    c.optim.epochs = 1  # passes over each rollout batch
    c.optim.mini_batch_prompts = 0  # prompts per optimizer step; 0 = the whole rollout batch
    c.optim.micro_batch_size = 0  # sequences per forward; 0 = the whole mini-batch
    c.optim.max_skipped_steps = 5  # stop after this many RL steps in a row with no finite
    #   gradient (every update skipped); 0 = never stop

    c.algo = algo_section()

    c.reward = ml_collections.ConfigDict()
    c.reward.correct = 1.0  # reward of a correct response
    c.reward.wrong = 0.0  # reward of any other (wrong, no answer, timeout, error)
    c.reward.timeout_s = 5.0  # seconds a verifier may spend on one response
    c.reward.num_workers = 0  # verifier processes; 0 = one per CPU core
    c.reward.unsafe_in_process = False  # verify in the trainer's process: no sandbox, no timeout

    c.eval = ml_collections.ConfigDict()
    c.eval.every = 0  # steps; 0 = only at the end
    c.eval.num_problems = 64  # the first N evaluation problems; 0 = all
    c.eval.num_samples = 16  # samples per problem (Pass@k needs k <= this); 0 = no evaluation
    c.eval.temperature = 1.0  # sampling temperature of the evaluation
    c.eval.top_p = 1.0  # nucleus sampling of the evaluation; 1 = off
    c.eval.ks = (1, 4, 16)  # the k of Pass@k

    c.checkpoint = ml_collections.ConfigDict()
    c.checkpoint.every = 0  # steps; 0 = only at the end
    c.checkpoint.keep = 2  # the latest N checkpoints are kept
    c.checkpoint.export_hf = True  # write the final policy as HF safetensors into workdir/export

    c.log = ml_collections.ConfigDict()
    c.log.tensorboard = True  # TensorBoard events in workdir/tb
    c.log.progress = True  # the console progress bar
    c.log.samples_every = 10  # samples.jsonl gets step 1 and every N steps; 0 = never
    c.log.num_samples = 4  # responses written per sampled step
    c.log.no_signal_steps = 3  # warn after N steps in a row in which every group's rewards
    #   are equal (zero advantage: nothing is learned from the reward); 0 = never
    c.log.wandb = False  # also log to Weights & Biases (needs `pip install wandb`)
    c.log.wandb_project = "flowrl_jax"  # its project (the run is named after workdir)
    return c


def algo_section() -> ml_collections.ConfigDict:
    """`name` and the hyper-parameters of every registered algorithm, with their defaults."""
    from flowrl_jax.algos import config_fields

    section = ml_collections.ConfigDict()
    section.name = "grpo"  # the algorithm that runs (flowrl_jax/algos/)
    section.preset = ""  # whose defaults the section holds (set by for_algorithm); must be name
    for key, (default, kind) in sorted(config_fields().items()):
        section[key] = config_dict.placeholder(kind) if default is None else default
    return section


def for_algorithm(name: str, config: ml_collections.ConfigDict | None = None):
    """`config` (default: `base_config()`) with algorithm `name`'s defaults applied, locked."""
    from flowrl_jax.algos import get_algorithm

    config = base_config() if config is None else config
    config.algo.name = config.algo.preset = name
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
    from flowrl_jax.tasks.base import ON_BAD_ROW

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
    choice("data.on_bad_row", ON_BAD_ROW)
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
    for key in ("log.samples_every", "log.num_samples", "log.no_signal_steps"):
        check(key, number(0), "must be >= 0 (0: off)")

    _check_preset(config.algo)
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


def _check_preset(section: ml_collections.ConfigDict) -> None:
    """`--config.algo.name=dapo` on a config built for grpo would run DAPO with GRPO's values
    (no clip-higher, no dynamic sampling) and record "dapo": refuse it, naming the fix."""
    from flowrl_jax.algos import get_algorithm

    name, preset = section.name, section.preset
    if not preset or preset == name:
        return
    wanted = get_algorithm(name).defaults
    missing = {k: v for k, v in wanted.items() if section.get(k) != v}
    also = f" (it would run without {name}'s own {missing})" if missing else ""
    raise ValueError(
        f"config.algo.name={name!r}, but this config holds {preset}'s settings{also}. Use a "
        f"config built for {name} (configs/<task>/{name}.py, or for_algorithm({name!r}, c) in "
        f"your config file), or also pass --config.algo.preset={name} to run {name} with these "
        "values deliberately."
    )


def _check_unread_algo_keys(section: ml_collections.ConfigDict, algorithm) -> None:
    """A value set for a hyper-parameter the named algorithm does not have would be ignored
    silently (e.g. `algo.overlong_buffer_frac` with `algo.name=grpo`, or a config built for another
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
    c.task = "countdown"  # countdown | math | code | sql | toy_first_char (flowrl_jax/tasks/)
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


def parse_assignment(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` -> (KEY, VALUE), the value read as JSON or a Python literal (5e-5, true,
    null; True, None, (1, 8)), else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--set wants KEY=VALUE, got {text!r}")
    for parse in (json.loads, ast.literal_eval):
        try:
            return key, parse(value)
        except (ValueError, SyntaxError):
            pass
    return key, value


def set_key(config: ml_collections.ConfigDict, key: str, value: Any, *, flag: str = "--set"):
    """config.<key> = value for a dotted key that must exist, with the key's type kept (an
    error naming the key and what it holds otherwise)."""
    section, _, name = key.rpartition(".")
    node = config
    for part in filter(None, section.split(".")):
        if not isinstance(node, ml_collections.ConfigDict) or part not in node:
            raise ValueError(f"{flag} {key}: the config has no section {part!r}.")
        node = node[part]
    if name not in node:
        raise ValueError(
            f"{flag} {key}: the config has no key {name!r}"
            + (f" in {section!r} (keys: {', '.join(sorted(node))})." if section else ".")
        )
    try:  # ml_collections checks the type: 'no' is not a bool, 2.5 is not an int
        with config.unlocked():
            node[name] = value
    except TypeError as e:
        raise ValueError(
            f"{flag} {key}={value!r}: {key} is a {type(node[name]).__name__} (now {node[name]!r})."
        ) from e
