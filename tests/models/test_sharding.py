"""Sharded equals unsharded, on an 8-device CPU mesh in a subprocess."""

from __future__ import annotations

import os

import pytest
from hf_fixtures import make_hf_checkpoint
from jax.sharding import PartitionSpec
from multidevice import run_on_8_devices

from flowrl_jax.distributed import logical_to_spec, make_mesh


@pytest.mark.parametrize("arch", ["qwen2", "qwen3"])
def test_sharded_forward_equals_unsharded(arch, tmp_path):
    make_hf_checkpoint(arch, tmp_path)
    script = os.path.join(os.path.dirname(__file__), "sharded_forward.py")
    run_on_8_devices(script, str(tmp_path), done="SHARDED_OK")


def test_indivisible_dimensions_stay_replicated():
    mesh = make_mesh(data=1, fsdp=1, tensor=1)
    assert logical_to_spec(("embed", "mlp"), (64, 96), mesh) == PartitionSpec(None, None)


def test_mesh_size_errors():
    with pytest.raises(ValueError, match="needs 3 devices"):
        make_mesh(data=3, fsdp=1, tensor=1)
    with pytest.raises(ValueError, match="at most one mesh axis may be -1"):
        make_mesh(data=-1, fsdp=-1)
