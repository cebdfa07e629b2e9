"""Encoders and the project's Kedro datasets (real files, real torch.save/np.savez)."""

import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from kedro.io import DataCatalog, DatasetError
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure

from crl_pipelines.atomic_writes import write_atomically
from crl_pipelines.datasets import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicTextDataset,
    FigureDataset,
    NpzDataset,
    RunResultsDataset,
    TorchModelDataset,
    UnreadableArtifactError,
)
from crl_pipelines.embed import embed_images
from crl_pipelines.errors import UserError
from crl_pipelines.lineage import StaleArtifactError
from crl_pipelines.models import build_encoder


@pytest.mark.parametrize(
    ("config", "size", "widths"),
    [
        (
            {"stem": "small"},
            8,
            {"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
        ),
        (
            {"stem": "guide"},
            28,
            {"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512},
        ),
        ({"arch": "small_cnn"}, 8, {"stem": 32, "layer1": 64, "layer2": 128}),
    ],
)
def test_encoder_embeds_and_pools_every_stage(config, size, widths):
    """Each backbone maps 1-channel images to the embedding, and each stage has its width."""
    encoder = build_encoder({**config, "embedding_dim": 16}, seed=0).eval()
    images = torch.randint(0, 256, (3, 1, size, size), dtype=torch.uint8)
    stages = encoder.stages(images)
    expected = {**widths, "projector": 16, "embedding": 16}
    assert {name: value.shape[1] for name, value in stages.items()} == expected
    torch.testing.assert_close(stages["embedding"], encoder(images))


def test_guide_stem_is_the_guides_conv():
    """The guide's stem: Conv2d(1, 64, 7, stride 2, padding 3), then the max-pool; fc → 32."""
    encoder = build_encoder({"stem": "guide"})
    conv = encoder.backbone["stem"][0]
    assert (conv.in_channels, conv.kernel_size, conv.stride, conv.padding) == (
        1, (7, 7), (2, 2), (3, 3),
    )  # fmt: skip
    assert isinstance(encoder.backbone["stem"][-1], torch.nn.MaxPool2d)
    (linear,) = encoder.projector
    assert linear.in_features == 512 and linear.out_features == 32


def test_mlp_head_and_backbone_representation():
    """head_layers=3 is Linear-BN-ReLU ×2 then Linear; representation=backbone scores the
    pooled backbone features while training still uses the projector."""
    encoder = build_encoder({"arch": "small_cnn", "head_layers": 3, "embedding_dim": 8,
                             "representation": "backbone"}, seed=0).eval()  # fmt: skip
    kinds = [type(layer).__name__ for layer in encoder.projector]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    images = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    stages = encoder.stages(images)
    torch.testing.assert_close(stages["embedding"], stages["layer2"])
    torch.testing.assert_close(stages["projector"], encoder(images))


def test_seeded_encoders_are_identical():
    a, b = build_encoder({}, seed=5), build_encoder({}, seed=5)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"stem": "huge"}, "model.stem"),
        ({"depth": 3}, r"model\.depth` is unknown"),
        ({"in_channels": 3, "input_mean": [0.5]}, "model.input_mean"),
        ({"head_layers": 5}, "model.head_layers"),
        ({"arch": "vit"}, "model.arch"),
    ],
)
def test_bad_model_config_names_the_parameter(config, message):
    with pytest.raises(ValueError, match=message):
        build_encoder(config)


def test_embed_images_batches_agree_with_one_pass():
    """Embedding in small batches equals one forward pass (eval mode: no batch statistics)."""
    encoder = build_encoder({"embedding_dim": 8}, seed=1)
    images = np.random.default_rng(0).integers(0, 256, (10, 1, 8, 8), dtype=np.uint8)
    batched = embed_images(encoder, images, batch_size=3)
    whole = embed_images(encoder, images, batch_size=100)
    assert set(batched) == {
        "stem",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "projector",
        "embedding",
    }
    np.testing.assert_allclose(batched["embedding"], whole["embedding"], rtol=1e-5, atol=1e-6)


def test_npz_dataset_round_trip_and_no_pickle(tmp_path):
    dataset = NpzDataset(filepath=str(tmp_path / "sub" / "arrays.npz"))
    assert not dataset.exists()
    arrays = {
        "x": np.arange(6).reshape(2, 3),
        "names": np.asarray(["a", "b"]),
        "note": np.asarray("{}"),
    }
    dataset.save(arrays)
    loaded = dataset.load()
    assert dataset.exists()
    assert set(loaded) == set(arrays)
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    assert loaded["names"].tolist() == ["a", "b"]
    with pytest.raises(DatasetError, match="Python objects"):
        dataset.save({"bad": np.asarray([{"a": 1}], dtype=object)})
    np.testing.assert_array_equal(dataset.load()["x"], arrays["x"])  # the good file is untouched
    assert list((tmp_path / "sub").iterdir()) == [tmp_path / "sub" / "arrays.npz"]  # no temp left


def test_failed_save_leaves_the_previous_artifact(tmp_path):
    """An exception mid-save leaves the earlier file whole and no temporary file behind."""
    path = tmp_path / "model.pt"
    dataset = TorchModelDataset(filepath=str(path))
    dataset.save(build_encoder({"embedding_dim": 4}, seed=0))
    before = path.read_bytes()

    class Broken(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = {"embedding_dim": 4}

        def state_dict(self, *args, **kwargs):
            return {"weight": lambda: "cannot be pickled"}  # torch.save fails mid-write

    with pytest.raises(Exception, match="pickle"):
        dataset.save(Broken())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_torch_model_dataset_rebuilds_the_encoder(tmp_path):
    """Weights + config round-trip: the loaded encoder computes the same embeddings."""
    encoder = build_encoder({"embedding_dim": 6, "stem": "guide"}, seed=2).eval()
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.pt"))
    dataset.save(encoder)
    loaded = dataset.load()
    assert loaded.config == encoder.config
    images = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    torch.testing.assert_close(loaded(images), encoder(images))


def test_torch_model_dataset_refuses_foreign_files(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(DatasetError, match="not an encoder"):
        TorchModelDataset(filepath=str(path)).load()


# --- Atomic saves: the same bytes as before, and a failed save changes nothing ----------------

SUMMARY = {"class_names": ["0", "1"], "train_images": 210, "ratio": 0.3, "note": "é ✓",
           "nested": {"values": [1, 2.5, None, True]}}  # fmt: skip
TABLE = pd.DataFrame({"run": ["ntxent", "triplet"], "probe": [0.91, 0.875], "seeds": [1, 2]})
REPORT = "<h1>Report ✓</h1>\n<p>é</p>\n"
KEDRO_DATASETS = [
    (AtomicJSONDataset, JSONDataset, SUMMARY, {}),
    (AtomicJSONDataset, JSONDataset, SUMMARY, {"save_args": {"indent": None, "sort_keys": True}}),
    (AtomicCSVDataset, CSVDataset, TABLE, {}),
    (AtomicCSVDataset, CSVDataset, TABLE, {"save_args": {"index": True, "sep": ";"}}),
    (AtomicTextDataset, TextDataset, REPORT, {}),
]


def hidden_and_all(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included."""
    return sorted(os.listdir(folder))


def assert_same(loaded, expected) -> None:
    if isinstance(expected, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, expected)
    else:
        assert loaded == expected


@pytest.mark.parametrize(("atomic", "original", "data", "args"), KEDRO_DATASETS)
def test_atomic_dataset_is_the_kedro_dataset_with_another_save(
    tmp_path, atomic, original, data, args
):
    """Same bytes on disk, same load, same description as kedro-datasets' class (the default
    arguments round-trip); the target and nothing else is left in the folder."""
    ours = atomic(filepath=str(tmp_path / "ours" / "artifact"), **args)
    theirs = original(filepath=str(tmp_path / "theirs" / "artifact"), **args)
    ours.save(data)
    theirs.save(data)
    assert (tmp_path / "ours/artifact").read_bytes() == (tmp_path / "theirs/artifact").read_bytes()
    assert_same(ours.load(), theirs.load())
    if not args:
        assert_same(ours.load(), data)
    described = {key: value for key, value in ours._describe().items() if key != "filepath"}
    assert described == {key: v for key, v in theirs._describe().items() if key != "filepath"}
    assert hidden_and_all(tmp_path / "ours") == ["artifact"]


def test_atomic_json_and_csv_bytes_are_json_dumps_and_to_csv(tmp_path):
    """The bytes the catalog's entries (default save_args) write, spelled out."""
    AtomicJSONDataset(filepath=str(tmp_path / "summary.json")).save(SUMMARY)
    assert (tmp_path / "summary.json").read_bytes() == json.dumps(SUMMARY, indent=2).encode()
    AtomicCSVDataset(filepath=str(tmp_path / "table.csv"), save_args={"index": False}).save(TABLE)
    assert (tmp_path / "table.csv").read_bytes() == TABLE.to_csv(index=False).encode()


def test_atomic_datasets_preview_for_kedro_viz(tmp_path):
    """kedro-viz's previews: the JSON text, and the table's first ``nrows`` rows (the catalog's
    ``preview_args``)."""
    json_dataset = AtomicJSONDataset(filepath=str(tmp_path / "summary.json"))
    json_dataset.save(SUMMARY)
    assert json_dataset.preview() == json.dumps(SUMMARY)
    table = AtomicCSVDataset(filepath=str(tmp_path / "table.csv"))
    table.save(TABLE)
    assert table.preview(nrows=1) == {
        "index": [0], "columns": ["run", "probe", "seeds"], "data": [["ntxent", 0.91, 1]],
    }  # fmt: skip
    assert table.preview(nrows=1000)["data"] == TABLE.values.tolist()
    for ours, theirs in ((AtomicJSONDataset, JSONDataset), (AtomicCSVDataset, CSVDataset)):
        assert inspect.signature(ours.preview) == inspect.signature(theirs.preview)  # viz's type


def test_atomic_datasets_keep_their_catalog_configuration(tmp_path):
    """Kedro records a dataset's arguments (``catalog.to_config``) as for kedro-datasets'."""
    entry = {"filepath": str(tmp_path / "table.csv"), "save_args": {"index": False}}
    catalog = DataCatalog.from_config(
        {
            "ours": {"type": "crl_pipelines.datasets.AtomicCSVDataset", **entry},
            "theirs": {"type": "pandas.CSVDataset", **entry},
        }
    )
    catalog.save("ours", TABLE)
    catalog.load("theirs")
    config = catalog.to_config()[0]
    # Kedro records the class where it is defined, one dataset class per module
    assert (
        config["ours"].pop("type") == "crl_pipelines.datasets.atomic_csv_dataset.AtomicCSVDataset"
    )
    assert config["theirs"].pop("type") == "kedro_datasets.pandas.csv_dataset.CSVDataset"
    assert config["ours"] == config["theirs"]
    assert config["ours"]["filepath"] == entry["filepath"]


class Unprintable:
    def __str__(self) -> str:
        raise ValueError("no text for this cell")


@pytest.mark.parametrize(
    ("dataset", "good", "bad"),
    [
        (AtomicJSONDataset, SUMMARY, {"ok": 1, "bad": object()}),  # json.dump fails mid-file
        (AtomicCSVDataset, TABLE, pd.DataFrame({"run": ["a", Unprintable()]})),
        (AtomicTextDataset, REPORT, "half written \ud800"),  # no UTF-8 for a lone surrogate
    ],
)
def test_failed_atomic_save_keeps_the_previous_file(tmp_path, dataset, good, bad):
    path = tmp_path / "artifact"
    dataset(filepath=str(path)).save(good)
    before = path.read_bytes()
    with pytest.raises(DatasetError):
        dataset(filepath=str(path)).save(bad)
    assert path.read_bytes() == before
    assert hidden_and_all(tmp_path) == ["artifact"]


def test_atomic_datasets_refuse_remote_files():
    with pytest.raises(DatasetError, match="local files only"):
        AtomicJSONDataset(filepath="memory://reports/metrics.json").save(SUMMARY)


def test_every_catalog_entry_saves_atomically():
    """conf/base/catalog.yml uses this module's datasets only (each saves atomically)."""
    catalog = yaml.safe_load((Path(__file__).parents[2] / "conf/base/catalog.yml").read_text())
    atomic = {
        "NpzDataset",
        "TorchModelDataset",
        "FigureDataset",
        "AtomicJSONDataset",
        "AtomicCSVDataset",
        "AtomicTextDataset",
        "RunResultsDataset",
        "FolderDataset",
    }  # fmt: skip  (FolderDataset: each file atomically)
    assert issubclass(RunResultsDataset, AtomicJSONDataset)  # its save is the atomic JSON one
    types = {entry["type"] for entry in catalog.values()}
    assert types <= {f"crl_pipelines.datasets.{name}" for name in atomic}


def test_npz_torch_and_figure_bytes(tmp_path):
    """NpzDataset writes what np.savez writes (member by member: numpy stamps each member with
    the clock, ours with a fixed date, so the same arrays give the same bytes on every save);
    TorchModelDataset what torch.save writes to a file object, the same on every save;
    FigureDataset what savefig writes."""
    arrays = {"x": np.arange(6).reshape(2, 3), "names": np.asarray(["a", "b"])}
    npz = NpzDataset(filepath=str(tmp_path / "arrays.npz"))
    npz.save(arrays)
    first = (tmp_path / "arrays.npz").read_bytes()
    time.sleep(2.1)  # the zip format's clock has a resolution of 2 s
    npz.save(arrays)
    assert (tmp_path / "arrays.npz").read_bytes() == first
    assert {key: value.tolist() for key, value in npz.load().items()} == {
        key: value.tolist() for key, value in arrays.items()
    }
    expected = io.BytesIO()
    np.savez(expected, **arrays)
    with zipfile.ZipFile(tmp_path / "arrays.npz") as ours, zipfile.ZipFile(expected) as theirs:
        assert ours.namelist() == theirs.namelist()
        assert all(ours.read(name) == theirs.read(name) for name in theirs.namelist())

    encoder = build_encoder({"arch": "small_cnn", "embedding_dim": 4}, seed=0)
    dataset = TorchModelDataset(filepath=str(tmp_path / "model.pt"))
    dataset.save(encoder)
    first = (tmp_path / "model.pt").read_bytes()
    dataset.save(encoder)
    expected = io.BytesIO()
    torch.save({"config": encoder.config, "state_dict": encoder.state_dict()}, expected)
    assert (tmp_path / "model.pt").read_bytes() == first == expected.getvalue()

    figure = Figure(figsize=(2, 2))
    figure.add_subplot().plot([1, 3, 2])
    FigureDataset(filepath=str(tmp_path / "plot.png"), save_args={"dpi": 40}).save(figure)
    figure.savefig(tmp_path / "direct.png", format="png", dpi=40)
    assert (tmp_path / "plot.png").read_bytes() == (tmp_path / "direct.png").read_bytes()


def test_atomic_write_gives_a_normal_file_mode(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "artifact", lambda temporary: temporary.write_text("new"))
    finally:
        os.umask(umask)
    assert (tmp_path / "artifact").stat().st_mode & 0o777 == 0o644


def test_interrupted_atomic_write_keeps_the_previous_file(tmp_path):
    """Ctrl-C halfway through a write: the old file stays, the temporary file goes."""
    path = tmp_path / "artifact"
    path.write_bytes(b"old")

    def interrupted(temporary: Path) -> None:
        temporary.write_bytes(b"half of the n")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically(path, interrupted)
    assert path.read_bytes() == b"old"
    assert hidden_and_all(tmp_path) == ["artifact"]


@pytest.mark.processes
def test_atomic_write_removes_what_killed_writers_left(tmp_path):
    """A temporary file whose writer process is gone is removed by the next save of its target;
    one of a running writer (here, this process) is kept."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
    orphan = tmp_path / f".artifact.{finished.stdout.strip()}.0a1b2c3d.tmp"
    running = tmp_path / f".artifact.{os.getpid()}.4e5f6a7b.tmp"
    orphan.write_bytes(b"left by a killed writer")
    running.write_bytes(b"still being written")
    write_atomically(tmp_path / "artifact", lambda temporary: temporary.write_text("new"))
    assert hidden_and_all(tmp_path) == sorted(["artifact", running.name])


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("touch code-ran",))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "unsafe pickle"])
def test_unreadable_artifacts_are_named_never_loaded_unsafely(tmp_path, monkeypatch, damage):
    """A damaged model or .npz on disk gives one message naming it and the fix (a user error,
    shown without a traceback), and a pickle that would run code is never run."""
    monkeypatch.chdir(tmp_path)
    model = TorchModelDataset(filepath=str(tmp_path / "model.pt"))
    model.save(build_encoder({"arch": "small_cnn", "embedding_dim": 4}, seed=0))
    npz = NpzDataset(filepath=str(tmp_path / "arrays.npz"))
    npz.save({"x": np.arange(3)})
    for path in (tmp_path / "model.pt", tmp_path / "arrays.npz"):
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:200])
        elif damage == "garbage":
            path.write_bytes(b"hello")
        else:
            torch.save({"config": _RunsCode()}, path)
    for dataset, path in ((model, "model.pt"), (npz, "arrays.npz")):
        with pytest.raises(UnreadableArtifactError, match=rf"{tmp_path / path} is not .* safely"):
            dataset.load()
    assert not (tmp_path / "code-ran").exists()
    assert issubclass(UnreadableArtifactError, UserError)


def test_run_results_name_their_figures_and_load_them_checked(tmp_path):
    """A run's results hold each figure by file name and digest (the PNG is the figure dataset's
    own file, not copied); they load back with the PNG bytes, and a figure changed since they
    were written, or missing, is refused with the file named."""
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1])
    FigureDataset(filepath=str(tmp_path / "pca.png")).save(figure)
    png = (tmp_path / "pca.png").read_bytes()
    record = {"scores": {"probe_accuracy": 0.9}, "figures": {"pca": {"file": "pca.png"}}}
    record["figures"]["pca"]["sha256"] = hashlib.sha256(png).hexdigest()
    results = RunResultsDataset(filepath=str(tmp_path / "results.json"))
    results.save(record)
    assert json.loads((tmp_path / "results.json").read_text()) == record  # no bytes inside
    assert results.preview() == json.dumps(record)
    loaded = results.load()
    assert loaded["figures"]["pca"]["png"] == png and loaded["scores"] == record["scores"]
    (tmp_path / "pca.png").write_bytes(png + b"changed")
    with pytest.raises(StaleArtifactError, match=rf"{tmp_path / 'pca.png'} is not the pca"):
        results.load()
    (tmp_path / "pca.png").unlink()
    with pytest.raises(UnreadableArtifactError, match=rf"{tmp_path / 'pca.png'} is not the pca"):
        results.load()
