"""Sampling plans: the exact pairs of every batch of every epoch, fixed before any training.

A plan is saved as an artifact so that every experiment trains on the same pairs and anyone can
inspect what the encoders saw. Indices refer to rows of the train split.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from crl_pipelines.data import DataError


def labels_fingerprint(labels: np.ndarray) -> str:
    """A short digest of the train labels, stored in a plan to catch a plan/split mismatch."""
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]


def class_pair_plan(
    labels: np.ndarray,
    class_names: tuple[str, ...],
    epochs: int,
    pairs_per_class: int = 1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The guide's class-pair plan: every batch holds ``pairs_per_class`` (anchor, positive) pairs
    of every class, so each row's other-class rows are its negatives.

    In each epoch every class's images are visited as anchors in a fresh random order (cycling when
    a class has fewer images than the epoch needs); each anchor's positive is another image of
    the same class, drawn at random. An epoch has ``len(labels) // (num_classes * pairs_per_class)``
    steps, so each image is an anchor about once per epoch.

    Returns:
        ``anchors``, ``positives`` and ``labels``, int64 arrays of shape
        (epochs, steps, num_classes * pairs_per_class), plus the settings that made them.
    """
    labels = np.asarray(labels, dtype=np.int64)
    num_classes = len(class_names)
    if num_classes == 0:
        raise DataError(
            "class-pair sampling needs class labels, and this dataset has none: give such "
            "experiments `sampling: augmented_views` (or looc_views)"
        )
    if epochs < 1:
        raise DataError(f"pairs.epochs must be at least 1, got {epochs}")
    if pairs_per_class < 1:
        raise DataError(f"pairs.pairs_per_class must be at least 1, got {pairs_per_class}")
    counts = np.bincount(labels, minlength=num_classes)
    too_small = [f"'{class_names[k]}' ({counts[k]})" for k in np.flatnonzero(counts < 2)]
    if too_small:
        raise DataError(
            "class-pair sampling needs at least 2 train images per class; "
            f"too few in: {', '.join(too_small)}"
        )
    batch = num_classes * pairs_per_class
    steps = len(labels) // batch
    if steps < 1:
        raise DataError(
            f"{len(labels)} train images cannot fill one batch of {num_classes} classes × "
            f"{pairs_per_class} pairs; lower pairs.pairs_per_class"
        )
    rng = np.random.default_rng(seed)
    per_class = steps * pairs_per_class  # anchors each class contributes per epoch
    anchors = np.empty((epochs, num_classes, per_class), dtype=np.int64)
    positives = np.empty_like(anchors)
    for k in range(num_classes):  # a loop over classes, not samples
        members = np.flatnonzero(labels == k)
        n = len(members)
        order = rng.permuted(np.tile(np.arange(n), (epochs, 1)), axis=1)  # (epochs, n)
        slot = np.arange(per_class) % n  # cycle through the permutation
        anchor_pos = order[:, slot]
        # A positive sits 1..n-1 places further along the same permutation: never the anchor.
        offset = rng.integers(1, n, size=(epochs, per_class))
        positive_pos = np.take_along_axis(order, (slot + offset) % n, axis=1)
        anchors[:, k] = members[anchor_pos]
        positives[:, k] = members[positive_pos]

    def to_batches(per_class_array: np.ndarray) -> np.ndarray:
        # (epochs, classes, steps*ppc) -> (epochs, steps, classes*ppc), class-major within a batch
        shaped = per_class_array.reshape(epochs, num_classes, steps, pairs_per_class)
        return shaped.transpose(0, 2, 1, 3).reshape(epochs, steps, batch)

    batch_labels = np.repeat(np.arange(num_classes), pairs_per_class)
    return {
        "anchors": to_batches(anchors),
        "positives": to_batches(positives),
        "labels": np.broadcast_to(batch_labels, (epochs, steps, batch)).copy(),
        "pairs_per_class": np.asarray(pairs_per_class),
        "seed": np.asarray(seed),
        "train_labels_fingerprint": np.asarray(labels_fingerprint(labels)),
    }


def check_plan_matches(plan: dict[str, np.ndarray], train_labels: np.ndarray) -> None:
    """Stop when a plan was made for another train split (the pairs would be wrong)."""
    if plan_kind(plan) != "class_pairs":
        if int(plan["anchors"].max()) >= len(train_labels):
            raise DataError(
                "the sampling plan in data/04_feature indexes more images than the train split "
                "holds; re-run `kedro run --pipelines=pairs` after ingest"
            )
        return
    expected = str(plan["train_labels_fingerprint"])
    if expected != labels_fingerprint(train_labels):
        raise DataError(
            "the sampling plan in data/04_feature was made for a different train split; "
            "re-run `kedro run --pipelines=pairs` after ingest"
        )
    plan_labels = plan["labels"]
    if not np.array_equal(train_labels[plan["anchors"]], plan_labels) or not np.array_equal(
        train_labels[plan["positives"]], plan_labels
    ):
        raise DataError("the sampling plan's pairs do not match their recorded labels")


VIEW_SAMPLINGS = ("augmented_views", "looc_views")
SAMPLINGS = ("class_pairs", *VIEW_SAMPLINGS)


def view_plan(
    num_images: int,
    epochs: int,
    batch_size: int,
    seed: int,
    kind: str,
    augment_params: dict[str, Any],
) -> dict[str, np.ndarray]:
    """A self-supervised plan: every batch holds ``batch_size`` distinct images (each epoch a
    fresh permutation), whose views the trainer draws on the device.

    ``augmented_views``: two independently augmented views of each image (SimCLR).
    ``looc_views``: the query q and key k0 augmented independently, and per augmentation i a key
    k_i that shares q's parameters for i and draws the others afresh (LOOC).

    The views of step (epoch, step) come from a generator seeded with (seed, epoch, step), and the
    augmentation settings are stored in the plan, so the plan alone fixes every view.
    """
    if kind not in VIEW_SAMPLINGS:
        raise DataError(f"unknown view sampling {kind!r}; known: {list(VIEW_SAMPLINGS)}")
    if epochs < 1:
        raise DataError(f"pairs.epochs must be at least 1, got {epochs}")
    if not 2 <= batch_size <= num_images:
        raise DataError(
            f"pairs.batch_size must lie in 2..{num_images} (the train images), got {batch_size}"
        )
    rng = np.random.default_rng(seed)
    steps = num_images // batch_size
    order = rng.permuted(np.tile(np.arange(num_images), (epochs, 1)), axis=1)
    return {
        "kind": np.asarray(kind),
        "anchors": order[:, : steps * batch_size].reshape(epochs, steps, batch_size),
        "seed": np.asarray(seed),
        "augment": np.asarray(json.dumps(augment_params, sort_keys=True)),
    }


def plan_kind(plan: dict[str, np.ndarray]) -> str:
    """``class_pairs`` (plans without a ``kind``), ``augmented_views`` or ``looc_views``."""
    return str(plan["kind"]) if "kind" in plan else "class_pairs"
