"""A run's training traces as DVCLive's files."""

import math
import os

import dvclive.live
import pandas as pd

from crl_pipelines.tracking import trace_files

HISTORY = pd.DataFrame(
    {
        "epoch": [1, 2, 3],
        "loss": [0.5, 0.25, 0.125],
        "spikes": [0, 2, 0],
        "spike_step": [math.nan, 7.0, math.nan],  # where an epoch's first spike was
        "val_knn_accuracy": [0.5, 0.75, 0.625],
        "degraded": [0, 0, 1],
        "kept": [0, 1, 0],
    }
)
STEPS = pd.DataFrame(
    {
        "epoch": [1, 1, 2, 2],
        "step": [1, 2, 1, 2],
        "loss": [0.5, 0.5, 4.0, 0.25],
        "grad_norm": [1.0, 1.0, 9.0, 1.0],
        "spike": [False, False, True, False],
    }
)


def test_trace_files_are_dvclive_tables_of_each_epoch_and_step():
    """Per epoch (step = the epoch) every history column, the spike count, the validation fall
    and the kept epoch among them, a missing value left out; per step (step = the count since
    training began) every trace column, the spike flag as 0/1. Same history, same bytes."""
    files = trace_files(HISTORY, STEPS)
    assert sorted(files) == [
        "epoch/degraded.tsv", "epoch/kept.tsv", "epoch/loss.tsv", "epoch/spike_step.tsv",
        "epoch/spikes.tsv", "epoch/val_knn_accuracy.tsv",
        "step/grad_norm.tsv", "step/loss.tsv", "step/spike.tsv",
    ]  # fmt: skip
    assert files["epoch/kept.tsv"] == b"step\tkept\n1\t0\n2\t1\n3\t0\n"
    assert files["epoch/degraded.tsv"] == b"step\tdegraded\n1\t0\n2\t0\n3\t1\n"
    assert files["epoch/spike_step.tsv"] == b"step\tspike_step\n2\t7.0\n"
    assert files["step/spike.tsv"] == b"step\tspike\n1\t0\n2\t0\n3\t1\n4\t0\n"
    assert files["step/loss.tsv"].splitlines()[3] == b"3\t4.0"
    assert trace_files(HISTORY, STEPS) == files


def test_trace_files_touch_neither_the_repository_nor_the_network(tmp_path, monkeypatch):
    """DVCLive opens no DVC or git repository (plain Live() does, and runs `dvc init` in a git
    repository without DVC), posts nothing to DVC Studio and writes nothing where it runs: no
    dvc.yaml, no .dvc, no signal files."""

    def refused(*args, **kwargs):
        raise AssertionError("DVCLive opened the repository or posted to Studio")

    monkeypatch.setattr(dvclive.live, "get_dvc_repo", refused)  # DVC and git
    monkeypatch.setattr(dvclive.live, "post_to_studio", refused)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DVC_STUDIO_TOKEN", "not-a-token")  # would make plain Live() post
    assert trace_files(HISTORY, STEPS)
    assert os.listdir(tmp_path) == []
