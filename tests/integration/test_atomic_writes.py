"""Every artifact write is atomic, shown with real processes and real file systems: a `kedro run`
SIGKILLed between an artifact's finished temporary file and its rename, and saves onto a full
file system. No mocks: the kill is a real SIGKILL, the full disk a real tmpfs (or /dev/full)."""

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import AbstractDataset, DatasetError
from matplotlib.figure import Figure

from crl_pipelines.atomic_writes import PAUSE_BEFORE_RENAME, write_atomically
from crl_pipelines.datasets import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicTextDataset,
    FigureDataset,
    NpzDataset,
    TorchModelDataset,
)
from crl_pipelines.models import build_encoder
from tests.integration.conftest import tool_env

KEDRO = Path(sys.executable).parent / "kedro"

# Per kind of artifact: the first one of its kind a short `kedro run` (one node, over the data of
# a complete run) saves, and that run, with a parameter that changes the artifact's bytes.
KILLS = {
    "npz": ("data/03_primary/train.npz", ["--nodes=split_dataset"], "ingest.test_fraction=0.4"),
    "json": ("data/03_primary/summary.json", ["--nodes=split_dataset"], "ingest.test_fraction=0.4"),
    "model": (
        "data/06_models/random_init/seed0/model.pt",
        ["--nodes=random_init.seed0.init_encoder"],
        "model.embedding_dim=4",
    ),
    "csv": (
        "data/06_models/ntxent/seed0/history.csv",
        ["--nodes=ntxent.seed0.train_encoder"],
        "training.learning_rate=0.01",
    ),
    "figure": (
        "data/08_reporting/runs/random_init/seed0/tsne.png",
        ["--nodes=random_init.seed0.score_run"],
        "evaluate.tsne_sample=40",
    ),
    "text": ("data/08_reporting/report.html", ["--nodes=write_report"], "evaluate.knn_k=3"),
}

# the tests that share the session's tiny_run fixture run on one worker (pytest-xdist)
pytestmark = pytest.mark.xdist_group("tiny_run")


def kedro_environment(**extra: str) -> dict[str, str]:
    return {**tool_env(), "KEDRO_ENV": "test", **extra}


@pytest.fixture
def completed(tiny_run) -> Path:
    """The project after one complete tiny run (copy it, don't change it)."""
    return tiny_run


def kill_before_rename(project: Path, target: Path, arguments: list[str], log: Path) -> int:
    """Run `kedro run <arguments>` in ``project`` paused before ``target``'s rename (the test
    hook), SIGKILL its process group there, and return the killed process's id."""
    marker = target.with_name(f"{target.name}.paused")
    with open(log, "w") as output:
        process = subprocess.Popen(
            [str(KEDRO), "run", *arguments],
            cwd=project,
            env=kedro_environment(**{PAUSE_BEFORE_RENAME: target.name}),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the kill reaches every child
        )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, f"`kedro run` ended unpaused:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no pause in 120 s:\n{log.read_text()}"
            time.sleep(0.05)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    marker.unlink()  # the hook's marker: made only under the test variable
    return process.pid


def hidden(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KILLS))
def test_killed_save_keeps_the_previous_artifact(completed, tmp_path, kind):
    """SIGKILL after the new temporary file is written and synced, before the rename: the
    previous artifact is byte-identical, the one file beside it is the killed writer's
    temporary file (holding the new bytes), and the next save of the target removes it."""
    target, arguments, parameter = KILLS[kind]
    project = shutil.copytree(completed, tmp_path / "project")
    path = project / target
    before = path.read_bytes()

    pid = kill_before_rename(project, path, [*arguments, f"--params={parameter}"], tmp_path / "log")

    assert path.read_bytes() == before
    (orphan,) = path.parent.glob(f".{path.name}.{pid}.*.tmp")
    assert hidden(path.parent) == [orphan.name]
    assert orphan.read_bytes() != before  # the killed run was replacing it with other bytes
    write_atomically(path, lambda temporary: temporary.write_bytes(before))
    assert hidden(path.parent) == []
    assert path.read_bytes() == before


# --- A full file system ----------------------------------------------------------------------


def encoder(seed: int) -> Any:
    return build_encoder({"arch": "small_cnn", "embedding_dim": 4}, seed=seed)


def figure(values: list[int]) -> Figure:
    drawn = Figure(figsize=(2, 2))
    drawn.add_subplot().plot(values)
    return drawn


# Per kind: the dataset, the data first saved, and the data whose save meets the full disk.
SAVES: dict[str, tuple[type[AbstractDataset], Callable[[], Any], Callable[[], Any]]] = {
    "npz": (NpzDataset, lambda: {"x": np.arange(10)}, lambda: {"x": np.arange(20)}),
    "model": (TorchModelDataset, lambda: encoder(0), lambda: encoder(1)),
    "figure": (FigureDataset, lambda: figure([1, 2]), lambda: figure([2, 1])),
    "json": (AtomicJSONDataset, lambda: {"probe": 0.9}, lambda: {"probe": 0.8}),
    "csv": (
        AtomicCSVDataset,
        lambda: pd.DataFrame({"probe": [0.9]}),
        lambda: pd.DataFrame({"probe": [0.8]}),
    ),
    "text": (AtomicTextDataset, lambda: "<p>old</p>", lambda: "<p>new</p>"),
}


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 1 MiB tmpfs of its own (mounting needs root; skipped where it is not permitted)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def fill(disk: Path) -> None:
    """Take the rest of ``disk`` with one file, so that the next write fails with ENOSPC."""
    with open(disk / "filler", "wb", buffering=0) as filler, pytest.raises(OSError) as full:
        while True:
            filler.write(bytes(4096))
    assert full.value.errno == errno.ENOSPC


@pytest.mark.parametrize("kind", list(SAVES))
def test_save_onto_a_full_disk_keeps_the_previous_artifact(small_disk, kind):
    """The file system fills up between two saves: the second fails with ENOSPC, and leaves the
    first save's bytes and no temporary file."""
    dataset, old, new = SAVES[kind]
    path = small_disk / "reports" / f"artifact.{kind}"
    dataset(filepath=str(path)).save(old())
    before = path.read_bytes()
    fill(small_disk)

    with pytest.raises(DatasetError) as failed:
        dataset(filepath=str(path)).save(new())

    assert isinstance(failed.value.__cause__, OSError)
    assert failed.value.__cause__.errno == errno.ENOSPC
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_enospc_mid_write_keeps_the_previous_artifact(tmp_path):
    """Where no tmpfs can be mounted: the kernel's ENOSPC (every write to /dev/full fails with
    it) halfway through a save, as the payload is copied through /dev/full."""
    path = tmp_path / "metrics.json"
    path.write_bytes(b'{"probe": 0.9}')

    def write(temporary: Path) -> None:
        with open(temporary, "wb") as file, open("/dev/full", "wb", buffering=0) as full:
            file.write(b'{"probe": ')
            full.write(b"0.8}")

    with pytest.raises(OSError) as failed:
        write_atomically(path, write)
    assert failed.value.errno == errno.ENOSPC
    assert path.read_bytes() == b'{"probe": 0.9}'
    assert os.listdir(tmp_path) == ["metrics.json"]
