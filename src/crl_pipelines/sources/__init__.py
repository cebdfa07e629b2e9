"""Data sources beyond the canonical form: CIFAR-10 (read with a restricted unpickler), labelled
and unlabelled image folders, ``.npz`` arrays, MultiDigit, RandBits, and the resizing and channel
conversion that bring any of them to one shape. :func:`build_dataset` turns the ``ingest``
parameters into an :class:`~crl_pipelines.data.ImageDataset`.

MNIST, Fashion-MNIST and KMNIST (IDX files) and scikit-learn's digits are read by
:mod:`crl_pipelines.data`, which does not import this package.
"""

from crl_pipelines.sources.arrays import load_npz_dataset
from crl_pipelines.sources.cifar import (
    RestrictedUnpickler,
    load_cifar10_dataset,
    read_cifar_batch,
    read_cifar_meta,
)
from crl_pipelines.sources.folders import decode_image, load_image_folder, load_unlabelled_folder
from crl_pipelines.sources.multidigit import make_multidigit
from crl_pipelines.sources.registry import BLOCK_DEFAULTS, SOURCES, build_dataset, read_source
from crl_pipelines.sources.transforms import (
    add_randbits,
    conform,
    convert_channels,
    luma,
    resize_images,
)

__all__ = [
    "BLOCK_DEFAULTS",
    "SOURCES",
    "RestrictedUnpickler",
    "add_randbits",
    "build_dataset",
    "conform",
    "convert_channels",
    "decode_image",
    "load_cifar10_dataset",
    "load_image_folder",
    "load_npz_dataset",
    "load_unlabelled_folder",
    "luma",
    "make_multidigit",
    "read_cifar_batch",
    "read_cifar_meta",
    "read_source",
    "resize_images",
]
