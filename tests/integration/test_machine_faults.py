"""Faults of the machine and the filesystem end a real `kedro run` in one `error:` line naming
the path or setting, the cause and the fix, with no traceback on the console: a full disk, a
read-only folder, a file where the checkpoint folder should be, a missing device, a truncated
artifact. (A parameters file that is not a mapping or not YAML: tests/integration/
test_overrides.py, through the loader `kedro run` uses; its one line: test_cli_errors.py.)"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.integration.test_cli_errors import kedro, message

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("tiny_run")]


def last_line(status: int, stdout: str, stderr: str) -> str:
    """The command's last line, after checking it failed in one line without a traceback."""
    output = stdout + stderr
    assert status == 1, output
    assert "Traceback" not in output, output
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), output
    return last


@pytest.fixture
def small_disk(tmp_path) -> Iterator[callable]:
    """Mount a tmpfs (size, read-only or not) at a folder; unmounted after the test."""
    mounted: list[Path] = []

    def mount(folder: Path, options: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
        )
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(folder)

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def test_a_checkpoint_folder_under_a_file_is_one_line_before_training(project):
    (project / "data/afile").write_text("x")
    (line,) = message(*kedro(project, "--params=checkpoint_dir=data/afile/checkpoints"))
    assert line == (
        "error: parameter `checkpoint_dir` is data/afile/checkpoints, but data/afile is a "
        "file, not a folder; move that file or set `checkpoint_dir` to a folder"
    )


@pytest.fixture
def trained(tiny_run, tmp_path) -> Path:
    """A copy of the finished tiny run, whose evaluation a test may re-run."""
    project = tmp_path / "project"
    shutil.copytree(tiny_run, project)
    return project


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_is_one_line(trained):
    line = last_line(*kedro(trained, "--pipelines=train", "--params=training.device=cuda"))
    assert "device 'cuda' is set (training.device or embed.device), but torch" in line, line


def test_a_full_checkpoint_disk_is_one_line(project, small_disk):
    small_disk(project / "data/checkpoints", "size=64k")
    line = last_line(*kedro(project, "--pipelines=ingest,pairs,tune,train"))
    assert "cannot write data/checkpoints/contrastive/seed0/checkpoint.pt: " in line, line
    assert "free space there, or write elsewhere" in line, line


def test_a_read_only_reporting_folder_is_one_line(trained, small_disk):
    small_disk(trained / "data/08_reporting", "ro,size=64k")
    line = last_line(*kedro(trained, "--pipelines=evaluate"))
    assert re.search(r"error: cannot write \S*data/08_reporting/", line), line
    assert "its file system is read-only; run from a writable copy of the project" in line, line


def test_a_truncated_results_file_is_one_line(trained):
    results = trained / "data/08_reporting/runs/ntxent/seed0/results.json"
    results.write_bytes(results.read_bytes()[:100])
    (line,) = message(*kedro(trained, "--pipelines=compare"))
    assert line.startswith(f"error: {results} is not JSON that can be read safely"), line
