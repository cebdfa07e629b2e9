"""The guide's class-pair plan: every batch holds ``pairs_per_class`` (anchor, positive) pairs of
every class, so each row's other-class rows are its negatives (guide part 1)."""

from __future__ import annotations

import hashlib

import numpy as np

from crl_pipelines.images import DataError, ImageDataset
from crl_pipelines.sampling.base import SAMPLINGS, PairsSettings, unavailable_plan

KIND = "class_pairs"


def labels_fingerprint(labels: np.ndarray) -> str:
    """A short digest of the train labels, stored in a plan to catch a plan/split mismatch."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()[:16]


def class_pair_plan(
    labels: np.ndarray,
    class_names: tuple[str, ...],
    epochs: int,
    pairs_per_class: int = 1,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The class-pair plan of ``epochs`` epochs over train images with these ``labels``.

    In each epoch every class's images are visited as anchors in a fresh random order (cycling when
    a class has fewer images than the epoch needs); each anchor's positive is another image of
    the same class, drawn at random. An epoch has ``len(labels) // (num_classes * pairs_per_class)``
    steps, so each image is an anchor about once per epoch.

    Returns:
        ``anchors``, ``positives`` and ``labels``, int64 arrays of shape
        (epochs, steps, num_classes * pairs_per_class), plus the settings that made them.
    """
    labels = np.asarray(labels, dtype=np.int64)
    steps = _steps(labels, class_names, epochs, pairs_per_class)
    num_classes = len(class_names)
    batch = num_classes * pairs_per_class
    rng = np.random.default_rng(seed)
    per_class = steps * pairs_per_class  # anchors each class contributes per epoch
    anchors = np.empty((epochs, num_classes, per_class), dtype=np.int64)
    positives = np.empty_like(anchors)
    for k in range(num_classes):  # a loop over classes, not samples
        members = np.flatnonzero(labels == k)
        n = len(members)
        order = rng.permuted(np.tile(np.arange(n), (epochs, 1)), axis=1)  # (epochs, n)
        slot = np.arange(per_class) % n  # cycle through the permutation
        # A positive sits 1..n-1 places further along the same permutation: never the anchor.
        offset = rng.integers(1, n, size=(epochs, per_class))
        anchors[:, k] = members[order[:, slot]]
        positives[:, k] = members[np.take_along_axis(order, (slot + offset) % n, axis=1)]

    def to_batches(per_class_array: np.ndarray) -> np.ndarray:
        # (epochs, classes, steps*ppc) -> (epochs, steps, classes*ppc), class-major within a batch
        shaped = per_class_array.reshape(epochs, num_classes, steps, pairs_per_class)
        return shaped.transpose(0, 2, 1, 3).reshape(epochs, steps, batch)

    batch_labels = np.repeat(np.arange(num_classes), pairs_per_class)
    return {
        "kind": np.asarray(KIND),
        "anchors": to_batches(anchors),
        "positives": to_batches(positives),
        "labels": np.broadcast_to(batch_labels, (epochs, steps, batch)).copy(),
        "pairs_per_class": np.asarray(pairs_per_class),
        "seed": np.asarray(seed),
        "train_labels_fingerprint": np.asarray(labels_fingerprint(labels)),
    }


def _steps(labels: np.ndarray, class_names: tuple[str, ...], epochs: int, ppc: int) -> int:
    """Steps per epoch, after checking that the classes can fill them."""
    if not class_names:
        raise DataError(
            "class-pair sampling needs class labels, and this dataset has none: give such "
            "experiments `sampling: augmented_views` (or looc_views)"
        )
    if epochs < 1:
        raise DataError(f"pairs.epochs must be at least 1, got {epochs}")
    if ppc < 1:
        raise DataError(f"pairs.pairs_per_class must be at least 1, got {ppc}")
    counts = np.bincount(labels, minlength=len(class_names))
    too_small = [f"'{class_names[k]}' ({counts[k]})" for k in np.flatnonzero(counts < 2)]
    if too_small:
        raise DataError(
            "class-pair sampling needs at least 2 train images per class; "
            f"too few in: {', '.join(too_small)}"
        )
    steps = len(labels) // (len(class_names) * ppc)
    if steps < 1:
        raise DataError(
            f"{len(labels)} train images cannot fill one batch of {len(class_names)} classes × "
            f"{ppc} pairs; lower pairs.pairs_per_class"
        )
    return steps


def check_plan(plan: dict[str, np.ndarray], train_labels: np.ndarray) -> None:
    """Stop when the plan was made for another train split (its pairs would be wrong)."""
    if str(plan["train_labels_fingerprint"]) != labels_fingerprint(train_labels):
        raise DataError(
            "the sampling plan in data/04_feature was made for a different train split; "
            "re-run `kedro run --pipelines=pairs` after ingest"
        )
    plan_labels = plan["labels"]
    if not np.array_equal(train_labels[plan["anchors"]], plan_labels) or not np.array_equal(
        train_labels[plan["positives"]], plan_labels
    ):
        raise DataError("the sampling plan's pairs do not match their recorded labels")


@SAMPLINGS.register(
    KIND,
    check_plan=check_plan,
    needs_labels=True,
    loss_views="pairs",
    step="crl_pipelines.training.steps.class_pairs:ClassPairStep",
    description="one (anchor, positive) pair per class",
)
def make_plan(train: ImageDataset, pairs: PairsSettings, augment: object) -> dict:
    """The class-pair plan of the train split (``augment`` is unused: class pairs are the images
    themselves, not augmented views)."""
    del augment
    if not train.labelled:
        return unavailable_plan(KIND, "the train split has no class labels")
    return class_pair_plan(
        train.labels, train.class_names, pairs.epochs, pairs.pairs_per_class, pairs.seed
    )
