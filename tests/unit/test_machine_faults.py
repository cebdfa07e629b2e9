"""Faults of the machine or the filesystem end in one line naming the path or setting, the
cause and the fix: no space, read-only, a file where a folder should be, a missing device; and a
diverging loss names the setting that is extreme."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import torch

from crl_pipelines.atomic_writes import StorageError, check_writable_folder, write_atomically
from crl_pipelines.devices import DeviceError, resolve_device
from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.experiments import (
    Experiment,
    ExperimentSettings,
    divergence_hint,
    resolve_experiment,
)
from crl_pipelines.parameters import ParameterError
from crl_pipelines.training_settings import TrainingSettings
from tests.unit.test_train import MODEL


def fill_dev_full(temporary: Path) -> None:
    """Write as a full disk answers: /dev/full refuses every byte with ENOSPC."""
    with open("/dev/full", "wb") as full:
        full.write(b"x" * 65536)
    temporary.write_bytes(b"never reached")


def fail_with(error: BaseException):
    def write(temporary: Path) -> None:
        raise error

    return write


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_full_disk_is_named_and_nothing_is_left(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"good")
    with pytest.raises(StorageError, match=rf"cannot write {target}: no space is left"):
        write_atomically(target, fill_dev_full)
    assert target.read_bytes() == b"good" and sorted(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (OSError(errno.EROFS, "Read-only file system"), "its file system is read-only"),
        (OSError(errno.EACCES, "Permission denied"), "permission is denied"),
        (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64"), "MiB free"),
    ],
    ids=["read-only", "permission", "torch zip writer on a full disk"],
)
def test_what_the_os_says_becomes_one_line(tmp_path, error, cause):
    with pytest.raises(StorageError, match=cause) as raised:
        write_atomically(tmp_path / "a" / "b.json", fail_with(error))
    assert str(tmp_path / "a" / "b.json") in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_bug_is_not_called_a_storage_fault(tmp_path):
    with pytest.raises(RuntimeError, match="a bug") as raised:
        write_atomically(tmp_path / "b.json", fail_with(RuntimeError("a bug")))
    assert not isinstance(raised.value, StorageError)


def test_a_file_where_a_folder_should_be(tmp_path):
    (tmp_path / "checkpoints").write_text("not a folder")
    with pytest.raises(StorageError, match="a file stands where a folder"):
        write_atomically(tmp_path / "checkpoints/run/checkpoint.pt", fail_with(AssertionError()))
    with pytest.raises(StorageError, match=r"parameter `checkpoint_dir` is .*is a file"):
        check_writable_folder(tmp_path / "checkpoints" / "deeper", "checkpoint_dir")
    check_writable_folder(tmp_path / "new" / "folder", "checkpoint_dir")  # made when needed


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_missing_device_is_named():
    with pytest.raises(DeviceError, match=r"'cuda' is set .* sees no CUDA device.*'auto'"):
        resolve_device("cuda")


def resolved(loss: str, loss_params: dict, **training) -> Experiment:
    entry = ExperimentSettings(loss=loss, loss_params=loss_params, training=training or None)
    return resolve_experiment("run", entry, MODEL, TrainingSettings())


def test_the_divergence_hint_names_what_is_extreme():
    hint = divergence_hint(resolved("ntxent", {"temperature": 1e-40}))
    assert "`experiments.run.loss_params.temperature` is 1e-40 (default 0.5)" in hint
    hint = divergence_hint(resolved("ntxent", {"temperature": 0.5}, learning_rate=5.0))
    assert "`training.learning_rate` is 5 (default 0.001)" in hint
    assert "check the data" in divergence_hint(resolved("contrastive", {"margin": 2.0}))


def test_knn_k_at_or_above_the_train_split_is_refused():
    rng = np.random.default_rng(0)
    embeddings = {
        "train_embedding": rng.normal(size=(30, 4)),
        "test_embedding": rng.normal(size=(10, 4)),
        "train_labels": np.arange(30) % 3,
        "test_labels": np.arange(10) % 3,
    }
    with pytest.raises(ParameterError, match=r"`evaluate.knn_k` is 30, but the train split has 30"):
        score_embeddings(embeddings, ScoringSettings(knn_k=30, bootstrap_resamples=0))
    ScoringSettings(knn_k=29).check_train_size(30)
