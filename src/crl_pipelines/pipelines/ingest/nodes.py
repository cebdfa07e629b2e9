"""Ingest: read the configured source into the canonical form, then split it train/test."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines.data import ImageDataset, split_train_test
from crl_pipelines.sources import IngestSettings, build_dataset

log = logging.getLogger(__name__)


def load_source(settings: IngestSettings) -> dict[str, np.ndarray]:
    """The images named by ``ingest.source``, resized / converted as the parameters say,
    deduplicated, optionally subsampled, with any RandBits channels appended."""
    dataset = build_dataset(settings)
    log.info(
        "ingested %d images of %s, %s, from %s",
        len(dataset.labels),
        f"{dataset.num_classes} classes" if dataset.labelled else "no classes (unlabelled)",
        dataset.images.shape[1:],
        dataset.provenance.get("source", settings.source),
    )
    return dataset.to_arrays()


def split_dataset(
    dataset: dict[str, np.ndarray], settings: IngestSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """A seeded train/test split (stratified by class; random for unlabelled data) whose halves
    share no image, and a summary of it."""
    whole = ImageDataset.from_arrays(dataset)
    train, test = split_train_test(whole, settings.test_fraction, settings.seed)
    log.info("split into %d train and %d test images", len(train.labels), len(test.labels))
    summary = {
        "provenance": whole.provenance,
        "image_shape": list(whole.images.shape[1:]),
        "class_names": list(whole.class_names),
        "labelled": whole.labelled,
        "train_images": len(train.labels),
        "test_images": len(test.labels),
        "train_per_class": np.bincount(train.labels, minlength=whole.num_classes).tolist()
        if whole.labelled
        else [],
        "test_per_class": np.bincount(test.labels, minlength=whole.num_classes).tolist()
        if whole.labelled
        else [],
        "test_fraction": settings.test_fraction,
        "split_seed": settings.seed,
    }
    return train.to_arrays(), test.to_arrays(), summary
