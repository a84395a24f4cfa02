"""One RL step, ours against TRL's `GRPOTrainer`: the same weights, prompts, shapes and reward.

Needs TRL (an optional extra; it keeps the pinned CPU torch):

    .venv/bin/pip install -e '.[test,bench]'

The measurement the issue asks for (22M-parameter Qwen2-style model, 16 prompts x 8
responses, 64 new tokens, GRPO with a KL term, beta 0.04, no gradient checkpointing on either
side) is the default:

    .venv/bin/python benchmarks/rl_step.py

`--remat full` runs both with gradient checkpointing (ours: `model.remat=full`; TRL:
`gradient_checkpointing=True`); `--preset qwen2-tiny --prompts 2 --group-size 2
--max-new-tokens 8 --steps 2` checks in seconds that it runs.

Setup. A random checkpoint of `--preset` is written by transformers (float32) with a byte-level
tokenizer padded to the model's vocabulary (filler tokens, then the end-of-text and pad tokens
at the last two ids), and both trainers load it from that directory: ours
(`flowrl_jax.train.trainer.Trainer`, algorithm `grpo` with `algo.kl_coef=beta`, k3 estimator,
token-mean loss, float32) and TRL (`GRPOTrainer` given the directory, `beta`, `loss_type="dapo"`:
the token mean over the batch, group-std advantages, float32, its reference model loaded from
the same directory). The prompts are random strings of letters and digits of exactly
`--prompt-len` characters, one token each, so neither side pads them; the reward on both sides
is 1 when the response starts with "1" (the `toy_first_char` task's rule: ours scores it in the
library's verifier workers, TRL calls a Python function). One rollout of `--prompts` prompts x
`--group-size` responses per step, one optimizer step per rollout (ours: one mini-batch, one
epoch; TRL: per-device batch = prompts x group size, gradient accumulation 1, one generation per
step, `num_iterations=1`), AdamW with the same learning rate, weight decay and clip.

How the lengths are matched: TRL generates with `min_new_tokens = max_new_tokens` (its
`generation_kwargs`), so every response is exactly `--max-new-tokens` long; our sampler has no
minimum length and stops a response at the end-of-text token, which a random model samples with
probability about 1/vocabulary per token (at 32768 tokens and 64 new tokens, about 0.2% of the
responses stop early). The mean response length of both sides is in the JSON.

Timing. TRL's `train()` runs `--steps + 1` steps; a callback runs one step of ours after each of
TRL's optimizer steps, so the two alternate and background load hits both alike. A TRL step is
the wall time of one iteration of its training loop (batch fetch, generation, reward,
reference and policy forward, backward, optimizer step, logging), from the end of the previous
callback to its `on_step_end`; ours is the wall time of `Trainer.collect` (reshard, rollout,
verification, reference forward, advantages) + `Trainer.update` (the optimizer step, ended on
the parameters being ready). The first step of each is excluded (ours compiles in it). Each
alternated pair gives a ratio TRL / ours (> 1: ours is faster); min / median / max are reported
with the load average at the start and the end. torch's intra-op threads are pinned to the
cores this process may use, the size of XLA's CPU thread pool.

Writes the printed results as JSON to benchmarks/results/rl_step.json (see --out).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import string
import sys
import tempfile
import time

import jax
import numpy as np
from common import (  # benchmarks/common.py, beside this file
    PRESETS,
    add_torch_threads_flag,
    command_line,
    cpu_model,
    hf_config,
    ratio_spread,
    usable_cores,
    write_report,
)

from flowrl_jax.data.tokenizer import make_byte_tokenizer
from flowrl_jax.rollout import make_scorer
from flowrl_jax.train.config import base_config, for_algorithm
from flowrl_jax.train.trainer import Trainer

INSTALL_TRL = (
    "benchmarks/rl_step.py compares with TRL, which is not installed: "
    "`.venv/bin/pip install -e '.[test,bench]'` (the `bench` extra pins trl; pip keeps the "
    "pinned torch==2.13.0)."
)
FIRST_CHAR = "1"
"""A response is rewarded 1 when it starts with this (flowrl_jax/tasks/toy.py's rule)."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="qwen2-20m")
    p.add_argument("--prompts", type=int, default=16, help="prompts per RL step")
    p.add_argument("--group-size", type=int, default=8, help="responses per prompt")
    p.add_argument("--prompt-len", type=int, default=32, help="tokens of every prompt")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--beta", type=float, default=0.04, help="KL coefficient (both sides, k3)")
    p.add_argument("--remat", choices=["none", "full"], default="none",
                   help="gradient checkpointing on both sides (ours: model.remat)")  # fmt: skip
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--steps", type=int, default=4, help="timed steps (after one warm-up step)")
    add_torch_threads_flag(p)
    p.add_argument("--out", default=os.path.join("benchmarks", "results", "rl_step.json"))
    return p.parse_args(argv)


def write_prompts(path: str, n: int, length: int, seed: int = 0) -> list[str]:
    """n random prompts of `length` letters and digits (one token each), as JSON lines with
    the toy task's reference."""
    rng = np.random.default_rng(seed)
    alphabet = np.array(list(string.ascii_letters + string.digits))
    prompts = ["".join(rng.choice(alphabet, length)) for _ in range(n)]
    with open(path, "w", encoding="utf-8") as f:
        for prompt in prompts:
            f.write(json.dumps({"prompt": prompt, "answer": FIRST_CHAR}) + "\n")
    return prompts


def first_char_reward(completions, **_) -> list[float]:
    """TRL's reward function: the toy task's rule."""
    return [float(c[:1] == FIRST_CHAR) for c in completions]


def ours_config(args, model_dir: str, data: str, workdir: str):
    c = base_config()
    c.task = "toy_first_char"
    c.model_path, c.workdir, c.data.train_path = model_dir, workdir, data
    c.steps = args.steps + 1
    c.data.max_prompt_len = args.prompt_len
    c.rollout.prompts_per_step = args.prompts
    c.rollout.group_size = args.group_size
    c.rollout.max_new_tokens = args.max_new_tokens
    c.model.remat = args.remat
    c.optim.lr, c.optim.warmup_steps = args.lr, 0
    c.eval.num_samples = 0
    c.log.progress = c.log.tensorboard = False
    c.checkpoint.export_hf = False
    c = for_algorithm("grpo", c)
    c.algo.kl_coef = args.beta
    return c


def trl_config(args, output_dir: str):
    from trl import GRPOConfig

    checkpointing = args.remat == "full"  # TRL's default is on; transformers 5 renamed it
    renamed = "activation_checkpointing" in GRPOConfig.__dataclass_fields__
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=args.steps + 1,
        per_device_train_batch_size=args.prompts * args.group_size,  # completions, not prompts
        gradient_accumulation_steps=1,
        num_generations=args.group_size,
        num_iterations=1,
        max_completion_length=args.max_new_tokens,
        generation_kwargs={"min_new_tokens": args.max_new_tokens},
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=args.beta,
        loss_type="dapo",  # the token mean over the batch, as ours' grpo
        scale_rewards="group",
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        weight_decay=0.01,
        max_grad_norm=1.0,
        gradient_checkpointing=checkpointing,
        **({"activation_checkpointing": checkpointing} if renamed else {}),
        model_init_kwargs={"dtype": "float32"},
        bf16=False,
        fp16=False,
        shuffle_dataset=False,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
    )


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        import trl
    except ImportError:
        sys.exit(INSTALL_TRL)
    import datasets
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    cores = usable_cores()
    torch.set_num_threads(args.torch_threads or cores)
    torch.manual_seed(0)
    env = {
        "command": command_line(),
        "cpu": cpu_model(),
        "cpu_cores_usable": cores,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        **{k: v for k, v in vars(args).items() if k not in ("out", "torch_threads")},
        "load_average_at_start": os.getloadavg(),
    }

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "model")
        hf = transformers.AutoModelForCausalLM.from_config(hf_config(args.preset))
        tokenizer = make_byte_tokenizer(
            eos_token="<|endoftext|>", pad_token="<|pad|>", vocab_size=hf.config.vocab_size
        )
        hf.save_pretrained(model_dir, safe_serialization=True)
        tokenizer.save_pretrained(model_dir)
        env["num_params"] = sum(p.numel() for p in hf.parameters())
        del hf
        data = os.path.join(tmp, "prompts.jsonl")
        prompts = write_prompts(data, args.prompts * (args.steps + 1), args.prompt_len)

        ours = Trainer(ours_config(args, model_dir, data, os.path.join(tmp, "ours")))
        trl_lengths = {len(ids) for ids in tokenizer(prompts)["input_ids"]}
        if ours.train_set.ids.shape[1] != args.prompt_len or not ours.train_set.mask.all():
            raise RuntimeError("our prompts must be --prompt-len tokens each, unpadded")
        if trl_lengths != {args.prompt_len}:
            raise RuntimeError(f"TRL's prompts must be --prompt-len tokens, not {trl_lengths}")
        t_ours, t_trl, phases, lengths = [], [], [], {"ours": [], "trl": []}
        base_key = jax.random.key(ours.config.seed)

        class Alternate(transformers.TrainerCallback):
            """After each of TRL's optimizer steps, one of ours (the RL loop's body, without
            logging and checkpoints)."""

            mark = 0.0

            def on_train_begin(self, *_, **__):
                self.mark = time.perf_counter()

            def on_log(self, _args, _state, _control, logs=None, **__):
                if logs and "completions/mean_length" in logs:
                    lengths["trl"].append(logs["completions/mean_length"])

            def on_step_end(self, *_, **__):
                t_trl.append(time.perf_counter() - self.mark)
                key = jax.random.fold_in(base_key, ours.step)
                timings: dict[str, float] = {}
                start = time.perf_counter()
                batch, metrics = ours.collect(key, score, timings)
                t0 = time.perf_counter()
                ours.update(batch, key)
                jax.block_until_ready(ours.params)
                timings["update"] = time.perf_counter() - t0
                t_ours.append(time.perf_counter() - start)
                ours.step += 1
                phases.append(timings)
                lengths["ours"].append(metrics["response_len"])
                print(
                    f"step {len(t_ours)}{' (warm-up)' if len(t_ours) == 1 else ''}: "
                    f"TRL {t_trl[-1]:.2f} s | ours {t_ours[-1]:.2f} s ("
                    + ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
                    + ")",
                    flush=True,
                )
                self.mark = time.perf_counter()

        theirs = trl.GRPOTrainer(
            model=model_dir,
            reward_funcs=first_char_reward,
            args=trl_config(args, os.path.join(tmp, "trl")),
            train_dataset=datasets.Dataset.from_list([{"prompt": p} for p in prompts]),
            processing_class=tokenizer,
            callbacks=[Alternate()],
        )
        env["trl_gradient_checkpointing"] = bool(theirs.args.gradient_checkpointing)
        with make_scorer(ours.config) as score:
            ours.algo.setup(ours.run_context(score))
            theirs.train()

    if len(t_ours) != args.steps + 1:
        raise RuntimeError(f"{len(t_ours)} steps ran, {args.steps + 1} expected")
    env["load_average_at_end"] = os.getloadavg()
    t_ours, t_trl = t_ours[1:], t_trl[1:]  # the first step compiles
    result = {
        "ours_s": statistics.median(t_ours),
        "trl_s": statistics.median(t_trl),
        **ratio_spread(t_ours, t_trl),
        "ours_phases_s": {k: statistics.median(p[k] for p in phases[1:]) for k in phases[1]},
        "response_len": {k: statistics.mean(v[1:]) for k, v in lengths.items() if v[1:]},
        "ours_runs_s": t_ours,
        "trl_runs_s": t_trl,
    }
    print(
        f"{args.preset}, {args.prompts} x {args.group_size}, {args.max_new_tokens} tokens, "
        f"beta {args.beta}, remat {args.remat}: ours {result['ours_s']:.2f} s | TRL "
        f"{result['trl_s']:.2f} s | ratio min {result['ratio_min']:.2f} / median "
        f"{result['ratio_median']:.2f} / max {result['ratio_max']:.2f}",
        flush=True,
    )
    report = {"env": env, "results": [result]}
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
