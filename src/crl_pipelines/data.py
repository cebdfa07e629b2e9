"""The canonical form of a dataset, the IDX (MNIST-family) readers, and the train/test split.

Every source ends up as an :class:`ImageDataset`: uint8 images N×C×H×W, integer labels 0..K-1
(or all −1 for an unlabelled dataset, which has no class names), the class names, a provenance
record saying where the images came from, and optional per-image arrays (``extra``, e.g. the
per-digit labels of MultiDigit). That one form is what the rest of the project reads, whatever the
source was. The other readers (CIFAR-10, image folders, ``.npz``, MultiDigit, RandBits) are in
:mod:`crl_pipelines.sources`, which this module does not import, so the stages that only read the
canonical form do not depend on them.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# IDX type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT").
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# torchvision's on-disk names for MNIST under <root>/MNIST/raw/ (Fashion-MNIST and KMNIST use the
# same four names under <root>/FashionMNIST/raw/ and <root>/KMNIST/raw/).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# Class names as torchvision.datasets.FashionMNIST.classes and KMNIST.classes have them (copied, so
# no torchvision dataset is instantiated without its files).
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")


@dataclass(frozen=True)
class IdxSource:
    """An MNIST-family dataset in torchvision's layout: ``<root>/<folder>/raw/`` (IDX files)."""

    title: str  # for messages
    folder: str  # torchvision's folder name, also the torchvision.datasets class name
    class_names: tuple[str, ...]


IDX_SOURCES = {
    "mnist": IdxSource("MNIST", "MNIST", tuple(str(digit) for digit in range(10))),
    "fashion_mnist": IdxSource("Fashion-MNIST", "FashionMNIST", FASHION_MNIST_CLASSES),
    "kmnist": IdxSource("KMNIST", "KMNIST", KMNIST_CLASSES),
}

EXTRA_PREFIX = "extra__"  # key prefix of the per-image arrays in ``ImageDataset.to_arrays``


class DataError(ValueError):
    """Input data that cannot be used; the message names the file, class or parameter at fault."""


@dataclass(frozen=True)
class ImageDataset:
    """Images in the project's canonical form.

    Attributes:
        images: uint8 array N×C×H×W.
        labels: int64 array of N class indices into ``class_names``; all −1 ("unlabelled") when,
            and only when, ``class_names`` is empty.
        class_names: one name per class; empty for an unlabelled dataset.
        provenance: where the images came from (JSON-serialisable). ``randbits_channels``, when
            present, is the number of trailing channels that are RandBits (random bits shared by
            both views of an image): augmentations must leave those channels alone.
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

    def subset(self, indices: np.ndarray, **provenance: Any) -> ImageDataset:
        """The images at ``indices``, with ``provenance`` added to the record."""
        return ImageDataset(
            self.images[indices],
            self.labels[indices],
            self.class_names,
            {**self.provenance, **provenance},
            {name: array[indices] for name, array in self.extra.items()},
        )

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


def load_digits_dataset() -> ImageDataset:
    """scikit-learn's bundled 8×8 digits (1797 images, 10 classes), scaled from 0..16 to 0..255."""
    import sklearn
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return ImageDataset(
        images=images,
        labels=digits.target.astype(np.int64),
        class_names=tuple(str(name) for name in digits.target_names),
        provenance={"source": "sklearn.datasets.load_digits", "sklearn": sklearn.__version__},
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (MNIST's format), plain or gzip-compressed, into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path} is truncated or padded: header says {shape} ({expected} bytes of data), "
            f"file holds {len(raw) - header}"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _find_idx(raw_dir: Path, name: str) -> Path | None:
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_mnist_dataset(
    root: str | Path, splits: tuple[str, ...] = ("train",), download: bool = False
) -> ImageDataset:
    """MNIST from its IDX files in torchvision's layout, ``<root>/MNIST/raw/``.

    Args:
        root: the folder holding ``MNIST/raw`` (``data/01_raw`` in this project).
        splits: which official files to pool: ``train`` (60 000) and/or ``test`` (10 000).
            The project makes its own stratified split from the pool.
        download: fetch the files with torchvision when they are missing. Off by default: a run
            never reaches the network unless the parameters say so.
    """
    return load_idx_dataset(root, "mnist", splits, download)


def load_idx_dataset(
    root: str | Path, name: str, splits: tuple[str, ...] = ("train",), download: bool = False
) -> ImageDataset:
    """An MNIST-family dataset (``mnist``, ``fashion_mnist``, ``kmnist``) from its IDX files in
    torchvision's layout, ``<root>/<MNIST|FashionMNIST|KMNIST>/raw/`` (plain or ``.gz``).

    Args:
        root: the folder holding ``<Folder>/raw`` (``data/01_raw`` in this project).
        name: a key of :data:`IDX_SOURCES`; also the parameter block (``ingest.<name>``) that
            messages point to.
        splits: which official files to pool: ``train`` and/or ``test``.
        download: fetch missing files with ``torchvision.datasets.<Folder>(root, download=True)``.
    """
    if name not in IDX_SOURCES:
        raise DataError(f"unknown IDX dataset {name!r}; known: {sorted(IDX_SOURCES)}")
    spec = IDX_SOURCES[name]
    raw_dir = Path(root) / spec.folder / "raw"
    unknown = set(splits) - set(MNIST_FILES)
    if unknown or not splits:
        raise DataError(
            f"ingest.{name}.splits must name some of {sorted(MNIST_FILES)}, got {list(splits)}"
        )
    needed = [file for split in splits for file in MNIST_FILES[split]]
    if download and any(_find_idx(raw_dir, file) is None for file in needed):
        import torchvision.datasets

        dataset_class = getattr(torchvision.datasets, spec.folder)
        for split in splits:
            dataset_class(str(root), train=split == "train", download=True)
    images, labels, files = [], [], []
    for split in splits:
        image_name, label_name = MNIST_FILES[split]
        image_path, label_path = _find_idx(raw_dir, image_name), _find_idx(raw_dir, label_name)
        for file, found in ((image_name, image_path), (label_name, label_path)):
            if found is None:
                raise DataError(
                    f"{spec.title} file {raw_dir / file} (or {file}.gz) is missing: put "
                    f"torchvision's {spec.title} files there, or set ingest.{name}.download: true"
                )
        split_images, split_labels = read_idx(image_path), read_idx(label_path)
        if split_images.ndim != 3 or split_labels.ndim != 1:
            raise DataError(
                f"{image_path} must hold N×H×W images and {label_path} N labels, "
                f"got {split_images.shape} and {split_labels.shape}"
            )
        if len(split_images) != len(split_labels):
            raise DataError(
                f"{image_path} holds {len(split_images)} images but {label_path} "
                f"holds {len(split_labels)} labels"
            )
        if len(split_images) == 0:
            raise DataError(f"{image_path} holds no images")
        if split_images.dtype != np.uint8:
            raise DataError(f"{image_path} must hold uint8 pixels, got {split_images.dtype}")
        images.append(split_images[:, None])
        labels.append(split_labels.astype(np.int64))
        files += [str(image_path), str(label_path)]
    all_labels = np.concatenate(labels)
    top = len(spec.class_names) - 1
    if all_labels.min() < 0 or all_labels.max() > top:
        raise DataError(
            f"{spec.title} labels must lie in 0..{top}, "
            f"found {all_labels.min()}..{all_labels.max()}"
        )
    return ImageDataset(
        images=np.concatenate(images),
        labels=all_labels,
        class_names=spec.class_names,
        provenance={"source": name, "files": files},
    )


def drop_duplicate_images(dataset: ImageDataset) -> tuple[ImageDataset, int]:
    """Keep the first copy of every pixel-identical image, so no image can land in both halves."""
    rows = np.ascontiguousarray(dataset.images.reshape(len(dataset.images), -1))
    keys = rows.view(np.dtype((np.void, rows.shape[1])))[:, 0]
    _, first = np.unique(keys, return_index=True)
    first.sort()
    dropped = len(rows) - len(first)
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
