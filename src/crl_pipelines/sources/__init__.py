"""Data sources, one module each, each registered by name beside its reader
(``@SOURCES.register("digits", settings=..., labelled=True)``): scikit-learn's digits
(:mod:`.digits`), the MNIST family's IDX files (:mod:`.idx`), CIFAR-10 read with a restricted
unpickler (:mod:`.cifar`), labelled and unlabelled image folders (:mod:`.folders`), ``.npz``
arrays (:mod:`.arrays`) and MultiDigit (:mod:`.multidigit`); the resizing, channel conversion
and RandBits that apply to all of them (:mod:`.transforms`); keeping a source's own test split
(:mod:`.official`); every file is opened through :mod:`.safe_open`, which opens only regular
files and names the file in every failure.
:func:`build_dataset` (:mod:`.ingest`) turns the ``ingest`` parameters (:data:`IngestSettings`)
into an :class:`~crl_pipelines.images.ImageDataset`.

Adding a source: its module (settings model, reader, registration) and its line in the list
below, which is the registry's order; then its block in ``conf/base/parameters.yml``.

:mod:`crl_pipelines.images` (the canonical form) does not import this package.
"""

# The registry's order: each module registers what it defines when it is imported.
# isort: off
from crl_pipelines.sources import (  # noqa: F401  (each module registers its sources)
    digits,
    idx,
    cifar,
    folders,
    arrays,
    multidigit,
)
# isort: on

from crl_pipelines.sources.arrays import NpzSettings, load_npz_dataset
from crl_pipelines.sources.base import SOURCES, DownloadSettings, IngestSettingsBase, Source
from crl_pipelines.sources.cifar import (
    RestrictedUnpickler,
    load_cifar10_dataset,
    read_cifar_batch,
    read_cifar_meta,
)
from crl_pipelines.sources.digits import DigitsSettings, load_digits_dataset
from crl_pipelines.sources.folders import (
    FolderSettings,
    decode_image,
    load_image_folder,
    load_split_image_folder,
    load_unlabelled_folder,
)
from crl_pipelines.sources.idx import load_idx_dataset, load_mnist_dataset, read_idx
from crl_pipelines.sources.ingest import (
    IngestSettings,
    build_dataset,
    parse_ingest,
    settings_model,
)
from crl_pipelines.sources.multidigit import MultiDigitSettings, make_multidigit
from crl_pipelines.sources.official import keep_official_test
from crl_pipelines.sources.transforms import (
    RandBitsSettings,
    add_randbits,
    conform,
    convert_channels,
    luma,
    resize_images,
)

__all__ = [
    "SOURCES",
    "DigitsSettings",
    "DownloadSettings",
    "FolderSettings",
    "IngestSettings",
    "IngestSettingsBase",
    "MultiDigitSettings",
    "NpzSettings",
    "RandBitsSettings",
    "RestrictedUnpickler",
    "Source",
    "add_randbits",
    "build_dataset",
    "conform",
    "convert_channels",
    "decode_image",
    "keep_official_test",
    "load_cifar10_dataset",
    "load_digits_dataset",
    "load_idx_dataset",
    "load_image_folder",
    "load_mnist_dataset",
    "load_npz_dataset",
    "load_split_image_folder",
    "load_unlabelled_folder",
    "luma",
    "make_multidigit",
    "parse_ingest",
    "read_cifar_batch",
    "read_cifar_meta",
    "read_idx",
    "resize_images",
    "settings_model",
]
