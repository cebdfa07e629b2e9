"""Encoders and the project's Kedro datasets (real files, real torch.save/np.savez)."""

import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from crl_pipelines.datasets import NpzDataset, TorchModelDataset
from crl_pipelines.embed import embed_images
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
