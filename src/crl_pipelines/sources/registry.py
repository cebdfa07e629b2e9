"""``ingest`` parameters → a dataset in canonical form: read the source, bring it to one size and
channel count, drop duplicates, subsample, append RandBits. The parameter schema is in
``conf/base/parameters.yml`` (``ingest:``) and the README's "Data sources"."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from crl_pipelines.data import (
    IDX_SOURCES,
    DataError,
    ImageDataset,
    drop_duplicate_images,
    load_digits_dataset,
    load_idx_dataset,
    subsample,
)
from crl_pipelines.sources import params as check
from crl_pipelines.sources.arrays import LAYOUTS, VALUE_RANGES, load_npz_dataset
from crl_pipelines.sources.cifar import CIFAR10_FILES, load_cifar10_dataset
from crl_pipelines.sources.folders import ON_BAD_FILE, load_image_folder, load_unlabelled_folder
from crl_pipelines.sources.multidigit import PLACEMENTS, make_multidigit
from crl_pipelines.sources.transforms import RANDBITS_SPATIAL, add_randbits, conform

log = logging.getLogger(__name__)

SOURCES = (
    "digits",
    "mnist",
    "fashion_mnist",
    "kmnist",
    "cifar10",
    "image_folder",
    "unlabelled_folder",
    "npz",
    "multidigit",
)
_DOWNLOADABLE = {"root": "data/01_raw", "splits": ["train"], "download": False}
# Each source's sub-block under `ingest:` and its defaults (a key not listed here is an error).
BLOCK_DEFAULTS: dict[str, dict[str, Any]] = {
    **{name: dict(_DOWNLOADABLE) for name in (*IDX_SOURCES, "cifar10")},
    "image_folder": {"root": "data/01_raw/images"},
    "unlabelled_folder": {"root": "data/01_raw/images"},
    "npz": {"path": "data/01_raw/images.npz", "layout": "auto", "value_range": "auto"},
    "multidigit": {
        "source": "digits",
        "num_images": 2000,
        "num_digits": 4,
        "placement": "random",
        "canvas_size": 32,
        "digit_size": 12,
        "seed": 0,
    },
    "randbits": {"bits": 0, "spatial": "constant", "seed": 0},
}


def _source_name(value: Any, where: str = "ingest.source") -> str:
    if value not in SOURCES:
        raise DataError(f"unknown {where} {value!r}; known sources: {list(SOURCES)}")
    return value


def read_source(
    params: Mapping[str, Any], source: str | None = None, for_multidigit: bool = False
) -> ImageDataset:
    """The images of ``source`` (default ``ingest.source``) as the source holds them; image
    folders are already brought to ``image_size`` and ``channels`` (they must be, to stack them;
    as MultiDigit's digit source, only to ``channels``: ``digit_size`` sizes the digits)."""
    source = _source_name(params.get("source", "digits") if source is None else source)
    size = (
        None
        if for_multidigit
        else check.integer(params.get("image_size"), "ingest.image_size", optional=True)
    )
    channels = _channels(params)
    if source == "digits":
        return load_digits_dataset()
    settings = check.block(params, source, BLOCK_DEFAULTS[source])
    if source in IDX_SOURCES or source == "cifar10":
        known = ("train", "test") if source in IDX_SOURCES else tuple(CIFAR10_FILES)
        splits = check.splits(settings["splits"], f"ingest.{source}.splits", known)
        download = check.flag(settings["download"], f"ingest.{source}.download")
        if source == "cifar10":
            return load_cifar10_dataset(settings["root"], splits, download)
        return load_idx_dataset(settings["root"], source, splits, download)
    if source in ("image_folder", "unlabelled_folder"):
        on_bad_file = check.choice(
            params.get("on_bad_file", "error"), "ingest.on_bad_file", ON_BAD_FILE
        )
        reader = load_image_folder if source == "image_folder" else load_unlabelled_folder
        return reader(settings["root"], size, channels, on_bad_file)
    if source == "npz":
        return load_npz_dataset(
            settings["path"],
            layout=check.choice(settings["layout"], "ingest.npz.layout", LAYOUTS),
            value_range=check.choice(
                settings["value_range"], "ingest.npz.value_range", VALUE_RANGES
            ),
        )
    # multidigit
    inner = _source_name(settings["source"], "ingest.multidigit.source")
    if inner == "multidigit":
        raise DataError("ingest.multidigit.source must be another source, not multidigit")
    num_digits = check.integer(settings["num_digits"], "ingest.multidigit.num_digits")
    return make_multidigit(
        read_source(params, inner, for_multidigit=True),
        num_images=check.integer(settings["num_images"], "ingest.multidigit.num_images"),
        num_digits=num_digits,
        canvas_size=check.integer(settings["canvas_size"], "ingest.multidigit.canvas_size"),
        digit_size=settings["digit_size"],
        placement=check.choice(settings["placement"], "ingest.multidigit.placement", PLACEMENTS),
        seed=check.integer(settings["seed"], "ingest.multidigit.seed", minimum=0),
    )


def _channels(params: Mapping[str, Any]) -> int | None:
    return check.choice(params.get("channels"), "ingest.channels", [None, 1, 3])


def build_dataset(params: Mapping[str, Any]) -> ImageDataset:
    """The whole ``ingest`` source step: read ``ingest.source``; resize to ``image_size`` and
    convert to ``channels``; drop pixel-identical duplicates (``drop_duplicates``); keep a
    seeded, stratified (or, unlabelled, random) subset (``subset_size``, ``seed``); append
    RandBits channels (``randbits``). RandBits come last, so duplicates are found on the image
    itself and never survive because their bits differ."""
    size = check.integer(params.get("image_size"), "ingest.image_size", optional=True)
    channels = _channels(params)
    randbits = check.block(params, "randbits", BLOCK_DEFAULTS["randbits"])
    bits = check.integer(randbits["bits"], "ingest.randbits.bits", minimum=0)
    spatial = check.choice(randbits["spatial"], "ingest.randbits.spatial", RANDBITS_SPATIAL)
    bits_seed = check.integer(randbits["seed"], "ingest.randbits.seed", minimum=0)
    dataset = conform(read_source(params), size, channels)
    if check.flag(params.get("drop_duplicates", True), "ingest.drop_duplicates"):
        dataset, dropped = drop_duplicate_images(dataset)
        if dropped:
            log.info("dropped %d pixel-identical duplicate images", dropped)
    subset_size = check.integer(params.get("subset_size"), "ingest.subset_size", optional=True)
    if subset_size:
        seed = check.integer(params.get("seed", 0), "ingest.seed", minimum=0)
        dataset = subsample(dataset, subset_size, seed)
    return add_randbits(dataset, bits, bits_seed, spatial)
