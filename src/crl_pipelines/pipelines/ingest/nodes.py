"""Ingest: read the configured source into the canonical form, then split it train/test."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from crl_pipelines.data import (
    DataError,
    ImageDataset,
    drop_duplicate_images,
    load_digits_dataset,
    load_mnist_dataset,
    stratified_split,
    stratified_subsample,
)

log = logging.getLogger(__name__)
SOURCES = ("digits", "mnist")


def load_source(params: dict[str, Any]) -> dict[str, np.ndarray]:
    """The images named by ``ingest.source``, deduplicated and optionally subsampled."""
    source = params["source"]
    if source == "digits":
        dataset = load_digits_dataset()
    elif source == "mnist":
        mnist = params.get("mnist", {})
        dataset = load_mnist_dataset(
            mnist.get("root", "data/01_raw"),
            splits=tuple(mnist.get("splits", ["train"])),
            download=bool(mnist.get("download", False)),
        )
    else:
        raise DataError(f"unknown ingest.source {source!r}; known sources: {list(SOURCES)}")
    if params.get("drop_duplicates", True):
        dataset, dropped = drop_duplicate_images(dataset)
        if dropped:
            log.info("dropped %d pixel-identical duplicate images", dropped)
    if params.get("subset_size"):
        dataset = stratified_subsample(dataset, int(params["subset_size"]), int(params["seed"]))
    log.info(
        "ingested %d images of %d classes, %s, from %s",
        len(dataset.labels),
        dataset.num_classes,
        dataset.images.shape[1:],
        source,
    )
    return dataset.to_arrays()


def split_dataset(
    dataset: dict[str, np.ndarray], params: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, Any]]:
    """A stratified, seeded train/test split (the halves share no image), and a summary of it."""
    whole = ImageDataset.from_arrays(dataset)
    train, test = stratified_split(whole, float(params["test_fraction"]), int(params["seed"]))
    log.info("split into %d train and %d test images", len(train.labels), len(test.labels))
    summary = {
        "provenance": whole.provenance,
        "image_shape": list(whole.images.shape[1:]),
        "class_names": list(whole.class_names),
        "train_images": len(train.labels),
        "test_images": len(test.labels),
        "train_per_class": np.bincount(train.labels, minlength=whole.num_classes).tolist(),
        "test_per_class": np.bincount(test.labels, minlength=whole.num_classes).tolist(),
        "test_fraction": float(params["test_fraction"]),
        "split_seed": int(params["seed"]),
    }
    return train.to_arrays(), test.to_arrays(), summary
