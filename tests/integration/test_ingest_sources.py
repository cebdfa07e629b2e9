"""The ingest pipeline reads a labelled PNG folder, or MNIST IDX files, by a parameters change only;
a failed ingest (bad data or a bad parameter) leaves the previous artifacts as they were; with
`on_bad_file: skip` bad files (a truncated image, a named pipe) are skipped and named."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from PIL import Image

from crl_pipelines.images import DataError
from crl_pipelines.parameters import ParameterError
from tests.unit.test_data import fake_mnist, write_mnist


def run_ingest(project: Path, ingest: dict) -> None:
    """Replace conf/test's `ingest` block with ``ingest`` and run `--pipelines=ingest`."""
    parameters = project / "conf" / "test" / "parameters.yml"
    settings = yaml.safe_load(parameters.read_text())
    settings["ingest"] = ingest
    parameters.write_text(yaml.safe_dump(settings, sort_keys=False))
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        session.run(pipeline_names=["ingest"])


def load(project: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(project / "data" / name, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.mark.slow
def test_png_folder_then_mnist_by_parameters_only(project):
    rng = np.random.default_rng(0)
    for name in ("circle", "square", "star"):
        for i in range(6):
            pixels = rng.integers(0, 256, size=(10, 10, 3), dtype=np.uint8)
            (project / "data/01_raw/shapes" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(project / "data/01_raw/shapes" / name / f"{i}.png")
    split = {"test_fraction": 0.5, "seed": 0}
    run_ingest(
        project,
        {
            "source": "image_folder",
            "image_folder": {"root": "data/01_raw/shapes"},
            "image_size": 8,
            "channels": 1,
            **split,
        },
    )
    dataset = load(project, "02_intermediate/dataset.npz")
    assert dataset["images"].shape == (18, 1, 8, 8)
    assert list(dataset["class_names"]) == ["circle", "square", "star"]
    summary = json.loads((project / "data/03_primary/summary.json").read_text())
    assert summary["test_per_class"] == [3, 3, 3]
    # validation_fraction 0.1 of 9 train images: one per class at least
    assert summary["train_per_class"] == [2, 2, 2] and summary["validation_per_class"] == [1, 1, 1]

    images, labels = fake_mnist(40, 0)
    write_mnist(project / "data/01_raw", "train", images, labels)
    run_ingest(project, {"source": "mnist", "mnist": {"root": "data/01_raw"}, **split})
    dataset = load(project, "02_intermediate/dataset.npz")
    np.testing.assert_array_equal(dataset["images"][:, 0], images)
    assert json.loads(str(dataset["provenance"]))["source"] == "mnist"

    before = {
        name: (project / "data" / name).read_bytes()
        for name in ("02_intermediate/dataset.npz", "03_primary/train.npz")
    }
    broken = project / "data/01_raw/shapes/star/2.png"
    broken.write_bytes(broken.read_bytes()[:50])
    with pytest.raises(DataError, match=r"star/2\.png is an unreadable or truncated image"):
        run_ingest(
            project,
            {"source": "image_folder", "image_folder": {"root": "data/01_raw/shapes"}, **split},
        )
    misspelled = {"source": "image_folder", "image_folder": {"rooot": "data/01_raw/shapes"}}
    with pytest.raises(ParameterError, match=r"`ingest\.image_folder\.rooot` is unknown; did you"):
        run_ingest(project, {**misspelled, **split})
    for name, content in before.items():
        assert (project / "data" / name).read_bytes() == content, name

    os.mkfifo(project / "data/01_raw/shapes/circle/pipe.png")  # opening it would block
    shapes = {"source": "image_folder", "image_folder": {"root": "data/01_raw/shapes"}}
    run_ingest(project, {**shapes, "on_bad_file": "skip", **split})
    provenance = json.loads(str(load(project, "02_intermediate/dataset.npz")["provenance"]))
    assert provenance["skipped_files"] == 2
    assert [Path(name).name for name in provenance["skipped"]] == ["pipe.png", "2.png"]


@pytest.mark.slow
def test_official_mnist_test_split_through_kedro(project):
    """`ingest.test_split: official` on MNIST-layout files: the whole t10k file is the test set,
    the train file (less its copy of a test image) is subsampled, and the summary says so."""
    train_images, train_labels = fake_mnist(50, 0)
    test_images, test_labels = fake_mnist(20, 1)
    test_images[3] = train_images[8]  # one image in both files: it leaves the train split
    write_mnist(project / "data/01_raw", "train", train_images, train_labels)
    write_mnist(project / "data/01_raw", "test", test_images, test_labels, compress=True)
    run_ingest(
        project,
        {
            "source": "mnist",
            "mnist": {"root": "data/01_raw"},
            "test_split": "official",
            "subset_size": 30,
            "seed": 1,
        },
    )
    train, test = load(project, "03_primary/train.npz"), load(project, "03_primary/test.npz")
    np.testing.assert_array_equal(test["images"][:, 0], test_images)
    np.testing.assert_array_equal(test["labels"], test_labels)
    validation = load(project, "03_primary/validation.npz")
    assert np.bincount(train["labels"]).tolist() == [2] * 10  # the subset of 30, less one per
    assert np.bincount(validation["labels"]).tolist() == [1] * 10  # class held out (0.1 × 30 < 10)
    copied = train_images[8].tobytes()
    assert all(image.tobytes() != copied for image in train["images"][:, 0])
    summary = json.loads((project / "data/03_primary/summary.json").read_text())
    assert summary["split_kind"] == "official" and summary["test_fraction"] is None
    assert summary["provenance"]["train_copies_of_test_dropped"] == 1
    assert (summary["train_images"], summary["test_images"]) == (20, 20)
    assert json.loads(str(train["lineage"])) == summary["lineage"]
    assert json.loads(str(test["lineage"])) == summary["lineage"]
