"""The settings the papers' released scripts share, for the configs in `configs/paper/`.

Each function returns a locked config of one algorithm with what one family of released
scripts has in common; the file in `configs/paper/` that calls it says which experiment it
reproduces, sets what is its own (model, data, batch, hardware) and cites each value. Every
value here cites its source too: a released script (repository and path; the commits read are
in docs/algorithms.md, "References") or the paper's text. "Not published" marks a value no
source read gives; the choice made then is said.
"""

from __future__ import annotations

import ml_collections

from flowrl_jax.train.config import base_config, for_algorithm

# Repositories of the released codes (docs/algorithms.md, "References").
FLOWRL_REPO = "Xuekai-Zhu/FlowRL"
DPH_REPO = "seamoke/DPH-RL"
ROLL_REPO = "alibaba/ROLL"


def _mesh(c: ml_collections.ConfigDict, *, fsdp: int, gib: float, tensor: int = 1) -> None:
    """Parameters and optimizer state sharded over every device (FSDP / ZeRO-3, as the
    released runs: verl's FSDP workers, ROLL's distributed optimizer), heads and MLP columns
    over `tensor` devices where a model's rollout needs them split."""
    c.mesh.data = 1
    c.mesh.fsdp = fsdp
    c.mesh.tensor = tensor
    c.mesh.device_memory_gib = gib


def flowrl(
    task: str,
    *,
    model_path: str,
    architecture: str,
    workdir: str,
    fsdp: int,
    device_memory_gib: float,
    tensor: int = 1,
    micro_batch_size: int,
    prompts_per_call: int,
    steps: int,
) -> ml_collections.ConfigDict:
    """FlowRL as `verl@FlowRL/command/training/{math,code}/flowrl_*.sh` of FLOWRL_REPO run it:
    what the three scripts share. Each caller sets its batch, temperature, reward and data."""
    c = base_config()
    c.task = task
    c.model_path = model_path
    c.model.architecture = architecture  # for `plan` before the weights are on disk
    c.model.remat = "full"  # enable_gradient_checkpointing=True
    c.workdir = workdir
    c.dtype = "bfloat16"  # verl's FSDP actor: bfloat16 compute over float32 master weights
    c.param_dtype = "float32"
    _mesh(c, fsdp=fsdp, gib=device_memory_gib, tensor=tensor)
    c.steps = steps
    c.data.max_prompt_len = 2048  # max_prompt_length=2048
    c.rollout.group_size = 8  # actor_rollout_ref.rollout.n=8
    c.rollout.max_new_tokens = 8192  # max_response_length=8192 (1024 * 8 in the code script)
    c.rollout.prompts_per_call = prompts_per_call  # memory only: bounds the KV cache
    c.optim.lr = 1e-6  # actor.optim.lr=1e-6
    c.optim.warmup_steps = 10  # lr_warmup_steps=10, then constant (verl's default style)
    c.optim.schedule = "constant"
    c.optim.weight_decay = 0.1  # actor.optim.weight_decay=0.1
    c.optim.grad_clip = 1.0  # verl's actor grad_clip default, 1.0
    c.optim.epochs = 1  # verl's ppo_epochs default, 1
    c.optim.mini_batch_prompts = 32  # ppo_mini_batch_size=32 (prompts; verl multiplies by n)
    # The scripts use dynamic batch sizes (ppo_max_token_len_per_gpu = prompt + response): a
    # micro-batch's loss is scaled by its share of the mini-batch, which is what the global
    # normaliser computes (docs/algorithms.md §5); the micro-batch size here is memory only.
    c.optim.micro_batch_size = micro_batch_size
    # Evaluation as the paper reports it: Avg@16 at temperature 0.6, top-p 0.95 (FlowRL,
    # arXiv 2509.15207, experimental setup; docs/algorithms.md §5, "Paper hyper-parameters").
    c.eval.num_problems = 0  # every problem of the benchmark
    c.eval.num_samples = 16
    c.eval.temperature = 0.6
    c.eval.top_p = 0.95
    c.eval.ks = (1, 16)
    c = for_algorithm("flowrl", c)
    # The released objective multiplies δ² by the unclipped importance weight
    # (verl@FlowRL/verl/workers/actor/dp_actor.py, compute_flowrl_objective); the paper's
    # text clips it to [0.8, 1.2] (the library's default, `clip`). The scripts' runs are
    # what the paper's tables report, so the paper configs take the released weight.
    c.algo.weight_mode = "raw"
    # β = 15, the log-Z head (porj_layer=3: two hidden blocks and the output layer) and the
    # pooling of the prompt without its last token are the algorithm's defaults (§5).
    # use_kl_loss=True / kl_loss_coef=0.001 in the scripts: the FlowRL objective never adds
    # the KL term (commented out in dp_actor.py), so there is none here either.
    return c


def dapo_math_17k(c: ml_collections.ConfigDict) -> None:
    """DAPO-Math-17k as FlowRL's math scripts train on it: 512 prompts per step
    (data.train_batch_size=512), the release's verl layout (FLOWRL_REPO data/README.md:
    dapo-math-17k.parquet; chat-message prompts that already hold DAPO's instruction to end
    with a line "Answer: ...", the answer under reward_model.ground_truth) and its reward
    (data_source math_dapo: verl/utils/reward_score/math_dapo.py scores +1 / -1)."""
    c.rollout.prompts_per_step = 512
    c.rollout.temperature = 1.0  # verl's rollout default (the math scripts set none)
    c.data.train_path = "/data/flowrl/math_data/dapo-math-17k.parquet"
    c.data.eval_path = "/data/flowrl/math_data/test.parquet"  # AIME24/25, AMC23, MATH500, ...
    c.data.prompt_field = "prompt"
    c.data.answer_field = "reward_model.ground_truth"
    c.data.prompt_template = "{prompt}"  # the instruction is in the data
    c.reward.correct = 1.0
    c.reward.wrong = -1.0
    # trainer.test_freq=5 validates every 5 steps; every 50 here (16 samples of each
    # benchmark problem per evaluation).
    c.eval.every = 50
    c.checkpoint.every = 50  # save_freq=50


def dph_sql(
    algorithm: str, *, model_path: str, workdir: str, steps: int
) -> ml_collections.ConfigDict:
    """DPH-RL and its baselines on BIRD as `scripts/llama/*.sh` of DPH_REPO run them: what the
    five scripts share. `algorithm` is one of dph_forward_kl, dph_js, grpo, dph_dapo,
    grpo_rkl; the caller sets what its own script changes (steps, workdir). The released
    update's weighting of micro-batches is kept: algo.normalizer=local for all five, and for
    DPH-RL algo.dph_weighting=microbatch with 8 ranks of 2-row micro-batches (§4.2)."""
    c = base_config()
    c.task = "sql"
    c.model_path = model_path  # MODEL_PATH=.../Meta-Llama-3.1-8B-Instruct
    c.model.architecture = "llama3.1-8b"  # Llama-3.1-8B-Instruct has the base's architecture
    c.model.remat = "full"  # enable_gradient_checkpointing=True
    c.workdir = workdir
    c.dtype = "bfloat16"  # verl's FSDP actor: bfloat16 compute over float32 master weights
    c.param_dtype = "float32"
    # "# run on 8xH100" (the scripts' first line): one node, 8 GPUs of 80 GB.
    _mesh(c, fsdp=8, gib=80.0)
    c.steps = steps
    # Data: BIRD as published (train.json / dev.json: `question`, `evidence`, gold `SQL`,
    # `db_id`). The fork's own JSONL files (data/sql/*.jsonl) hold chat prompts with the
    # schema already written in and the database under reward_model.ground_truth.db_id, which
    # the loader does not resolve; so the prompt is built here from the database ({schema},
    # its CREATE statements, where the fork's prompt also lists example values per column).
    c.data.train_path = "/data/bird/train/train.json"
    c.data.eval_path = "/data/bird/dev/dev.json"
    # One root for both splits: a directory holding (links to) the folders of
    # train/train_databases and dev/dev_databases (their db_ids do not overlap).
    c.data.db_root = "/data/bird/databases"
    c.data.prompt_field = "question"
    c.data.answer_field = "SQL"
    # The released prompt's structure (engine, schema, question with BIRD's evidence, think
    # step by step, the query in a ```sql block), in our words.
    c.data.prompt_template = (
        "You are given a SQLite database and a question about it.\n\n"
        "Database schema:\n{schema}\n\n"
        "Question: {prompt}\nHint: {evidence}\n\n"
        "Reason step by step about the tables and columns the question needs, then write one "
        "SQLite query that returns exactly what is asked, in a ```sql code block."
    )
    c.data.chat_template = True  # data.return_raw_chat=True: the instruct model's template
    # The scripts: max_prompt_length=16000 with filter_overlong_prompts=True (longer prompts
    # are dropped). Here 4096, also dropping longer ones (counted at load): with this code's
    # materialised [S, S] attention scores and the 256-sample evaluation, 16000 + 4096 tokens
    # do not fit 8 devices of 80 GB (`flowrl-jax plan`: 281 GiB per device for the update,
    # 189 GiB for the rollout phase). The prompt here is shorter than the fork's (no example
    # values per column), so fewer BIRD prompts reach the bound.
    c.data.max_prompt_len = 4096
    c.rollout.prompts_per_step = 128  # data.train_batch_size=128
    c.rollout.group_size = 16  # nsample=16
    c.rollout.max_new_tokens = 4096  # maxlen=4096
    c.rollout.temperature = 1.0  # verl/trainer/config/ppo_trainer.yaml, rollout.temperature
    c.rollout.top_p = 0.9  # the fork's ppo_trainer.yaml, rollout.top_p (verl's default is 1)
    # Memory only: one prompt per sampler call (16 responses in training, 256 in evaluation)
    # bounds the KV cache.
    c.rollout.prompts_per_call = 1
    c.optim.lr = 1e-6  # actor.optim.lr=1e-6
    c.optim.warmup_steps = 0  # ppo_trainer.yaml: lr_warmup_steps=-1, lr_warmup_steps_ratio=0
    c.optim.schedule = "constant"  # warmup_style: constant
    c.optim.weight_decay = 0.01  # ppo_trainer.yaml, actor.optim.weight_decay
    c.optim.grad_clip = 1.0  # ppo_trainer.yaml, actor.grad_clip
    c.optim.mini_batch_prompts = 64  # ppo_mini_batch_size=64: two updates per RL step
    # ppo_micro_batch_size_per_gpu=2 on 8 GPUs: 16 rows per forward over the mesh.
    c.optim.micro_batch_size = 16
    c.reward.correct = 1.0  # the fork's SQL scorer (rl/scorer/): 1 for a matching result
    c.reward.wrong = 0.0  # and 0 otherwise
    # Evaluation: the paper reports Pass@k for k up to 256 on BIRD dev (and Spider dev, out of
    # domain: set eval_path / db_root to Spider's). Its sampling temperature and top-p are not
    # published; the scripts' commented-out val_kwargs sample at T = 1.0, top-p 0.95.
    c.eval.num_problems = 0
    c.eval.num_samples = 256
    c.eval.ks = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    c.eval.temperature = 1.0
    c.eval.top_p = 0.95
    c.eval.every = 40  # trainer.test_freq=40
    c.checkpoint.every = 80  # trainer.save_freq=80
    c = for_algorithm(algorithm, c)
    # The fork normalises each micro-batch's loss by its own tokens and averages them
    # (docs/algorithms.md §1, "Released codes"): `local` with the released micro-batch.
    c.algo.normalizer = "local"
    if algorithm in ("dph_forward_kl", "dph_js", "dph_alpha"):  # the DPH-RL family
        c.algo.stored_per_step = 256  # verl/trainer/ppo/ray_trainer.py: chunk_size = 256
        c.algo.eta = 0.01  # sft_loss_coeff=${2:-'0.01'} (the scripts' default)
        c.algo.dph_weighting = "microbatch"  # the released update (§4.2)
        c.algo.dph_ranks = 8  # trainer.n_gpus_per_node=8, one node
        c.algo.dph_micro_rows = 2  # ppo_micro_batch_size_per_gpu=2
        c.algo.explore_only = True  # data.train_files=.../train_wrong.parquet (D_exp)
    return c


def lite_ppo_math(algorithm: str, *, workdir: str) -> ml_collections.ConfigDict:
    """Lite PPO and its baselines on math with Qwen3-8B ("Tricks or Traps", arXiv
    2508.08221, run on ROLL_REPO): what the three runs share. The paper's own scripts are not
    released; where its text (as read through secondary summaries) gives no value, ROLL's
    example for this model (examples/qwen3-8B-rlvr_megatron/rlvr_config.yaml) does, and the
    comment says so. Not published: the group size, the mini-batch, the rollout and evaluation
    sampling, the step count and the training files (an easy and a hard set).

    The ROLL of the paper's time normalised each micro-batch's loss by its own tokens
    (docs/algorithms.md §1); with ROLL's one response per device per micro-batch that is a
    per-sequence mean, which would undo the token-level aggregation the paper describes: these
    configs keep the exact mini-batch normaliser (algo.normalizer=global)."""
    c = base_config()
    c.task = "math"
    c.model_path = "/data/Qwen3-8B"  # the aligned Qwen3-8B (the paper's headline rows, §7)
    c.model.architecture = "qwen3-8b"
    c.model.remat = "full"  # ROLL example: recompute_granularity: full
    c.workdir = workdir
    c.dtype = "bfloat16"  # ROLL example: dtype: bf16 (float32 master weights in the optimizer)
    c.param_dtype = "float32"
    # ROLL example: actor_train device_mapping list(range(0,16)): two nodes of 8 GPUs.
    _mesh(c, fsdp=16, gib=80.0)
    c.steps = 500  # ROLL example: max_steps: 500 (the paper's step count: not published)
    # Data: the paper trains on an easy and a hard math set and reports both (§7); they are
    # not in the released repository. Point the paths at the set you reproduce, JSONL rows
    # with `prompt` and `answer` (the math task's own columns).
    c.data.train_path = "/data/lite_ppo/train_hard.jsonl"
    c.data.eval_path = "/data/lite_ppo/math_benchmarks.jsonl"  # the six math benchmarks
    c.data.chat_template = True  # ROLL example: template: qwen3
    c.data.max_prompt_len = 2048  # ROLL example: prompt_length: 2048
    # Global batch 1024 responses and responses up to 8192 tokens (the paper's setup as
    # summarised; 128 prompts x 8 is our split of the 1024: the group size of 8 is ROLL's
    # example's num_return_sequences_in_group, the paper's own is not published).
    c.rollout.prompts_per_step = 128
    c.rollout.group_size = 8
    c.rollout.max_new_tokens = 8192
    c.rollout.temperature = 0.99  # ROLL example: actor_infer temperature 0.99
    c.rollout.top_p = 0.99  # top_p 0.99
    c.rollout.top_k = 100  # top_k 100
    c.rollout.prompts_per_call = 32  # memory only: bounds the KV cache
    c.optim.lr = 1e-6  # ROLL example: learning_rate 1.0e-6
    c.optim.warmup_steps = 20  # ROLL example: warmup_steps 20
    c.optim.schedule = "constant"
    c.optim.weight_decay = 0.0  # ROLL example: weight_decay 0
    # ROLL example: per_device_train_batch_size 1 x gradient_accumulation_steps 32 x 16
    # devices = 512 responses per optimizer step: 64 prompts, two updates per RL step.
    c.optim.mini_batch_prompts = 64
    c.optim.micro_batch_size = 16  # one response per device per forward, as the example
    c.optim.epochs = 1  # ppo_epochs: 1
    c.reward.correct = 1.0  # roll/pipeline/rlvr/rewards/math_rule_reward_worker.py: 1
    c.reward.wrong = 0.0  # and 0
    # Evaluation: mean accuracy over six math benchmarks. The paper's sampling settings are not
    # published; ROLL's example validates at temperature 0.6, top-p 0.6 (and top-k 50, which
    # the evaluation here does not offer), one sample; we draw 8 for Avg@8 / Pass@8.
    c.eval.num_problems = 0
    c.eval.num_samples = 8
    c.eval.temperature = 0.6
    c.eval.top_p = 0.6
    c.eval.ks = (1, 8)
    c.eval.every = 10  # ROLL example: eval_steps 10
    c.checkpoint.every = 100  # ROLL example: save_steps 100
    return for_algorithm(algorithm, c)
