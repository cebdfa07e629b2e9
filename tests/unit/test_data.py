"""The canonical form, its split and subsets, and the readers it is most often made from: IDX
files (the MNIST family) and scikit-learn's digits."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from crl_pipelines.images import (
    DataError,
    ImageDataset,
    drop_duplicate_images,
    stratified_split,
    stratified_subsample,
)
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.sources.idx import load_mnist_dataset, read_idx


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` in the IDX format (big-endian header: 0, 0, type code, ndim, dims)."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    array = np.asarray(array)
    if array.dtype.kind in "if" and array.dtype != np.uint8:
        array = array.astype(array.dtype.newbyteorder(">"))
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)


def write_mnist(
    root: Path, split: str, images: np.ndarray, labels: np.ndarray, compress: bool = False
) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if compress else ""
    write_idx(raw / f"{prefix}-images-idx3-ubyte{suffix}", images, compress)
    write_idx(raw / f"{prefix}-labels-idx1-ubyte{suffix}", labels, compress)


def fake_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_uint8_and_int32(tmp_path, compress):
    """IDX files written in the real byte layout read back exactly (plain and gzip)."""
    images = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    write_idx(tmp_path / "images.idx", images, compress)
    ints = np.arange(-3, 9, dtype=np.int32).reshape(3, 4)
    write_idx(tmp_path / "ints.idx", ints, compress)
    path = tmp_path / "images.idx"
    if compress:
        (tmp_path / "images.idx").rename(tmp_path / "images.idx.gz")
        (tmp_path / "ints.idx").rename(tmp_path / "ints.idx.gz")
        path = tmp_path / "images.idx.gz"
    np.testing.assert_array_equal(read_idx(path), images)
    np.testing.assert_array_equal(
        read_idx(tmp_path / ("ints.idx.gz" if compress else "ints.idx")), ints
    )


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path):
    """A non-IDX file and a truncated one each stop with a message naming the file."""
    bad = tmp_path / "not-idx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(DataError, match=r"not-idx.*not an IDX file"):
        read_idx(bad)
    good = tmp_path / "cut-idx"
    write_idx(good, np.zeros((4, 2, 2), dtype=np.uint8))
    good.write_bytes(good.read_bytes()[:-3])
    with pytest.raises(DataError, match=r"cut-idx.*truncated"):
        read_idx(good)


def test_mnist_reads_torchvision_layout_and_pools_splits(tmp_path):
    """MNIST files under <root>/MNIST/raw are read as N×1×28×28 uint8 with their labels."""
    train_images, train_labels = fake_mnist(30, 0)
    test_images, test_labels = fake_mnist(20, 1)
    write_mnist(tmp_path, "train", train_images, train_labels)
    write_mnist(tmp_path, "test", test_images, test_labels, compress=True)
    train_only = load_mnist_dataset(tmp_path)
    assert train_only.images.shape == (30, 1, 28, 28)
    np.testing.assert_array_equal(train_only.images[:, 0], train_images)
    np.testing.assert_array_equal(train_only.labels, train_labels)
    both = load_mnist_dataset(tmp_path, splits=("train", "test"))
    assert len(both.labels) == 50
    np.testing.assert_array_equal(both.images[30:, 0], test_images)
    assert both.class_names == tuple("0123456789")


def test_mnist_missing_files_name_the_file_and_the_download_switch(tmp_path):
    """Without the files and without download permission the error says what to do."""
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*download: true"):
        load_mnist_dataset(tmp_path)


def test_mnist_images_and_labels_of_different_length(tmp_path):
    images, labels = fake_mnist(10, 0)
    write_mnist(tmp_path, "train", images, labels[:9])
    with pytest.raises(DataError, match=r"10 images but .* 9 labels"):
        load_mnist_dataset(tmp_path)


def test_digits_is_canonical():
    """The bundled digits become uint8 N×1×8×8 with the full 0..255 range and 10 classes."""
    digits = load_digits_dataset()
    assert digits.images.shape == (1797, 1, 8, 8)
    assert digits.images.dtype == np.uint8
    assert digits.images.max() == 255
    assert digits.num_classes == 10
    assert digits.provenance["source"] == "sklearn.datasets.load_digits"


def test_round_trip_through_arrays():
    digits = load_digits_dataset()
    again = ImageDataset.from_arrays(digits.to_arrays())
    np.testing.assert_array_equal(again.images, digits.images)
    np.testing.assert_array_equal(again.labels, digits.labels)
    assert again.class_names == digits.class_names
    assert again.provenance == digits.provenance
    assert all(value.dtype != object for value in digits.to_arrays().values())


def test_split_is_disjoint_stratified_and_seeded():
    """Train and test share no image (by index and by content), keep class proportions,
    and the same seed gives the same split."""
    digits = load_digits_dataset()
    train, test = stratified_split(digits, 0.25, seed=3)
    assert len(train.labels) + len(test.labels) == len(digits.labels)
    train_rows = {row.tobytes() for row in train.images}
    test_rows = {row.tobytes() for row in test.images}
    assert not train_rows & test_rows
    proportions = np.bincount(digits.labels) / len(digits.labels)
    np.testing.assert_allclose(np.bincount(test.labels) / len(test.labels), proportions, atol=0.01)
    again, _ = stratified_split(digits, 0.25, seed=3)
    np.testing.assert_array_equal(again.images, train.images)
    other, _ = stratified_split(digits, 0.25, seed=4)
    assert not np.array_equal(other.labels, train.labels) or not np.array_equal(
        other.images, train.images
    )
    assert train.provenance["split"] == "train" and test.provenance["split"] == "test"


def test_split_rejects_a_class_with_one_image_and_bad_fraction():
    digits = load_digits_dataset()
    lonely = np.concatenate(
        [np.flatnonzero(digits.labels != 7), np.flatnonzero(digits.labels == 7)[:1]]
    )
    with pytest.raises(DataError, match="'7' \\(1\\)"):
        stratified_split(digits.subset(lonely), 0.2, seed=0)
    with pytest.raises(DataError, match="test_fraction"):
        stratified_split(digits, 1.5, seed=0)


def test_duplicates_are_dropped_once():
    digits = load_digits_dataset()
    doubled = digits.subset(np.concatenate([np.arange(50), np.arange(10)]))
    unique, dropped = drop_duplicate_images(doubled)
    assert dropped == 10
    np.testing.assert_array_equal(unique.images, digits.images[:50])


def test_stratified_subsample_keeps_proportions():
    digits = load_digits_dataset()
    subset = stratified_subsample(digits, 300, seed=0)
    assert len(subset.labels) == 300
    assert np.bincount(subset.labels).min() >= 28
    with pytest.raises(DataError, match="subset_size"):
        stratified_subsample(digits, 0, seed=0)


def test_invalid_canonical_forms_are_rejected():
    with pytest.raises(DataError, match="uint8"):
        ImageDataset(np.zeros((2, 8, 8)), np.zeros(2, dtype=np.int64), ("a",))
    with pytest.raises(DataError, match="empty"):
        ImageDataset(np.zeros((0, 1, 8, 8), np.uint8), np.zeros(0, dtype=np.int64), ("a",))
    with pytest.raises(DataError, match="labels must lie"):
        ImageDataset(np.zeros((2, 1, 8, 8), np.uint8), np.array([0, 3]), ("a", "b"))


def test_extra_arrays_travel_through_subset_and_arrays():
    """Per-image ``extra`` arrays follow subset, to_arrays and from_arrays (as extra__<name>)."""
    digits = load_digits_dataset().subset(np.arange(30))
    tagged = ImageDataset(
        digits.images,
        digits.labels,
        digits.class_names,
        {"source": "test"},
        {
            "digit_labels": np.arange(60).reshape(30, 2),
            "files": np.array([f"{i}.png" for i in range(30)]),
        },
    )
    part = tagged.subset(np.array([3, 7]))
    np.testing.assert_array_equal(part.extra["digit_labels"], [[6, 7], [14, 15]])
    arrays = part.to_arrays()
    assert "extra__digit_labels" in arrays and "extra__files" in arrays
    again = ImageDataset.from_arrays(arrays)
    np.testing.assert_array_equal(again.extra["files"], ["3.png", "7.png"])
    with pytest.raises(DataError, match="extra array 'bad' must hold one row per image"):
        ImageDataset(digits.images, digits.labels, digits.class_names, {}, {"bad": np.zeros(3)})


def test_unlabelled_means_minus_one_and_no_class_names():
    """−1 labels are allowed only without class names; ``labelled`` says which it is."""
    images = np.zeros((3, 1, 4, 4), np.uint8)
    unlabelled = ImageDataset(images, np.full(3, -1), ())
    assert not unlabelled.labelled and unlabelled.num_classes == 0
    again = ImageDataset.from_arrays(unlabelled.to_arrays())
    assert again.class_names == () and not again.labelled
    assert ImageDataset(images, np.zeros(3, np.int64), ("a",)).labelled
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.0 .*-1, unlabelled"):
        ImageDataset(images, np.array([0, -1, 0]), ("a",))
    with pytest.raises(DataError, match="without class names is unlabelled"):
        ImageDataset(images, np.array([0, -1, -1]), ())


def test_protected_channels_are_the_randbits_channels_of_the_provenance():
    """Augmentations leave ``protected_channels`` alone: the RandBits count, 0 without any."""
    images = np.zeros((2, 3, 4, 4), np.uint8)
    plain = ImageDataset(images, np.zeros(2, np.int64), ("a",), {"source": "test"})
    assert plain.protected_channels == 0
    bits = ImageDataset(images, np.zeros(2, np.int64), ("a",), {"randbits_channels": 2})
    assert bits.protected_channels == 2
    assert ImageDataset.from_arrays(bits.to_arrays()).protected_channels == 2
