"""The GPU check (`make gpu-check`) runs on a machine without CUDA too: the CUDA parts skip and
say so, the fused run goes through at its smoke size, and it prints its one table."""

import subprocess
import sys

import pytest
import torch

from tests.integration.conftest import PROJECT


@pytest.mark.processes
def test_the_gpu_check_passes_on_the_cpu_saying_what_it_skipped():
    result = subprocess.run(
        [sys.executable, "scripts/gpu_check.py"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout[result.stdout.index("| step | status |") :].splitlines()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1] for line in table[2:]}
    assert list(rows) == [
        "environment",
        "CUDA tests",
        "training benchmark",
        "guide MNIST-sized fused run",
    ]
    if not torch.cuda.is_available():
        assert rows["CUDA tests"] == "skipped (no CUDA)"
        assert rows["training benchmark"] == "skipped (no CUDA)"
        assert rows["guide MNIST-sized fused run"] == "ok (CPU smoke size)"
