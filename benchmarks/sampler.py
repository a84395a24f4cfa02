"""Sampler throughput: flowrl_jax.sampling.sample against transformers' PyTorch `generate`.

CPU (default): a random ~22M-parameter Qwen2-style checkpoint is written with transformers to a
temporary directory and loaded into both samplers (the same weights); the same left-padded
prompts are generated at each batch size with the same options (sampling on, no stop token, so
both produce exactly max_new_tokens per row). Both are warmed up, then timed alternately;
tokens/s = generated tokens / median wall time of the whole call. torch's intra-op threads are
pinned to the number of cores this process may use, which is the size of XLA's CPU thread pool.

GPU/TPU: `--preset qwen2.5-0.5b --dtype bfloat16 --batch 64 256 --bandwidth-gbs 3350` builds a
random Qwen2.5-0.5B-shaped model directly in JAX (nothing is downloaded), skips transformers,
and reports decode tokens/s against the memory-bandwidth bound B / (weight bytes / bandwidth).

Writes the printed results as JSON to benchmarks/results/sampler.json (see --out).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

import jax
import numpy as np
from common import (  # benchmarks/common.py, beside this file
    PRESETS,
    add_torch_threads_flag,
    command_line,
    cpu_model,
    hf_config,
    ratio_spread,
    timed,
    usable_cores,
    write_report,
)
from flax import nnx

from flowrl_jax.models import Decoder, ModelConfig, from_pretrained
from flowrl_jax.models.config import resolve_dtype
from flowrl_jax.sampling import sample


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="qwen2-20m")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 16, 64])
    p.add_argument("--prompt-len", type=int, default=32, help="longest prompt (others shorter)")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--repeats", type=int, default=3, help="timed runs per batch size and sampler")
    p.add_argument(
        "--hf",
        choices=["auto", "on", "off"],
        default="auto",
        help="compare with transformers generate (auto: on when JAX runs on CPU)",
    )
    p.add_argument(
        "--bandwidth-gbs",
        type=float,
        default=None,
        help="device memory bandwidth in GB/s, for the decode bound (e.g. 3350 for an H100 SXM)",
    )
    p.add_argument(
        "--decode-split",
        choices=["auto", "on", "off"],
        default="auto",
        help="also time a prefill-only call to report decode tokens/s "
        "(auto: on when --bandwidth-gbs is given or not on CPU)",
    )
    add_torch_threads_flag(p)
    p.add_argument("--out", default=os.path.join("benchmarks", "results", "sampler.json"))
    return p.parse_args(argv)


def make_prompts(batch: int, length: int, vocab: int, seed: int = 0):
    """Left-padded random prompts [B, P] with lengths in [P/2, P], pad id 0."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, length // 2), length + 1, batch)
    ids = np.zeros((batch, length), np.int64)
    mask = np.zeros((batch, length), np.int64)
    for i, n in enumerate(lengths):
        ids[i, length - n :] = rng.integers(1, vocab, n)
        mask[i, length - n :] = 1
    return ids, mask


def main(argv=None) -> dict:
    args = parse_args(argv)
    backend = jax.default_backend()
    use_hf = args.hf == "on" or (args.hf == "auto" and backend == "cpu")
    split = args.decode_split == "on" or (
        args.decode_split == "auto" and (args.bandwidth_gbs is not None or backend != "cpu")
    )
    cores = usable_cores()
    dtype = resolve_dtype(args.dtype)

    hf_model = None
    if use_hf:
        import torch
        import transformers

        transformers.utils.logging.disable_progress_bar()
        torch.set_num_threads(args.torch_threads or cores)
        torch.manual_seed(0)
        hf_model = transformers.AutoModelForCausalLM.from_config(hf_config(args.preset)).eval()
        hf_model.generation_config.eos_token_id = None
        hf_model.generation_config.pad_token_id = 0
        if args.dtype == "bfloat16":
            hf_model = hf_model.to(torch.bfloat16)
        with tempfile.TemporaryDirectory() as tmp:
            hf_model.save_pretrained(tmp, safe_serialization=True)
            model = from_pretrained(tmp, dtype=dtype)
    else:
        cfg = ModelConfig.from_hf_dict(hf_config(args.preset).to_dict())
        model = Decoder(cfg, dtype=dtype, param_dtype=dtype, rngs=nnx.Rngs(0))
    config = model.config
    weight_bytes = config.num_params * np.dtype(dtype).itemsize

    env = {
        "command": command_line(),
        "cpu": cpu_model(),
        "cpu_cores_usable": cores,
        "jax_backend": backend,
        "jax_devices": [str(d) for d in jax.devices()],
        "jax": jax.__version__,
        "dtype": args.dtype,
        "preset": args.preset,
        "num_params": config.num_params,
        "prompt_len": args.prompt_len,
        "max_new_tokens": args.max_new_tokens,
        "sampling": dict(temperature=args.temperature, top_p=args.top_p, top_k=args.top_k),
        "repeats": args.repeats,
        "load_average_at_start": os.getloadavg(),
    }
    if use_hf:
        env["torch"] = torch.__version__
        env["transformers"] = transformers.__version__
        env["torch_threads"] = torch.get_num_threads()
    print(
        f"{args.preset}: {config.num_params:,} parameters, {args.dtype}, JAX on {jax.devices()}, "
        f"{cores} usable CPU cores"
        + (f", torch intra-op threads {env['torch_threads']}" if use_hf else ""),
        flush=True,
    )

    opts = dict(
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
    )
    results = []
    for b in args.batch:
        ids, mask = make_prompts(b, args.prompt_len, config.vocab_size, seed=b)
        keys = iter(list(jax.random.split(jax.random.key(b), 4 * args.repeats + 4)))

        def ours(n_new=args.max_new_tokens, ids=ids, mask=mask, keys=keys):
            out = sample(model, ids, mask, next(keys), **{**opts, "max_new_tokens": n_new})
            return jax.block_until_ready(out)

        row = {"batch": b, "tokens": int(ours().mask.sum())}  # warm-up (compiles)
        t_ours = []
        t_hf = []
        if use_hf:
            ids_t, mask_t = torch.as_tensor(ids), torch.as_tensor(mask)
            hf_opts = dict(
                do_sample=args.temperature > 0,
                temperature=args.temperature if args.temperature > 0 else None,
                top_p=args.top_p,
                top_k=args.top_k,
                max_new_tokens=args.max_new_tokens,
                min_new_tokens=args.max_new_tokens,
                pad_token_id=0,
            )

            def hf(ids_t=ids_t, mask_t=mask_t, hf_opts=hf_opts):
                with torch.inference_mode():
                    gen = hf_model.generate(input_ids=ids_t, attention_mask=mask_t, **hf_opts)
                return int(gen.shape[0] * (gen.shape[1] - ids_t.shape[1]))

            assert hf() == row["tokens"], "both samplers must generate the same token count"
        for _ in range(args.repeats):  # alternate, so background load hits both alike
            t_ours += timed(ours, 1)
            if use_hf:
                t_hf += timed(hf, 1)
        row["ours_s"] = statistics.median(t_ours)
        row["ours_tok_s"] = row["tokens"] / row["ours_s"]
        if use_hf:
            row["hf_s"] = statistics.median(t_hf)
            row["hf_tok_s"] = row["tokens"] / row["hf_s"]
            row["ratio"] = row["ours_tok_s"] / row["hf_tok_s"]
            # each alternated pair's ratio: under load PyTorch's threads can stall for a whole
            # run, so one ratio can be off by several times; the spread shows it
            row.update(ratio_spread(t_ours, t_hf))
        if split:
            ours(1)  # warm-up of the prefill-only program
            t_prefill = statistics.median(timed(lambda: ours(1), args.repeats))
            decode_s = row["ours_s"] - t_prefill
            row["prefill_s"] = t_prefill
            row["decode_tok_s"] = b * (args.max_new_tokens - 1) / decode_s
            if args.bandwidth_gbs:
                bound = b * args.bandwidth_gbs * 1e9 / weight_bytes
                row["bandwidth_bound_tok_s"] = bound
                row["fraction_of_bound"] = row["decode_tok_s"] / bound
        results.append(row)
        line = f"batch {b:4d}: ours {row['ours_tok_s']:10.1f} tok/s"
        if use_hf:
            line += (
                f" | transformers {row['hf_tok_s']:10.1f} tok/s | ratio {row['ratio']:.2f}x"
                f" (pairs: min {row['ratio_min']:.2f} / median {row['ratio_median']:.2f} / "
                f"max {row['ratio_max']:.2f})"
            )
        if split:
            line += f" | decode {row['decode_tok_s']:10.1f} tok/s"
        if "fraction_of_bound" in row:
            line += f" ({100 * row['fraction_of_bound']:.1f}% of the bandwidth bound)"
        print(line, flush=True)

    env["load_average_at_end"] = os.getloadavg()
    report = {"env": env, "results": results}
    if args.bandwidth_gbs:
        report["env"]["bandwidth_gbs"] = args.bandwidth_gbs
        report["env"]["weight_bytes"] = weight_bytes
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
