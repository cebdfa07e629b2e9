"""The ``ingest`` step: read the chosen source, bring it to one size and channel count, drop
duplicates, subsample (with ``test_split: official``: keep the official test split whole, and
subsample the train split), append RandBits.

The model of the whole ``ingest:`` block, :data:`IngestSettings`, is built from the registry
(:data:`~crl_pipelines.sources.base.SOURCES`), so it knows every source's block without being
edited. The parameters are documented in
``conf/base/parameters.yml`` (``ingest:``) and the README's "Data sources"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
from pydantic import Field, create_model

from crl_pipelines.images import DataError, ImageDataset, drop_duplicate_images, subsample
from crl_pipelines.parameters import parse
from crl_pipelines.sources import official
from crl_pipelines.sources.base import SOURCES, IngestSettingsBase, Source
from crl_pipelines.sources.transforms import add_randbits, conform

log = logging.getLogger(__name__)


@cache
def _model(sources: tuple[tuple[str, Source], ...]) -> type[IngestSettingsBase]:
    names = tuple(name for name, _ in sources)
    shared = IngestSettingsBase
    taken = [name for name in names if name in shared.model_fields or hasattr(shared, name)]
    if taken:
        raise ValueError(f"source name(s) {taken} are taken by the shared ingest settings")
    blocks: dict[str, Any] = {
        name: (source.settings, Field(default_factory=source.settings)) for name, source in sources
    }
    model = create_model(
        "IngestSettings",
        __base__=IngestSettingsBase,
        __module__=__name__,
        __doc__="The ``ingest:`` parameter block: the source, one block per registered source "
        "(defaults filled) and the settings every source shares.",
        source=(Literal[names], "digits"),
        **blocks,
    )
    model.registry = MappingProxyType(dict(sources))
    return model


def settings_model() -> type[IngestSettingsBase]:
    """The model of the ``ingest:`` block for the sources registered now."""
    return _model(tuple(SOURCES.items()))


IngestSettings = settings_model()


def parse_ingest(params: Mapping[str, Any] | None) -> IngestSettingsBase:
    """The ``ingest:`` parameters validated; a ParameterError names every bad one."""
    return parse(settings_model(), params, "ingest")


def build_dataset(settings: IngestSettingsBase | Mapping[str, Any]) -> ImageDataset:
    """The whole ``ingest`` source step: read ``source``; resize to ``image_size`` and convert
    to ``channels``; drop pixel-identical duplicates (``drop_duplicates``); keep a seeded,
    stratified (or, unlabelled, random) subset (``subset_size``, ``seed``); append RandBits
    channels (``randbits``). With ``test_split: official`` the official test split is kept
    whole and only the train split is deduplicated and subsampled, less its copies of test
    images (:func:`~crl_pipelines.sources.official.keep_official_test`). RandBits come last, so
    duplicates are found on the image itself and never survive because their bits differ. Plain
    parameters are validated first."""
    if not isinstance(settings, IngestSettingsBase):
        settings = parse_ingest(settings)
    dataset = conform(settings.read_source(), settings.image_size, settings.channels)
    if settings.test_split == "official":
        dataset = official.keep_official_test(
            dataset, settings.drop_duplicates, settings.subset_size, settings.seed
        )
    else:
        if settings.drop_duplicates:
            dataset, dropped = drop_duplicate_images(dataset)
            if dropped:
                log.info("dropped %d pixel-identical duplicate images", dropped)
        if settings.subset_size:
            dataset = subsample(dataset, settings.subset_size, settings.seed)
    if dataset.labelled and len(np.unique(dataset.labels)) < 2:
        only = dataset.class_names[int(dataset.labels[0])] if len(dataset.labels) else "none"
        raise DataError(
            f"the dataset from {dataset.provenance.get('source', '?')} has one class ('{only}', "
            f"{len(dataset.labels)} images): a comparison needs at least two (every score of a "
            "labelled run tells classes apart); add another class, or read it unlabelled"
        )
    randbits = settings.randbits
    return add_randbits(dataset, randbits.bits, randbits.seed, randbits.spatial)
