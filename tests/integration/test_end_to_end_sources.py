"""Whole flows on other sources, by a parameters change only: a labelled PNG folder, MNIST IDX
files, and an unlabelled folder (self-supervised training, label scores skipped)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from crl_pipelines.parameters import ParameterError
from crl_pipelines.sources.digits import load_digits_dataset
from tests.unit.test_data import write_mnist

QUICK = {"epochs": 1, "pairs_per_class": 2, "batch_size": 16, "seed": 0}


def digit_images(per_class: int, classes: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Real digits (scikit-learn's), upscaled to size×size uint8, ``per_class`` of each class."""
    digits = load_digits_dataset()
    rows = np.concatenate([np.flatnonzero(digits.labels == k)[:per_class] for k in range(classes)])
    images = [np.asarray(Image.fromarray(digits.images[i, 0]).resize((size, size))) for i in rows]
    return np.stack(images), digits.labels[rows]


def run_flow(project: Path, parameters: dict) -> None:
    """Replace top-level keys of the tiny `test` environment's parameters, then run everything."""
    path = project / "conf" / "test" / "parameters.yml"
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), **parameters}))
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        session.run()


def unlabelled_folder(project: Path, per_class: int, size: int) -> dict:
    """Digit PNGs of 8 classes written flat into one folder; the `ingest` block that reads it."""
    images, _ = digit_images(per_class=per_class, classes=8, size=size)
    folder = project / "data" / "01_raw" / "unlabelled"
    folder.mkdir(parents=True)
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index}.png")
    return {"source": "unlabelled_folder", "unlabelled_folder": {"root": str(folder)},
            "test_fraction": 0.25, "seed": 0}  # fmt: skip


def comparison(project: Path) -> pd.DataFrame:
    return pd.read_csv(project / "data" / "08_reporting" / "comparison.csv").set_index("experiment")


@pytest.mark.slow
def test_labelled_png_folder_end_to_end(project):
    images, labels = digit_images(per_class=12, classes=4, size=16)
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = project / "data" / "01_raw" / "digits_png" / f"digit_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index}.png")
    run_flow(project, {
        "ingest": {"source": "image_folder", "image_folder": {"root": "data/01_raw/digits_png"},
                   "test_fraction": 0.25, "seed": 0},
        "pairs": QUICK,
        "experiments": {"contrastive": {"loss": "contrastive"}},
    })  # fmt: skip
    table = comparison(project)
    assert list(table.index) == ["contrastive", "random_init"]
    assert table["probe_accuracy"].notna().all()
    summary = json.loads((project / "data" / "03_primary" / "summary.json").read_text())
    assert summary["class_names"] == ["digit_0", "digit_1", "digit_2", "digit_3"]
    assert summary["image_shape"] == [1, 16, 16]


@pytest.mark.slow
def test_mnist_idx_files_end_to_end(project):
    images, labels = digit_images(per_class=8, classes=10, size=28)
    write_mnist(project / "data" / "01_raw", "train", images, labels.astype(np.uint8))
    run_flow(project, {
        "ingest": {"source": "mnist", "mnist": {"root": "data/01_raw"}, "test_fraction": 0.25,
                   "seed": 0},
        "pairs": QUICK,
        "experiments": {"ntxent": {"loss": "ntxent"}},
    })  # fmt: skip
    table = comparison(project)
    assert list(table.index) == ["ntxent", "random_init"]
    assert table["knn_accuracy"].notna().all()


@pytest.mark.slow
def test_unlabelled_folder_trains_self_supervised_and_skips_label_scores(project):
    run_flow(project, {
        "ingest": unlabelled_folder(project, per_class=6, size=16),
        "pairs": QUICK,
        "experiments": {"ntxent_views": {"loss": "ntxent", "sampling": "augmented_views"}},
    })  # fmt: skip
    table = comparison(project)
    assert "probe_accuracy" not in table and "knn_accuracy" not in table  # all empty: dropped
    assert table["uniformity"].notna().all() and table["effective_rank"].notna().all()
    scores = json.loads(
        (project / "data/08_reporting/runs/ntxent_views/seed0/scores.json").read_text()
    )
    assert scores["skipped"]["probe_accuracy"] == "no class labels"
    assert "(no class labels)" in (project / "data" / "08_reporting" / "report.md").read_text()


@pytest.mark.slow
def test_label_loss_on_unlabelled_data_stops_before_training(project):
    """Refused when the pipelines are registered: the source is known to have no labels."""
    with pytest.raises(ParameterError, match=r"experiments\.triplet\.loss`: the triplet loss"):
        run_flow(project, {
            "ingest": unlabelled_folder(project, per_class=4, size=8),
            "pairs": QUICK,
            "experiments": {"triplet": {"loss": "triplet"}},
        })  # fmt: skip
    assert not any((project / "data" / "06_models").iterdir())
