"""Update-step throughput: the trainer's gradient of the response log-probs, ours against a
PyTorch (transformers) training step of the same model on the same batch.

A random model with the shapes of `--preset` (default: Qwen2.5-0.5B) is written by
transformers and loaded into both frameworks (the same weights). One step = forward over
prompt + response, log-probs of the response tokens (ours: the LM head on response positions
only, in chunks; PyTorch: the full logits, as TRL computes them), a policy-gradient loss
`-(lp · advantage).sum() / tokens`, backward. Timed alternately after a warm-up, with remat
(gradient checkpointing) off and on; tokens/s counts every position of the batch.
On a GPU, `--peak-tflops` adds model FLOPs utilisation (6 · parameters · tokens per step).

Writes the printed results as JSON to benchmarks/results/train_step.json (see --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np
from common import (  # benchmarks/common.py, beside this file
    PRESETS,
    command_line,
    cpu_model,
    hf_config,
    ratio_spread,
    usable_cores,
    write_report,
)
from flax import nnx

from flowrl_jax.models import from_pretrained, response_logprobs


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="qwen2.5-0.5b")
    p.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=2048, help="prompt + response tokens")
    p.add_argument("--prompt", type=int, default=256, help="prompt tokens (the rest: response)")
    p.add_argument("--chunk", type=int, default=512, help="model.logprob_chunk")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--torch", choices=["auto", "on", "off"], default="auto")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak, for MFU")
    p.add_argument("--out", default=os.path.join("benchmarks", "results", "train_step.json"))
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    import transformers

    use_torch = args.torch == "on" or (args.torch == "auto" and jax.default_backend() == "cpu")
    cores = usable_cores()
    torch.set_num_threads(cores)
    torch.manual_seed(0)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtype]
    hf = transformers.AutoModelForCausalLM.from_config(hf_config(args.preset)).to(dtype)
    rng = np.random.default_rng(0)
    b, s, p = args.batch, args.seq, args.prompt
    ids = rng.integers(1, hf.config.vocab_size, (b, s))
    adv = rng.normal(size=(b, s - p)).astype(np.float32)
    tokens = b * s

    with tempfile.TemporaryDirectory() as tmp:
        hf.save_pretrained(tmp, safe_serialization=True)
        models = {
            remat: from_pretrained(tmp, dtype=args.dtype, param_dtype="float32", remat=remat)
            for remat in ("none", "full")
        }
    num_params = models["none"].config.num_params

    def ours_step(model):
        graphdef, params = nnx.split(model)

        def loss(params, ids, adv):
            out = response_logprobs(
                nnx.merge(graphdef, params),
                ids,
                jnp.ones_like(ids, bool),
                prompt_len=p,
                temperature=1.0,
                chunk=args.chunk,
            )
            return -jnp.sum(out.lp * adv) / adv.size

        grad = jax.jit(jax.grad(loss))
        args_ = (params, jnp.asarray(ids, jnp.int32), jnp.asarray(adv))
        return lambda: jax.block_until_ready(grad(*args_))

    def torch_step(checkpointing: bool):
        if checkpointing:
            hf.gradient_checkpointing_enable()
        else:
            hf.gradient_checkpointing_disable()
        hf.train()
        ids_t, adv_t = torch.as_tensor(ids), torch.as_tensor(adv)

        def step():
            hf.zero_grad(set_to_none=True)
            logits = hf(input_ids=ids_t).logits[:, p - 1 : -1].float()
            lp = torch.log_softmax(logits, -1).gather(-1, ids_t[:, p:, None])[..., 0]
            (-(lp * adv_t).sum() / adv_t.numel()).backward()

        return step

    results = []
    for remat in ("none", "full"):
        ours = ours_step(models[remat])
        ours()  # compile
        theirs = torch_step(remat == "full") if use_torch else None
        if theirs:
            theirs()
        t_ours, t_torch = [], []
        for _ in range(args.repeats):  # alternated, so background load hits both alike
            t0 = time.perf_counter()
            ours()
            t_ours.append(time.perf_counter() - t0)
            if theirs:
                t0 = time.perf_counter()
                theirs()
                t_torch.append(time.perf_counter() - t0)
        row = {"remat": remat, "ours_s": statistics.median(t_ours)}
        row["ours_tok_s"] = tokens / row["ours_s"]
        line = f"remat {remat:4s}: ours {row['ours_tok_s']:9.1f} tok/s"
        if theirs:
            row["torch_s"] = statistics.median(t_torch)
            row["torch_tok_s"] = tokens / row["torch_s"]
            row.update(ratio_spread(t_ours, t_torch))
            line += (
                f" | PyTorch {row['torch_tok_s']:9.1f} tok/s | ratio min {row['ratio_min']:.2f} / "
                f"median {row['ratio_median']:.2f} / max {row['ratio_max']:.2f}"
            )
        if args.peak_tflops:
            row["mfu"] = 6 * num_params * tokens / row["ours_s"] / (args.peak_tflops * 1e12)
            line += f" | MFU {100 * row['mfu']:.1f}%"
        results.append(row)
        print(line, flush=True)

    report = {
        "env": {
            "command": command_line(),
            "cpu": cpu_model(),
            "cpu_cores_usable": cores,
            "jax_devices": [str(d) for d in jax.devices()],
            "jax": jax.__version__,
            "torch": torch.__version__,
            "preset": args.preset,
            "num_params": num_params,
            "dtype": args.dtype,
            "batch": b,
            "seq": s,
            "prompt": p,
            "chunk": args.chunk,
            "load_average": os.getloadavg(),
        },
        "results": results,
    }
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
