"""Verifier throughput: verifications per second, one process vs the worker pool, in one run.

    python benchmarks/verifiers.py [--workers N] [--math-items 400] [--countdown-items 20000]
                                   [--code-tests 300]

"single" verifies in this process (``Scorer(num_workers=0)``: no isolation, the floor cost of
the verifier itself); "pool" is ``Scorer(num_workers=N)`` (default: all cores), the way a
trainer runs it. Items are unique (no cache hits) and both modes score the same ones. Also
measured: pool start-up with the ``forkserver`` (sympy preloaded once) and ``spawn`` contexts,
and the cost of replacing a dead worker, and the time one worker takes to score a correct program
against ``--code-tests`` trivial stdin tests (all of an item's tests share one sandbox; the
default budget is 20 s). Writes benchmarks/results/verifiers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from pathlib import Path

from flowrl_jax.rewards import Scorer

RESULTS = Path(__file__).resolve().parent / "results" / "verifiers.json"


def math_items(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """Typical DAPO/Qwen-style answers: equivalent forms, near misses, missing answers."""
    rng = random.Random(seed)
    responses, references = [], []
    for i in range(n):
        a, b, k = rng.randint(1, 999), rng.randint(2, 999), rng.randint(2, 9)
        kind = i % 8
        if kind == 0:
            item = (f"... so \\boxed{{\\frac{{{a * k}}}{{{b * k}}}}}", f"\\frac{{{a}}}{{{b}}}")
        elif kind == 1:
            item = (f"Answer: {a}/{b}", f"\\dfrac{{{a}}}{{{b}}}")
        elif kind == 2:
            item = (f"\\boxed{{{k}\\sqrt{{{b}}}}}", f"\\sqrt{{{k * k * b}}}")
        elif kind == 3:
            item = (f"\\boxed{{({a}, {a + b}]}}", f"({a},{a + b}]")
        elif kind == 4:
            item = (f"\\boxed{{(x+{a})(x+{b})}}", f"x^2+{a + b}x+{a * b}")
        elif kind == 5:
            item = (f"\\boxed{{{a}.{b}}}", f"{a}.{b + 1}")
        elif kind == 6:
            item = (f"I am not sure, maybe {a} or {b}.", f"{a}")
        else:
            item = (f"The area is \\boxed{{{a * b} \\text{{ cm}}^2}}", f"{a * b}")
        responses.append(item[0])
        references.append(item[1])
    return responses, references


def countdown_items(n: int, seed: int = 0) -> tuple[list[str], list[dict]]:
    rng = random.Random(seed)
    responses, references = [], []
    for i in range(n):
        x = [rng.randint(1, 99) for _ in range(4)]
        target = x[0] * x[1] - x[2] + x[3]
        references.append({"numbers": x, "target": target})
        if i % 3 == 0:
            responses.append(f"<answer>{x[0]} + {x[1]}</answer>")
        else:
            responses.append(f"Let me try.\n<answer>({x[0]}*{x[1]}) - {x[2]} + {x[3]}</answer>")
    return responses, references


def burn(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def host_parallel_speedup(workers: int, n: int = 3_000_000) -> float:
    """What ``workers`` processes can gain over one here (the ceiling of any pool ratio):
    near ``workers`` on an idle host, near 1 when other jobs already fill the cores."""
    from flowrl_jax.rewards.pool import WorkerPool

    with WorkerPool(workers, preload=()) as pool:
        pool.map(burn, [(1,)] * workers, timeout=60)
        start = time.perf_counter()
        pool.map(burn, [(n,)] * workers, timeout=600, chunksize=1)
        parallel = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(workers):
        burn(n)
    return (time.perf_counter() - start) / parallel


def throughput(scorer: Scorer, task: str, responses: list, references: list) -> float:
    start = time.perf_counter()
    results = scorer.score(task, responses, references)
    elapsed = time.perf_counter() - start
    assert len(results) == len(responses)
    return len(responses) / elapsed


def startup(start_method: str, workers: int) -> dict[str, float]:
    """Seconds from constructing a Scorer to its first math verdicts, and per replaced worker
    from killing it to a verdict from its replacement."""
    start = time.perf_counter()
    with Scorer(workers, start_method=start_method) as scorer:
        scorer.score("math", ["\\boxed{1}"] * workers, ["1"] * workers)
        started = time.perf_counter() - start
        pool = scorer._pool
        start = time.perf_counter()
        for worker in list(pool._workers):
            pool._replace(worker)
        scorer.score("math", ["\\boxed{2}"] * workers, ["2"] * workers)
        replaced = (time.perf_counter() - start) / workers
    return {"start_s": round(started, 3), "replace_worker_s": round(replaced, 3)}


def code_many_tests(n_tests: int) -> dict:
    """Seconds for one worker to score a correct program on ``n_tests`` stdin tests."""
    reference = {"tests": [{"input": f"{i} {i}\n", "output": f"{2 * i}\n"} for i in range(n_tests)]}
    response = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    with Scorer(1) as scorer:
        scorer.score("code", [response], [{"tests": reference["tests"][:1]}])  # sandbox probe
        start = time.perf_counter()
        (result,) = scorer.score("code", [response], [reference])
        elapsed = time.perf_counter() - start
    return {"tests": n_tests, "seconds": round(elapsed, 2), "reward": result.reward}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--math-items", type=int, default=400)
    parser.add_argument("--countdown-items", type=int, default=20_000)
    parser.add_argument("--code-tests", type=int, default=300)
    args = parser.parse_args()

    report: dict = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "load_average_1min": os.getloadavg()[0],
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "workers": args.workers,
        # forkserver first: the fork server is per process, and only its first start preloads.
        "startup": {
            "forkserver": startup("forkserver", args.workers),
            "spawn": startup("spawn", args.workers),
        },
        "host_parallel_speedup": round(host_parallel_speedup(args.workers), 2),
        "code_many_tests": code_many_tests(args.code_tests),
    }
    workloads = {
        "math": math_items(args.math_items),
        "countdown": countdown_items(args.countdown_items),
    }
    with Scorer(0) as single, Scorer(args.workers) as pool:
        for task, (responses, references) in workloads.items():
            warm = 2 * args.workers
            single.score(task, responses[:warm], references[:warm])
            pool.score(task, responses[:warm], references[:warm])
            single_rate = throughput(single, task, responses, references)
            pool_rate = throughput(pool, task, responses, references)
            report[task] = {
                "items": len(responses),
                "single_per_s": round(single_rate, 1),
                "pool_per_s": round(pool_rate, 1),
                "ratio": round(pool_rate / single_rate, 2),
            }

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{'task':<10} {'items':>7} {'single/s':>10} {f'pool({args.workers})/s':>11} {'ratio':>7}"
    )
    for task in workloads:
        row = report[task]
        print(
            f"{task:<10} {row['items']:>7} {row['single_per_s']:>10.1f} "
            f"{row['pool_per_s']:>11.1f} {row['ratio']:>6.2f}x"
        )
    for method, up in report["startup"].items():
        print(
            f"pool start-up ({method}): {up['start_s']:.2f} s;"
            f" replacing a dead worker: {up['replace_worker_s'] * 1000:.0f} ms"
        )
    print(
        f"host: {os.cpu_count()} cores, load average {report['machine']['load_average_1min']:.1f},"
        f" {args.workers} busy processes run {report['host_parallel_speedup']:.2f}x faster than"
        " one (the ceiling of the ratios above)"
    )
    code = report["code_many_tests"]
    print(
        f"code: a correct program on {code['tests']} stdin tests, one worker: "
        f"{code['seconds']:.1f} s, reward {code['reward']}"
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
