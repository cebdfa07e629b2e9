"""Embed: train, validation and test embeddings (final layer and every stage) of one encoder."""

from __future__ import annotations

import logging

import numpy as np

from crl_pipelines import lineage
from crl_pipelines.corruptions import SEVERITIES
from crl_pipelines.devices import resolve_device
from crl_pipelines.embed import EmbedSettings, corrupted_embeddings, embed_images
from crl_pipelines.images import ImageDataset
from crl_pipelines.models import Encoder
from crl_pipelines.runs import Run

log = logging.getLogger(__name__)


def embed_splits(
    model: Encoder,
    train_set: dict[str, np.ndarray],
    validation_set: dict[str, np.ndarray],
    test_set: dict[str, np.ndarray],
    *,
    run: Run,
    settings: EmbedSettings,
) -> dict[str, np.ndarray]:
    """``train_<feature>``, ``validation_<feature>`` (what the swept probe chooses its penalty
    on; empty without a validation split) and ``test_<feature>`` arrays for the embedding and
    each stage, with the labels and class names, so the scores need nothing else; refuses an
    encoder trained on another split (its test images may be the encoder's training images)."""
    split = lineage.split_of(train_set, "train")
    rebuild = f"`kedro run --pipelines=train --namespaces={run.experiment}`"
    lineage.require(model.lineage, {"split": split}, f"the encoder of {run.name}", rebuild)
    for name, stored in (("validation", validation_set), ("test", test_set)):
        lineage.require(
            lineage.of_arrays(stored), {"split": split}, f"the {name} split",
            "`kedro run --pipelines=ingest`",
        )  # fmt: skip
    device = resolve_device(settings.device)
    arrays: dict[str, np.ndarray] = {}
    parts = (("train", train_set), ("validation", validation_set), ("test", test_set))
    for split_name, stored in parts:
        dataset = ImageDataset.from_arrays(stored)
        features = embed_images(
            model, dataset.images, batch_size=settings.batch_size, device=device
        )
        arrays.update({f"{split_name}_{name}": values for name, values in features.items()})
        arrays[f"{split_name}_labels"] = dataset.labels
        # per-image extras (e.g. MultiDigit's digit_labels, scored per position)
        arrays.update({f"{split_name}_extra__{k}": v for k, v in dataset.extra.items()})
        arrays["class_names"] = np.asarray(dataset.class_names, dtype=str)
    log.info(
        "%s: embedded %d train and %d test images (dimension %d)",
        run.name,
        len(arrays["train_labels"]),
        len(arrays["test_labels"]),
        arrays["train_embedding"].shape[1],
    )
    test_images = ImageDataset.from_arrays(test_set).images
    arrays.update(corrupted_embeddings(model, test_images, settings, device))
    if "corruption_rows" in arrays:
        log.info(
            "%s: embedded %d test images under %d corruptions at %d severities",
            run.name, len(arrays["corruption_rows"]), len(settings.corruptions), len(SEVERITIES),
        )  # fmt: skip
    made_from = {**model.lineage, "corruptions": settings.corruption_fingerprint()}
    return {**arrays, lineage.KEY: lineage.as_array(made_from)}
