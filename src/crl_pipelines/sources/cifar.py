"""CIFAR-10 from torchvision's on-disk layout, ``<root>/cifar-10-batches-py/``, read safely.

The batches are Python pickles (protocol 2, written by Python 2) of dicts holding ``data`` (uint8
N×3072: 1024 red, then 1024 green, then 1024 blue values, rows top to bottom) and ``labels``
(``fine_labels`` in CIFAR-100's files); ``batches.meta`` holds ``label_names``. A pickle can run
arbitrary code when loaded, so they are read with :class:`RestrictedUnpickler`, which resolves
only the few globals such files need (numpy's array reconstruction and the latin-1 decoding of
byte strings) and refuses any other with a :class:`~crl_pipelines.images.DataError` naming the file.
"""

from __future__ import annotations

import codecs
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from crl_pipelines.images import OFFICIAL_SPLIT, DataError, ImageDataset
from crl_pipelines.sources.base import (
    SOURCES,
    SPLITS,
    DownloadSettings,
    IngestSettingsBase,
    Split,
)
from crl_pipelines.sources.safe_open import describe, open_regular

try:  # numpy ≥ 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
CIFAR10_META = "batches.meta"
CIFAR10_SIZE = 32


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler for CIFAR's python batches that resolves only numpy's array and scalar
    reconstruction, ``numpy.ndarray``/``numpy.dtype``, ``bytearray`` and the latin-1 decoding
    Python 3 uses for byte strings in protocol 2; anything else stops with a DataError naming
    ``path``. Python 2 strings are decoded as latin-1 (as torchvision does), so keys may be
    ``str`` or ``bytes``."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path

    def _latin1(self, text: str, encoding: str = "latin1") -> bytes:
        if encoding.lower().replace("-", "") != "latin1":
            raise DataError(f"{self._path}: refusing to decode bytes as {encoding!r} in a pickle")
        return codecs.encode(text, "latin1")

    def find_class(self, module: str, name: str) -> Any:
        allowed = {
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy.core.multiarray", "scalar"): scalar,
            ("numpy._core.multiarray", "scalar"): scalar,
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("_codecs", "encode"): self._latin1,
            ("builtins", "bytearray"): bytearray,
            ("__builtin__", "bytes"): _empty_bytes,  # how protocol 2 pickles b""
            ("builtins", "bytes"): _empty_bytes,
        }
        if (module, name) not in allowed:
            raise DataError(
                f"{self._path}: refusing to unpickle the global {module}.{name}; a CIFAR batch "
                "needs only numpy arrays, lists and strings (is it really a CIFAR file?)"
            )
        return allowed[(module, name)]


def _empty_bytes() -> bytes:
    return b""


def _get(entry: dict[Any, Any], key: str) -> Any:
    """``entry[key]`` whether the pickle's keys are ``str`` (Python 2 files) or ``bytes``."""
    for candidate in (key, key.encode()):
        if candidate in entry:
            return entry[candidate]
    raise KeyError(key)


def unpickle(path: str | Path) -> Any:
    """A pickle read with :class:`RestrictedUnpickler`; unreadable files raise DataError."""
    path = Path(path)
    with open_regular(path, fix="put torchvision's CIFAR-10 file there") as handle:
        try:
            return RestrictedUnpickler(handle, path).load()
        except DataError:
            raise
        except Exception as error:  # a truncated or corrupt pickle fails in many ways
            raise DataError(
                f"cannot read {path} as a CIFAR python batch: {describe(error)}"
            ) from error


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One python batch: uint8 images N×3×32×32 and int64 labels (``labels`` or
    ``fine_labels``)."""
    path = Path(path)
    entry = unpickle(path)
    if not isinstance(entry, dict):
        raise DataError(f"{path} must hold a dict, got {type(entry).__name__}")
    try:
        data = np.asarray(_get(entry, "data"))
    except KeyError:
        raise DataError(f"{path} has no 'data' entry") from None
    labels = None
    for key in ("labels", "fine_labels"):
        try:
            labels = np.asarray(_get(entry, key))
            break
        except KeyError:
            continue
    if labels is None:
        raise DataError(f"{path} has no 'labels' (or 'fine_labels') entry")
    pixels = 3 * CIFAR10_SIZE * CIFAR10_SIZE
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        raise DataError(f"{path}: 'data' must be uint8 N×{pixels}, got {data.dtype} {data.shape}")
    if len(data) == 0:
        raise DataError(f"{path} holds no images")
    if labels.ndim != 1 or len(labels) != len(data) or labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: {len(data)} images but labels of shape {labels.shape} ({labels.dtype})"
        )
    images = data.reshape(len(data), 3, CIFAR10_SIZE, CIFAR10_SIZE)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def read_cifar_meta(path: str | Path) -> tuple[str, ...]:
    """The class names in ``batches.meta`` (``label_names``)."""
    path = Path(path)
    entry = unpickle(path)
    try:
        names = _get(entry, "label_names") if isinstance(entry, dict) else None
    except KeyError:
        names = None
    if names is None or (isinstance(names, list | tuple) and not names):
        raise DataError(f"{path} has no 'label_names' entry")
    kinds = {type(n).__name__ for n in names} if isinstance(names, list | tuple) else set()
    if not kinds or not kinds <= {"str", "bytes"}:
        got = f"a list of {', '.join(sorted(kinds))}" if kinds else type(names).__name__
        raise DataError(f"{path}: 'label_names' must be a list of class names (text), got {got}")
    return tuple(n.decode("latin1") if isinstance(n, bytes) else n for n in names)


def load_cifar10_dataset(
    root: str | Path,
    splits: tuple[Split, ...] = ("train",),
    download: bool = False,
    mark_splits: bool = False,
) -> ImageDataset:
    """CIFAR-10 from ``<root>/cifar-10-batches-py/`` (torchvision's layout), RGB 32×32.

    Args:
        root: the folder holding ``cifar-10-batches-py`` (``data/01_raw`` in this project).
        splits: official files to pool: ``train`` (data_batch_1..5, 50 000 images) and/or
            ``test`` (test_batch, 10 000).
        download: fetch missing files with ``torchvision.datasets.CIFAR10(root, download=True)``
            (which checks the archive's MD5 before it unpacks it).
        mark_splits: record each image's split (``train`` or ``test``) in
            ``extra["official_split"]``, so the official split can be kept.
    """
    folder = Path(root) / CIFAR10_FOLDER
    needed = [CIFAR10_META, *(name for split in splits for name in CIFAR10_FILES[split])]
    if download and any(not os.path.lexists(folder / name) for name in needed):
        from torchvision.datasets import CIFAR10

        for split in splits:
            CIFAR10(str(root), train=split == "train", download=True)
    for name in needed:
        if not os.path.lexists(folder / name):  # there but unreadable: reading it says why
            raise DataError(
                f"CIFAR-10 file {folder / name} is missing: put torchvision's {CIFAR10_FOLDER} "
                "folder there, or set ingest.cifar10.download: true"
            )
    class_names = read_cifar_meta(folder / CIFAR10_META)
    images, labels, files, marks = [], [], [], []
    for split in splits:
        for name in CIFAR10_FILES[split]:
            batch_images, batch_labels = read_cifar_batch(folder / name)
            if batch_labels.min() < 0 or batch_labels.max() >= len(class_names):
                raise DataError(
                    f"{folder / name}: labels must lie in 0..{len(class_names) - 1} (the classes "
                    f"of {CIFAR10_META}), found {batch_labels.min()}..{batch_labels.max()}"
                )
            images.append(batch_images)
            labels.append(batch_labels)
            files.append(str(folder / name))
            marks.append(np.full(len(batch_labels), split))
    return ImageDataset(
        images=np.concatenate(images),
        labels=np.concatenate(labels),
        class_names=class_names,
        provenance={"source": "cifar10", "files": files},
        extra={OFFICIAL_SPLIT: np.concatenate(marks)} if mark_splits else {},
    )


@SOURCES.register("cifar10", settings=DownloadSettings, labelled=True, official_test=True)
def read(settings: DownloadSettings, ingest: IngestSettingsBase) -> ImageDataset:
    """The ``cifar10`` source from its validated block: the batches ``splits`` names, or all,
    marked, with ``ingest.test_split: official``."""
    official = ingest.test_split == "official"
    splits = SPLITS if official else settings.splits
    return load_cifar10_dataset(settings.root, splits, settings.download, mark_splits=official)
