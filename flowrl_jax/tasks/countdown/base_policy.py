"""The embedded default's base policy: a tiny Qwen2 decoder trained from scratch on Countdown.

RL needs a policy that already solves some problems (a zero-reward group teaches nothing) and
that is *diverse*, as a pretrained model is, so that Pass@k for large k is high and an RL
method can either keep that diversity or collapse it. We get one without any download by
supervised training on the exhaustive solver's solutions:

- data: the Countdown ``train`` split of the same generator, seed and test size the RL configs
  use (``BaseRecipe.apply_to``), so the test split the demo evaluates on is never trained on;
- each epoch shows every training problem once, with *one* of its solutions drawn uniformly
  (``sample_solution``) and its numbers shown in a random order, so over the epochs the model
  sees many different correct answers and prompts and learns a spread-out distribution instead
  of one memorised answer per problem;
- teacher-forced next-token loss on ``prompt + solution + EOS``, counted on the response tokens
  only (the prompt's numbers are random; predicting them would only add noise);
- AdamW with linear warm-up and cosine decay, float32, the generic supervised step
  (``flowrl_jax.optim.make_supervised_step``).

The result is written with the project's own export (``save_pretrained``: config.json,
model.safetensors, tokenizer files) and read back through ``from_pretrained``, the path a real
checkpoint takes; a ``pretrain.json`` beside it records the recipe and the base metrics.
``ensure_base_model`` returns a cached build when the recipe matches and builds otherwise. The
evaluation of a build is the caller's (the command evaluates as ``flowrl-jax eval`` does):

    python -m flowrl_jax.train.pretrain --out=artifacts/countdown_base
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from flowrl_jax.files import atomic_directory, write_json_atomic
from flowrl_jax.models import Decoder, ModelConfig, from_pretrained, load_tokenizer, save_pretrained
from flowrl_jax.optim import lr_schedule, make_optimizer, make_supervised_step

log = logging.getLogger("flowrl_jax")

RECIPE_FILE = "pretrain.json"
DEFAULT_PATH = "artifacts/countdown_base"


@dataclasses.dataclass(frozen=True)
class BaseRecipe:
    """Everything that determines the base model: same recipe, same weights (CPU, float32)."""

    seed: int = 0
    # Data: must match the RL configs' `data` section so the held-out test split is the same.
    data_seed: int = 0
    num_numbers: int = 3
    max_number: int = 12
    numbers_use: str = "at_most_once"
    num_test: int = 200  # held out: the first `num_test` problems of the generator's stream
    num_train: int = 5700  # 3 numbers from 1-12 have 5,906 solvable problems (targets 1-100)
    shuffle_numbers: bool = True  # show each training prompt's numbers in a random order
    # Model (Qwen2 architecture: q/k/v bias, grouped-query attention).
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    tie_word_embeddings: bool = True
    # Optimisation.
    steps: int = 200
    batch_size: int = 256
    lr: float = 3e-3
    warmup_steps: int = 20
    min_lr_ratio: float = 0.05
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    # Evaluation after the build (Pass@k on the test split, at temperature 1).
    eval_samples: int = 16

    def model_config(self, tokenizer: Any) -> ModelConfig:
        return ModelConfig(
            model_type="qwen2",
            vocab_size=len(tokenizer),
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_layers=self.num_layers,
            num_heads=self.num_heads,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.hidden_size // self.num_heads,
            qkv_bias=True,
            tie_word_embeddings=self.tie_word_embeddings,
            max_position_embeddings=64,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )

    def apply_to(self, config: Any) -> None:
        """Points an RL config's Countdown data at this recipe's problem stream, so that its
        test split is the one the base policy held out."""
        config.data.countdown_numbers = self.num_numbers
        config.data.countdown_max_number = self.max_number
        config.data.numbers_use = self.numbers_use
        config.data.seed = self.data_seed

    def fingerprint(self) -> dict[str, Any]:
        """The fields that change the weights (evaluation settings do not), as JSON values."""
        out = dataclasses.asdict(self)
        out.pop("eval_samples")
        return json.loads(json.dumps(out))  # tuples as lists, as they read back from the file


# ------------------------------------------------------------------------------ data


def load_splits(recipe: BaseRecipe):
    """The Countdown train/test splits of `recipe` (a `datasets.DatasetDict`)."""
    from flowrl_jax.tasks.countdown.generator import generate_splits

    return generate_splits(
        recipe.data_seed,
        recipe.num_train,
        0,
        recipe.num_test,
        num_numbers=(recipe.num_numbers,),
        max_number=recipe.max_number,
        numbers_use=recipe.numbers_use,
    )


class SupervisedData:
    """Tokenised training problems and an epoch iterator of right-padded batches.

    Sequences are ``prompt + solution + EOS``, right-padded to one static width (the longest
    possible), so the jitted step compiles once. Padding does not matter to the model:
    positions count real tokens only, so a left-padded RL prompt sees the positions of
    training.
    """

    def __init__(self, rows: Any, tokenizer: Any, recipe: BaseRecipe):
        self.tokenizer = tokenizer
        self.numbers = [list(r["numbers"]) for r in rows]
        self.targets = [int(r["target"]) for r in rows]
        self.solutions = [list(r["solutions"]) for r in rows]
        self.shuffle = recipe.shuffle_numbers
        self.eos = tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id
        self._cache: dict[str, list[int]] = {}
        longest_prompt = max(len(self.encode(r["prompt"])) for r in rows)
        longest_solution = max(len(self.encode(s)) for sols in self.solutions for s in sols)
        self.length = longest_prompt + longest_solution + 1

    def encode(self, text: str) -> list[int]:
        ids = self._cache.get(text)
        if ids is None:
            ids = self._cache[text] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids

    def __len__(self) -> int:
        return len(self.numbers)

    def _example(self, i: int, rng: np.random.Generator) -> tuple[list[int], int]:
        """Problem i as prompt + one uniformly drawn solution + EOS, and the prompt's length."""
        from flowrl_jax.tasks.countdown.generator import format_prompt, sample_solution

        numbers = self.numbers[i]
        if self.shuffle:
            numbers = [numbers[j] for j in rng.permutation(len(numbers))]
        prompt = self.encode(format_prompt(numbers, self.targets[i]))
        answer = self.encode(sample_solution({"solutions": self.solutions[i]}, rng))
        return [*prompt, *answer, self.eos], len(prompt)

    def batches(self, rng: np.random.Generator, batch_size: int):
        """Endless stream of (ids, attn, loss_mask) numpy batches, epoch after epoch.

        Each epoch visits the problems in a new random order and draws each one's example
        afresh (a solution, an order of the numbers); the last `< batch_size` problems of an
        epoch wait for the next one's order.

        All batches have the longest possible width. Grouping examples by length into a few
        widths would save a third of the compute, but length says which kind of solution a
        row holds (``a*b`` or ``(a+b)*c``), and length-homogeneous batches trained markedly
        worse per step in development runs.
        """
        if not 0 < batch_size <= len(self):
            raise ValueError(f"batch_size={batch_size} must be in [1, {len(self)}] (problems).")
        while True:
            order = rng.permutation(len(self))
            for start in range(0, len(order) - batch_size + 1, batch_size):
                yield self._collate(
                    [self._example(i, rng) for i in order[start : start + batch_size]]
                )

    def _collate(self, examples: list[tuple[list[int], int]]):
        n, width = len(examples), self.length
        ids = np.full((n, width), self.pad, np.int32)
        attn = np.zeros((n, width), bool)
        loss = np.zeros((n, width - 1), np.float32)
        for row, (seq, prompt_len) in enumerate(examples):
            ids[row, : len(seq)] = seq
            attn[row, : len(seq)] = True
            # logits at t predict token t+1: the response targets are read at p-1 .. n-2
            loss[row, prompt_len - 1 : len(seq) - 1] = 1.0
        return ids, attn, loss


# ------------------------------------------------------------------------------ training


def train_base(
    recipe: BaseRecipe, tokenizer: Any, train_rows: Any, *, progress: bool = True
) -> tuple[Decoder, list[float]]:
    """Trains a fresh decoder on `train_rows`; returns it and the loss of every step."""
    if recipe.steps < 1:
        raise ValueError(f"steps={recipe.steps} must be >= 1.")
    model = Decoder(recipe.model_config(tokenizer), rngs=nnx.Rngs(recipe.seed))
    graphdef, params = nnx.split(model, nnx.Param)
    rate = lr_schedule(
        recipe.lr,
        total_steps=recipe.steps,
        warmup_steps=recipe.warmup_steps,
        schedule="cosine",
        end_lr_ratio=recipe.min_lr_ratio,
    )
    tx = make_optimizer(rate, weight_decay=recipe.weight_decay, grad_clip=recipe.grad_clip)
    opt_state = tx.init(params)
    step = make_supervised_step(graphdef, tx)
    data = SupervisedData(train_rows, tokenizer, recipe)
    batches = data.batches(np.random.default_rng([recipe.seed, 1]), recipe.batch_size)
    losses: list[float] = []
    bar = tqdm(range(recipe.steps), desc="base model", disable=not progress, unit="step")
    pending = None  # read each loss one step late: the host prepares the next batch meanwhile
    for _ in bar:
        params, opt_state, loss = step(params, opt_state, *next(batches))
        if pending is not None:
            losses.append(float(pending))
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        pending = loss
    losses.append(float(pending))
    bar.close()
    nnx.update(model, params)
    return model, losses


# ------------------------------------------------------------------------------ build / cache


Evaluate = Callable[[str, "BaseRecipe"], dict[str, float]]
"""(model directory, recipe) -> test metrics of the built base policy."""


def build_base_model(
    out_dir: str | os.PathLike = DEFAULT_PATH,
    recipe: BaseRecipe | None = None,
    *,
    evaluate: Evaluate | None = None,
    progress: bool = True,
) -> str:
    """Trains the base policy and writes it to `out_dir` (replaced atomically); returns the path.

    `evaluate`, when given, measures the build on the test split; its figures are recorded.

    Everything is assembled in a temporary sibling directory and renamed into place at the
    end, so an interrupted build leaves no directory that `ensure_base_model` would take for
    a finished one.
    """
    from flowrl_jax.data.tokenizer import build_char_tokenizer

    recipe = recipe or BaseRecipe()
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.isdir(out_dir) and os.listdir(out_dir) and read_build_info(out_dir) is None:
        raise FileExistsError(
            f"{out_dir} is not empty and holds no {RECIPE_FILE}, so it is not a base policy this "
            "command built: it will not be replaced. Pass a new or empty directory."
        )
    with atomic_directory(out_dir) as staging, tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        tokenizer = load_tokenizer(build_char_tokenizer(os.path.join(scratch, "tokenizer")))
        splits = load_splits(recipe)
        model, losses = train_base(recipe, tokenizer, splits["train"], progress=progress)
        train_s = time.perf_counter() - start
        save_pretrained(model, staging, tokenizer=tokenizer)
        info: dict[str, Any] = {
            "recipe": recipe.fingerprint(),
            "num_params": model.config.num_params,
            "num_train_problems": len(splits["train"]),
            "num_test_problems": len(splits["test"]),
            "train_seconds": round(train_s, 1),
            "loss_every_10_steps": [round(x, 4) for x in losses[::10]] + [round(losses[-1], 4)],
        }
        if evaluate is not None:
            start = time.perf_counter()
            info["test_metrics"] = evaluate(staging, recipe)
            info["eval_seconds"] = round(time.perf_counter() - start, 1)
        write_build_info(staging, info)
    return out_dir


def write_build_info(path: str | os.PathLike, info: dict[str, Any]) -> None:
    """Writes `pretrain.json` into `path` atomically."""
    write_json_atomic(os.path.join(path, RECIPE_FILE), info)


def read_build_info(path: str | os.PathLike) -> dict[str, Any] | None:
    """The `pretrain.json` of a built base model, or None for a directory without one."""
    file = os.path.join(path, RECIPE_FILE)
    if not os.path.isfile(file):
        return None
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def recorded_recipe(path: str | os.PathLike) -> BaseRecipe | None:
    """The recipe a base policy at `path` was built with, or None if it is not one of ours."""
    info = read_build_info(path)
    known = {f.name for f in dataclasses.fields(BaseRecipe)}
    if info is None or not known.issuperset(info.get("recipe", {"?": None})):
        return None  # not ours, or from a version with other fields (it will be rebuilt)
    return BaseRecipe(**info["recipe"])


def ensure_base_model(
    path: str | os.PathLike = DEFAULT_PATH,
    recipe: BaseRecipe | None = None,
    *,
    evaluate: Evaluate | None = None,
    progress: bool = True,
) -> str:
    """The base model at `path`: reused when it loads and was built by `recipe`, built otherwise.

    A directory without `pretrain.json` is someone's own checkpoint: it is used as it is, and
    an error names it when it does not load (it is never replaced). One with a different
    recipe is rebuilt, so editing the recipe never silently reuses stale weights.
    """
    recipe = recipe or BaseRecipe()
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path) and os.listdir(path):
        info = read_build_info(path)
        if info is not None and info.get("recipe") != recipe.fingerprint():
            log.warning("%s was built with another recipe; rebuilding it.", path)
        else:
            try:
                model = from_pretrained(path)
                load_tokenizer(path, vocab_size=model.config.vocab_size)
            except (OSError, ValueError) as e:
                if info is None:
                    raise ValueError(
                        f"{path} does not load as a model ({e}). Pass a Hugging Face model "
                        "directory, or a path that does not exist yet to build the base policy "
                        "there."
                    ) from e
                log.warning("%s does not load (%s); rebuilding it.", path, e)
            else:
                return path
    log.info("building the base policy into %s", path)
    return build_base_model(path, recipe, evaluate=evaluate, progress=progress)
