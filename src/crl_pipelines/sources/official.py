"""The source's own test split (``ingest.test_split: official``), as papers score: train on (a
subset of) the official train split, test on the whole official test split.

A source that ships a test split marks each image's split in ``extra["official_split"]``
(:data:`~crl_pipelines.images.OFFICIAL_SPLIT`). Here the test images are kept as they are, all of
them; the train images pixel-identical to a test image are dropped (so no image is in both
halves), then, as the shared settings say, the train split's own duplicates (``drop_duplicates``)
and its stratified, seeded subset (``subset_size``, ``seed``). The ingest split then cuts along
the marks (:func:`crl_pipelines.images.official_split`).
"""

from __future__ import annotations

import logging

import numpy as np

from crl_pipelines.images import (
    OFFICIAL_SPLIT,
    DataError,
    ImageDataset,
    drop_duplicate_images,
    image_keys,
    subsample,
)

log = logging.getLogger(__name__)


def keep_official_test(
    dataset: ImageDataset, drop_duplicates: bool, subset_size: int | None, seed: int
) -> ImageDataset:
    """``dataset`` (both official splits, marked) with its whole test split and its train split
    less the copies of test images, deduplicated and subsampled as asked; train images first.
    The provenance counts what each step kept."""
    marks = dataset.extra[OFFICIAL_SPLIT]
    source = dataset.provenance.get("source", "?")
    train = dataset.subset(np.flatnonzero(marks == "train"))
    test = dataset.subset(np.flatnonzero(marks == "test"))
    in_test = np.isin(image_keys(train.images), image_keys(test.images))
    if in_test.all():
        raise DataError(
            f"every image of the official train split of {source} is also in its test split: "
            "none is left to train on"
        )
    train = train.subset(np.flatnonzero(~in_test))
    if drop_duplicates:
        train, _ = drop_duplicate_images(train)
    if subset_size and subset_size > len(train.labels):
        raise DataError(
            f"ingest.subset_size {subset_size} is more than the {len(train.labels)} images of "
            f"the official train split of {source} (after dropping duplicates)"
        )
    if subset_size:
        train = subsample(train, subset_size, seed)
    record = {
        "test_split": "official",
        "official_train_images": int((marks == "train").sum()),
        "official_test_images": len(test.labels),
        "train_copies_of_test_dropped": int(in_test.sum()),
    }
    log.info(
        "official split of %s: %d train images (%d dropped as copies of test images), %d test",
        source,
        len(train.labels),
        record["train_copies_of_test_dropped"],
        len(test.labels),
    )
    return ImageDataset(
        np.concatenate([train.images, test.images]),
        np.concatenate([train.labels, test.labels]),
        dataset.class_names,
        {**train.provenance, **record},
        {name: np.concatenate([train.extra[name], test.extra[name]]) for name in dataset.extra},
    )
