"""Checkpoints across meshes: saved on (fsdp=4, tensor=2), resumed on (data=8), in an 8-device
subprocess (orbax restores into the new mesh's shardings)."""

from __future__ import annotations

import os

import pytest
from multidevice import run_on_8_devices


@pytest.mark.slow  # 8 minutes on the shared 2-core development machine
def test_resume_on_another_mesh(tiny_model, tmp_path):
    script = os.path.join(os.path.dirname(__file__), "cross_mesh_resume.py")
    run_on_8_devices(script, str(tiny_model), str(tmp_path), done="CROSS_MESH_OK", timeout=600)
