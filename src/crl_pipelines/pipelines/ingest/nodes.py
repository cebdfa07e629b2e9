"""Ingest: read the configured source into the canonical form, then split it train/test (the
project's own seeded split, or the source's official one: ``ingest.test_split``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines import lineage
from crl_pipelines.data import ImageDataset, official_split, split_train_test
from crl_pipelines.sources import IngestSettings, build_dataset

log = logging.getLogger(__name__)


def load_source(settings: IngestSettings) -> dict[str, np.ndarray]:
    """The images named by ``ingest.source``, resized / converted as the parameters say,
    deduplicated, optionally subsampled, with any RandBits channels appended. The split is tried
    here too, so data that cannot be split stops before ``dataset.npz`` is replaced."""
    dataset = build_dataset(settings)
    _split(dataset, settings)
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
    """A train/test split whose halves share no image, and a summary of it: seeded (stratified
    by class; random for unlabelled data) with ``test_split: random``, the source's own with
    ``official``. Both halves and the summary record the split's fingerprint, which every later
    artifact carries."""
    whole = ImageDataset.from_arrays(dataset)
    train, test = _split(whole, settings)
    log.info(
        "split into %d train and %d test images (%s)",
        len(train.labels),
        len(test.labels),
        train.provenance["split_kind"],
    )
    official = settings.test_split == "official"
    record = {"split": lineage.fingerprint(train.images, train.labels, test.images, test.labels)}
    summary = {
        "provenance": whole.provenance,
        "image_shape": list(whole.images.shape[1:]),
        "class_names": list(whole.class_names),
        "labelled": whole.labelled,
        "train_images": len(train.labels),
        "test_images": len(test.labels),
        "train_per_class": _per_class(train, whole.num_classes),
        "test_per_class": _per_class(test, whole.num_classes),
        "split_kind": train.provenance["split_kind"],  # stratified, random or official
        "test_fraction": None if official else settings.test_fraction,
        "split_seed": None if official else settings.seed,
        lineage.KEY: record,
    }
    stamp = {lineage.KEY: lineage.as_array(record)}
    return {**train.to_arrays(), **stamp}, {**test.to_arrays(), **stamp}, summary


def _split(dataset: ImageDataset, settings: IngestSettings) -> tuple[ImageDataset, ImageDataset]:
    """The halves ``ingest.test_split`` asks for (``test_fraction`` is unused by ``official``)."""
    if settings.test_split == "official":
        return official_split(dataset)
    return split_train_test(dataset, settings.test_fraction, settings.seed)


def _per_class(split: ImageDataset, num_classes: int) -> list[int]:
    return np.bincount(split.labels, minlength=num_classes).tolist() if split.labelled else []
