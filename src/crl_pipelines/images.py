"""The canonical form of a dataset and the operations on it: deduplication, subsampling and
the train/test split.

Every source ends up as an :class:`ImageDataset`: uint8 images N×C×H×W, integer labels 0..K-1
(or all −1 for an unlabelled dataset, which has no class names), the class names, a provenance
record saying where the images came from, and optional per-image arrays (``extra``, e.g. the
per-digit labels of MultiDigit). That one form is what the rest of the project reads, whatever the
source was. Every reader (scikit-learn's digits, the IDX files of the MNIST family, CIFAR-10,
image folders, ``.npz``, MultiDigit) and RandBits are in :mod:`crl_pipelines.sources`, which this
module does not import, so the stages that only read the canonical form do not depend on them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crl_pipelines.errors import UserError

log = logging.getLogger(__name__)

EXTRA_PREFIX = "extra__"  # key prefix of the per-image arrays in ``ImageDataset.to_arrays``
# The extra array naming each image's official split ("train" or "test"), present only when the
# source's own split is kept (``ingest.test_split: official``).
OFFICIAL_SPLIT = "official_split"


class DataError(UserError, ValueError):
    """Input data that cannot be used (a file, its labels, its sizes); the message names the file
    or class at fault. Parameters are checked before any data is read, with
    :class:`crl_pipelines.parameters.ParameterError`."""


@dataclass(frozen=True)
class ImageDataset:
    """Images in the project's canonical form.

    Attributes:
        images: uint8 array N×C×H×W.
        labels: int64 array of N class indices into ``class_names``; all −1 ("unlabelled") when,
            and only when, ``class_names`` is empty.
        class_names: one name per class; empty for an unlabelled dataset.
        provenance: where the images came from (JSON-serialisable). ``randbits_channels``, when
            present, is the number of trailing channels that are RandBits; read it as
            :attr:`protected_channels`.
        extra: optional per-image arrays (first axis N, no Python objects), carried through
            :meth:`subset`, :meth:`to_arrays` and :meth:`from_arrays`; e.g. MultiDigit's
            ``digit_labels`` (N×k) or an image folder's ``files``.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    provenance: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise DataError(
                f"images must be uint8 N×C×H×W, got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.ndim != 1 or len(self.labels) != len(self.images):
            raise DataError(f"{len(self.images)} images but labels of shape {self.labels.shape}")
        if len(self.images) == 0:
            raise DataError(f"the dataset from {self.provenance.get('source', '?')} is empty")
        if not self.class_names:
            if (self.labels != -1).any():
                raise DataError(
                    "a dataset without class names is unlabelled and its labels must all be -1, "
                    f"got {self.labels.min()}..{self.labels.max()}"
                )
        elif self.labels.min() < 0 or self.labels.max() >= len(self.class_names):
            raise DataError(
                f"labels must lie in 0..{len(self.class_names) - 1} (one per class name), "
                f"got {self.labels.min()}..{self.labels.max()} (-1, unlabelled, only goes with "
                "no class names)"
            )
        extra = {name: np.asarray(array) for name, array in self.extra.items()}
        for name, array in extra.items():
            if not name.isidentifier():
                raise DataError(f"extra array name {name!r} must be a Python identifier")
            if array.ndim == 0 or len(array) != len(self.images):
                raise DataError(
                    f"extra array {name!r} must hold one row per image ({len(self.images)}), "
                    f"got shape {array.shape}"
                )
            if array.dtype == object:
                raise DataError(f"extra array {name!r} holds Python objects; store plain arrays")
        object.__setattr__(self, "extra", extra)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> bool:
        """Whether the images have classes (an unlabelled dataset has no class names)."""
        return bool(self.class_names)

    @property
    def protected_channels(self) -> int:
        """The number of trailing channels that are RandBits (random bits shared by both views of
        an image), 0 without them: augmentations must leave those channels alone."""
        return int(self.provenance.get("randbits_channels", 0))

    def subset(self, indices: np.ndarray, **provenance: Any) -> ImageDataset:
        """The images at ``indices``, with ``provenance`` added to the record."""
        return ImageDataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            {**self.provenance, **provenance},
            {name: array[indices] for name, array in self.extra.items()},
        )

    def empty_arrays(self) -> dict[str, np.ndarray]:
        """:meth:`to_arrays` of no image (an empty part of a split, e.g. no validation)."""
        arrays = self.subset(np.arange(1)).to_arrays()
        return {
            key: value[:0] if key in ("images", "labels") else value
            for key, value in arrays.items()
        }

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no pickled objects), as stored in an ``.npz``; ``extra`` arrays are
        stored under ``extra__<name>``."""
        return {
            "images": self.images,
            "labels": self.labels,
            "class_names": np.asarray(self.class_names, dtype=str),
            "provenance": np.asarray(json.dumps(self.provenance, sort_keys=True)),
            **{f"{EXTRA_PREFIX}{name}": array for name, array in self.extra.items()},
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        """Inverse of :meth:`to_arrays`."""
        return cls(
            images=np.asarray(arrays["images"]),
            labels=np.asarray(arrays["labels"]).astype(np.int64),
            class_names=tuple(str(name) for name in np.asarray(arrays["class_names"]).ravel()),
            provenance=json.loads(str(arrays["provenance"])),
            extra={
                key.removeprefix(EXTRA_PREFIX): np.asarray(value)
                for key, value in arrays.items()
                if key.startswith(EXTRA_PREFIX)
            },
        )


def image_keys(images: np.ndarray) -> np.ndarray:
    """One opaque key per image, equal exactly when the images are pixel-identical."""
    rows = np.ascontiguousarray(images.reshape(len(images), -1))
    return rows.view(np.dtype((np.void, rows.shape[1])))[:, 0]


def drop_duplicate_images(dataset: ImageDataset) -> tuple[ImageDataset, int]:
    """Keep the first copy of every pixel-identical image, so no image can land in both halves."""
    _, first = np.unique(image_keys(dataset.images), return_index=True)
    first.sort()
    dropped = len(dataset.images) - len(first)
    if dropped == 0:
        return dataset, 0
    return dataset.subset(first, duplicates_dropped=dropped), dropped


def _check_class_counts(
    labels: np.ndarray, class_names: tuple[str, ...], minimum: int, why: str
) -> None:
    counts = np.bincount(labels, minlength=len(class_names))
    short = [f"'{class_names[k]}' ({counts[k]})" for k in np.flatnonzero(counts < minimum)]
    if short:
        raise DataError(f"classes with fewer than {minimum} images {why}: {', '.join(short)}")


def _require_labels(dataset: ImageDataset, function: str, instead: str) -> None:
    if not dataset.labelled:
        raise DataError(
            f"{function} needs class labels and the dataset from "
            f"{dataset.provenance.get('source', '?')} is unlabelled; use {instead}"
        )


def stratified_subsample(dataset: ImageDataset, size: int, seed: int) -> ImageDataset:
    """A seeded subset of ``size`` images with the class proportions of the whole."""
    from sklearn.model_selection import train_test_split

    if not 0 < size <= len(dataset.labels):
        raise DataError(f"ingest.subset_size must lie in 1..{len(dataset.labels)}, got {size}")
    if size == len(dataset.labels):
        return dataset
    _require_labels(dataset, "stratified_subsample", "random_subsample")
    _check_class_counts(dataset.labels, dataset.class_names, 2, "to subsample by class")
    try:
        indices, _ = train_test_split(
            np.arange(len(dataset.labels)),
            train_size=size,
            stratify=dataset.labels,
            random_state=seed,
        )
    except ValueError as error:
        raise DataError(
            f"ingest.subset_size {size} cannot keep every one of the {dataset.num_classes} "
            f"classes: {error}"
        ) from error
    return dataset.subset(np.sort(indices), subset_size=size, subset_seed=seed)


def random_subsample(dataset: ImageDataset, size: int, seed: int) -> ImageDataset:
    """A seeded random subset of ``size`` images (for unlabelled data)."""
    if not 0 < size <= len(dataset.labels):
        raise DataError(f"ingest.subset_size must lie in 1..{len(dataset.labels)}, got {size}")
    if size == len(dataset.labels):
        return dataset
    indices = np.random.default_rng(seed).choice(len(dataset.labels), size=size, replace=False)
    return dataset.subset(np.sort(indices), subset_size=size, subset_seed=seed)


def subsample(dataset: ImageDataset, size: int, seed: int) -> ImageDataset:
    """:func:`stratified_subsample` for labelled data, :func:`random_subsample` otherwise."""
    if dataset.labelled:
        return stratified_subsample(dataset, size, seed)
    return random_subsample(dataset, size, seed)


def _check_test_fraction(test_fraction: float) -> None:
    if not 0.0 < test_fraction < 1.0:
        raise DataError(
            f"ingest.test_fraction must lie strictly between 0 and 1, got {test_fraction}"
        )


def _halves(
    dataset: ImageDataset, train_idx: np.ndarray, test_idx: np.ndarray, record: dict[str, Any]
) -> tuple[ImageDataset, ImageDataset]:
    for name, indices in (("train", train_idx), ("test", test_idx)):
        if len(indices) == 0:
            raise DataError(
                f"the {name} split is empty: ingest.test_fraction {record['test_fraction']} of "
                f"{len(dataset.labels)} image(s) leaves it no image"
            )
    train_idx, test_idx = np.sort(train_idx), np.sort(test_idx)
    return (
        dataset.subset(train_idx, split="train", **record),
        dataset.subset(test_idx, split="test", **record),
    )


def stratified_split(
    dataset: ImageDataset, test_fraction: float, seed: int
) -> tuple[ImageDataset, ImageDataset]:
    """Split into train and test halves with the same class proportions; no image is in both."""
    from sklearn.model_selection import train_test_split

    _check_test_fraction(test_fraction)
    _require_labels(dataset, "stratified_split", "random_split")
    _check_class_counts(dataset.labels, dataset.class_names, 2, "to split into train and test")
    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(dataset.labels)),
            test_size=test_fraction,
            stratify=dataset.labels,
            random_state=seed,
        )
    except ValueError as error:
        raise DataError(
            f"cannot split {len(dataset.labels)} images of {dataset.num_classes} classes with "
            f"ingest.test_fraction {test_fraction} (both halves need every class): {error}"
        ) from error
    record = {"split_seed": seed, "test_fraction": test_fraction, "split_kind": "stratified"}
    return _halves(dataset, train_idx, test_idx, record)


def random_split(
    dataset: ImageDataset, test_fraction: float, seed: int
) -> tuple[ImageDataset, ImageDataset]:
    """A seeded random train/test split (for unlabelled data, which has no class to stratify by);
    the test half holds ceil(test_fraction × N) images."""
    _check_test_fraction(test_fraction)
    total = len(dataset.labels)
    order = np.random.default_rng(seed).permutation(total)
    n_test = int(np.ceil(test_fraction * total))
    record = {"split_seed": seed, "test_fraction": test_fraction, "split_kind": "random"}
    return _halves(dataset, order[n_test:], order[:n_test], record)


def split_train_test(
    dataset: ImageDataset, test_fraction: float, seed: int
) -> tuple[ImageDataset, ImageDataset]:
    """:func:`stratified_split` for labelled data, :func:`random_split` for unlabelled data."""
    if dataset.labelled:
        return stratified_split(dataset, test_fraction, seed)
    return random_split(dataset, test_fraction, seed)


def official_split(dataset: ImageDataset) -> tuple[ImageDataset, ImageDataset]:
    """The train and test halves the source's own files define (``extra["official_split"]``,
    written by ingest with ``test_split: official``), in the order they are stored."""
    marks = dataset.extra.get(OFFICIAL_SPLIT)
    if marks is None:
        raise DataError(
            f"the dataset from {dataset.provenance.get('source', '?')} does not record its images' "
            "official split (ingest.test_split was random when it was made); re-run "
            "`kedro run --pipelines=ingest`"
        )
    train_idx, test_idx = np.flatnonzero(marks == "train"), np.flatnonzero(marks == "test")
    for name, indices in (("train", train_idx), ("test", test_idx)):
        if len(indices) == 0:
            raise DataError(
                f"the official {name} split of {dataset.provenance.get('source', '?')} is empty"
            )
    return _halves(dataset, train_idx, test_idx, {"split_kind": "official"})


def hold_out_validation(
    train: ImageDataset, fraction: float, seed: int
) -> tuple[ImageDataset, ImageDataset | None]:
    """The train split less a validation part of ``fraction`` of its images (rounded up; seeded;
    for labelled data stratified, with at least one image of every class that has three or
    more: a class with fewer keeps them all for training, where a class pair needs two), and
    that part. The per-epoch monitor and anything that chooses (the kept epoch) read it, so the
    test split is touched only by the final scoring. ``fraction`` 0, or no class with three
    images: no validation part (None; no monitor)."""
    from sklearn.model_selection import train_test_split

    if fraction == 0:
        return train, None
    rows, labels = np.arange(len(train.labels)), train.labels
    size, stratify = math.ceil(fraction * len(rows)), None
    if train.labelled:
        counts = np.bincount(labels)
        rows = rows[counts[labels] >= 3]  # a class pair needs two images left to train on
        stratify = labels[rows]
        classes = len(np.unique(stratify))
        size = min(max(size, classes), len(rows) - 2 * classes)
    if size < 1:
        log.warning(
            "ingest.validation_fraction %g: no class of the %d train images has three, so none is "
            "held out for validation; the per-epoch monitor and training.keep: best are off",
            fraction, len(train.labels),
        )  # fmt: skip
        return train, None
    try:
        _, held = train_test_split(rows, test_size=size, stratify=stratify, random_state=seed)
    except ValueError as error:
        raise DataError(
            f"ingest.validation_fraction {fraction} of {len(train.labels)} train images leaves no "
            f"room for every class in both parts ({error}); lower it, or set 0 for none"
        ) from error
    record = {"validation_fraction": fraction}
    kept = np.setdiff1d(np.arange(len(train.labels)), held)
    return train.subset(kept, **record), train.subset(np.sort(held), split="validation", **record)
