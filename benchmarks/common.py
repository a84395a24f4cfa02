"""What the side-by-side benchmarks share: the model presets (random weights, written by
transformers so both frameworks load the same checkpoint), the machine description, the spread
of alternated runs and the JSON report in benchmarks/results/.

The benchmarks import it as `common` (they run as scripts from the repository root, with
benchmarks/ on sys.path).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

PRESETS = {
    # Qwen2-style (q/k/v bias, GQA, SwiGLU, tied embeddings), ~22M parameters.
    "qwen2-20m": dict(
        vocab_size=32768,
        hidden_size=384,
        intermediate_size=1024,
        num_hidden_layers=6,
        num_attention_heads=6,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        rope_theta=1e6,
    ),
    # The shapes of Qwen/Qwen2.5-0.5B (random weights).
    "qwen2.5-0.5b": dict(
        vocab_size=151936,
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        rope_theta=1e6,
    ),
    # A few hundred thousand parameters: for checking that a benchmark runs, not for figures.
    "qwen2-tiny": dict(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
        rope_theta=1e6,
    ),
}


def hf_config(preset: str):
    import transformers

    return transformers.Qwen2Config(
        **PRESETS[preset], max_position_embeddings=4096, rms_norm_eps=1e-6, eos_token_id=None
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """The cores this process may use: the size of XLA's CPU thread pool, and what torch's
    intra-op threads are pinned to, so that neither framework gets more of the machine."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def command_line() -> str:
    return " ".join([os.path.basename(sys.executable), *sys.argv])


def timed(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ratio_spread(ours_s: list[float], theirs_s: list[float]) -> dict[str, float]:
    """min / median / max over alternated pairs of theirs / ours (seconds; > 1: ours is faster).

    Under load PyTorch's threads can stall for a whole run, so a single ratio can be off by
    several times; the spread of the pairs shows it."""
    pairs = sorted(t / o for o, t in zip(ours_s, theirs_s, strict=True))
    return {
        "ratio_min": pairs[0],
        "ratio_median": statistics.median(pairs),
        "ratio_max": pairs[-1],
    }


def write_report(report: dict, out: str) -> None:
    """Writes `report` as JSON to `out` (folders created) and prints it."""
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    print(f"wrote {out}")


def add_torch_threads_flag(parser) -> None:
    """--torch-threads, for the benchmarks that time PyTorch beside us."""
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch intra-op threads (default: the cores this process may use = XLA's pool)",
    )
