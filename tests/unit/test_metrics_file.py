"""DVC's metrics files (each experiment's headline scores) and the folder dataset that saves
them whole."""

import json
import math
import os

import pytest
from kedro.io import DatasetError

from crl_pipelines import atomic_writes
from crl_pipelines.datasets import FolderDataset
from crl_pipelines.evaluation.metrics_file import HEADLINE, metrics_files
from crl_pipelines.evaluation.report import comparison_table


def test_metrics_files_hold_each_headline_score_with_its_interval():
    """One file per experiment and headline score: the value and, where it has one, its
    interval; no other score, no std, no count; a NaN score has no file, infinity is a string,
    and the bytes are strict JSON that depend on the numbers only."""
    table = comparison_table(
        {
            "a": {"probe_accuracy": 0.8, "knn_accuracy": 0.7, "silhouette": 0.2, "tsne_sample": 9},
            "b": {"probe_accuracy": 0.9, "knn_accuracy": math.nan, "map_at_r": math.inf},
        },
        {"a": "x", "b": "y"},
    )
    table["probe_accuracy_low"], table["probe_accuracy_high"] = [0.75, 0.85], [0.85, 0.95]
    files = metrics_files(table)
    assert sorted(files) == [
        "x/knn_accuracy.json", "x/probe_accuracy.json", "y/map_at_r.json", "y/probe_accuracy.json"
    ]  # fmt: skip
    loaded = {name: json.loads(content) for name, content in files.items()}
    assert loaded["x/probe_accuracy.json"] == {"value": 0.8, "low": 0.75, "high": 0.85}
    assert loaded["x/knn_accuracy.json"] == {"value": 0.7}
    assert loaded["y/map_at_r.json"] == {"value": "inf"}
    assert metrics_files(table) == files
    assert set(HEADLINE) >= {"probe_accuracy", "knn_accuracy", "map_at_r"}


def test_metrics_files_fit_dvc_metrics_show_in_160_columns():
    """dvc metrics show prints a row per file and a column per key: three keys, so the widest
    row is its path and three numbers, whatever the number of experiments."""
    rows = {f"r{i}": {score: 0.123456789 for score in HEADLINE} for i in range(6)}
    table = comparison_table(rows, {run: f"experiment_{run}_name" for run in rows})
    for score in HEADLINE:
        table[f"{score}_low"], table[f"{score}_high"] = 0.1, 0.2
    files = metrics_files(table)
    assert len(files) == 6 * len(HEADLINE)
    keys = {key for content in files.values() for key in json.loads(content)}
    assert keys == {"value", "low", "high"}
    widest = max(len(f"data/08_reporting/metrics/{name}") for name in files)
    assert widest + len(keys) * (2 + len("0.12346")) <= 160


def test_folder_dataset_saves_exactly_the_files_given(tmp_path):
    """Each file atomically; files of an earlier save that are not in this one are removed
    (their emptied folders too); loads back the same mapping; a path outside is refused."""
    dataset = FolderDataset(filepath=str(tmp_path / "metrics"))
    dataset.save({"a/x.json": b"1", "b/y.json": b"2"})
    dataset.save({"a/x.json": b"3", "a/z.json": b"4"})
    assert dataset.load() == {"a/x.json": b"3", "a/z.json": b"4"}
    assert sorted(os.listdir(tmp_path / "metrics")) == ["a"]
    assert json.loads(dataset.preview()) == {"a/x.json": "3", "a/z.json": "4"}
    with pytest.raises(DatasetError, match="is not a path inside it"):
        dataset.save({"../escape.json": b"5"})
    assert dataset.load() == {"a/x.json": b"3", "a/z.json": b"4"}


def test_folder_dataset_keeps_every_good_file_when_a_save_fails(tmp_path, monkeypatch):
    """A save that fails midway (here: the second file's write) leaves each file whole, old or
    new, removes nothing, and leaves no temporary file behind."""
    dataset = FolderDataset(filepath=str(tmp_path / "live"))
    dataset.save({"epoch/loss.tsv": b"old loss", "epoch/kept.tsv": b"old kept"})
    real = atomic_writes.write_atomically
    calls = []

    def failing(path, write):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, write)

    monkeypatch.setattr("crl_pipelines.datasets.folder_dataset.write_atomically", failing)
    with pytest.raises(DatasetError, match="No space left"):
        dataset.save({"epoch/loss.tsv": b"new loss", "epoch/kept.tsv": b"new kept"})
    assert dataset.load() == {"epoch/loss.tsv": b"new loss", "epoch/kept.tsv": b"old kept"}
    assert sorted(p.name for p in (tmp_path / "live/epoch").iterdir()) == ["kept.tsv", "loss.tsv"]
