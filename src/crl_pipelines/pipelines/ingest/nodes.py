"""Ingest: read the configured source into the canonical form, then split it train/test (the
project's own seeded split, or the source's official one: ``ingest.test_split``)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines import lineage
from crl_pipelines.images import ImageDataset, hold_out_validation, official_split, split_train_test
from crl_pipelines.sources import IngestSettings, build_dataset

log = logging.getLogger(__name__)


def load_source(*, settings: IngestSettings) -> dict[str, np.ndarray]:
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
    dataset: dict[str, np.ndarray], *, settings: IngestSettings
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """Train, validation and test parts that share no image, and a summary of them. The test
    part is seeded (stratified by class; random for unlabelled data) with ``test_split: random``,
    the source's own with ``official``; the validation part (``validation_fraction`` of the rest,
    seeded, stratified) is what training watches and chooses by. Every part and the summary
    record the split's fingerprint, which every later artifact carries."""
    whole = ImageDataset.from_arrays(dataset)
    train, validation, test = _split(whole, settings)
    log.info(
        "split into %d train, %d validation and %d test images (%s)",
        len(train.labels),
        len(validation.labels) if validation else 0,
        len(test.labels),
        train.provenance["split_kind"],
    )
    official = settings.test_split == "official"
    parts = (train, validation, test)
    arrays = [part.to_arrays() if part else train.empty_arrays() for part in parts]
    record = {"split": lineage.fingerprint(*(a[k] for a in arrays for k in ("images", "labels")))}
    summary = {
        "provenance": whole.provenance,
        "image_shape": list(whole.images.shape[1:]),
        "class_names": list(whole.class_names),
        "labelled": whole.labelled,
        "train_images": len(train.labels),
        "validation_images": len(arrays[1]["labels"]),
        "test_images": len(test.labels),
        "train_per_class": _per_class(train, whole.num_classes),
        "validation_per_class": _per_class(validation, whole.num_classes) if validation else [],
        "test_per_class": _per_class(test, whole.num_classes),
        "split_kind": train.provenance["split_kind"],  # stratified, random or official
        "test_fraction": None if official else settings.test_fraction,
        "validation_fraction": settings.validation_fraction,
        "split_seed": None if official else settings.seed,
        lineage.KEY: record,
    }
    stamp = {lineage.KEY: lineage.as_array(record)}
    return (*({**part, **stamp} for part in arrays), summary)


def _split(
    dataset: ImageDataset, settings: IngestSettings
) -> tuple[ImageDataset, ImageDataset | None, ImageDataset]:
    """The train, validation and test parts the settings ask for (``test_fraction`` is unused
    by ``test_split: official``)."""
    if settings.test_split == "official":
        train, test = official_split(dataset)
    else:
        train, test = split_train_test(dataset, settings.test_fraction, settings.seed)
    train, validation = hold_out_validation(train, settings.validation_fraction, settings.seed)
    return train, validation, test


def _per_class(split: ImageDataset, num_classes: int) -> list[int]:
    return np.bincount(split.labels, minlength=num_classes).tolist() if split.labelled else []
