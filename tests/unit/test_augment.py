"""Unit tests for the batched augmentations package, each checked by its invariants."""

from __future__ import annotations

import math

import pytest
import torch

from crl_pipelines.augment import (
    AUGMENTATIONS,
    AugmentConfig,
    AugmentSettings,
    apply,
    augment,
    default_params,
    geometry,
    looc_parameters,
    looc_views,
    make_generator,
    sample_parameters,
)
from crl_pipelines.augment.base import Augmentation, coin, where_applied
from crl_pipelines.augment.crop import CropSettings
from crl_pipelines.augment.geometry import Geometric, identity
from crl_pipelines.parameters import ParameterError, Probability, Settings

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = pytest.mark.parametrize(
    "device", ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu, CUDA])]
)
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def channels_for(name: str) -> int:
    return 3 if name == "color_jitter" else 1


def config_for(name: str, **settings) -> AugmentConfig:
    """Only augmentation ``name`` (p = 1 where it has one), with ``settings`` over the defaults."""
    params = dict(settings)
    if "p" in AUGMENTATIONS[name].Settings.model_fields:
        params.setdefault("p", 1.0)
    return AugmentConfig.from_params({name: params}, channels_for(name))


def noise(batch=8, channels=1, height=28, width=28, seed=0, low=0, high=256, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(low, high, (batch, channels, height, width), generator=generator)
    return images.to(torch.uint8).to(device)


def same_image(batch=16, channels=1, size=28, seed=0, device="cpu"):
    """One smooth-ish random image repeated ``batch`` times."""
    image = noise(1, channels, size, size, seed=seed).float()
    image = torch.nn.functional.avg_pool2d(image, 3, stride=1, padding=1)
    return image.round().to(torch.uint8).repeat(batch, 1, 1, 1).to(device)


# --- configuration ---------------------------------------------------------------------------


def test_default_policy_depends_on_channels():
    gray = AugmentConfig.from_params(None, 1)
    rgb = AugmentConfig.from_params(None, 3)
    assert gray.enabled == ("crop", "rotation", "brightness_contrast", "blur")
    assert rgb.enabled == ("crop", "flip", "brightness_contrast", "color_jitter", "blur")
    assert gray.settings["crop"] == CropSettings(scale=(0.6, 1.0), ratio=(3 / 4, 4 / 3))
    assert gray.settings["rotation"].degrees == (-15.0, 15.0)
    assert set(default_params(1)) == set(gray.enabled)
    assert AugmentConfig.from_params({}, 1).enabled == ()


def test_params_merge_over_defaults_and_round_trip():
    config = AugmentConfig.from_params(
        {"rotation": {"degrees": 30}, "blur": None, "crop": {"scale": [0.5, 1]}}, 1
    )
    assert config.enabled == ("crop", "rotation", "blur")  # application order, not given order
    assert config.settings["rotation"].degrees == (-30.0, 30.0)
    assert config.settings["crop"].scale == (0.5, 1.0)
    assert config.settings["crop"].ratio == (3 / 4, 4 / 3)
    assert config.settings["blur"] == AUGMENTATIONS["blur"].Settings()
    assert AugmentConfig.from_params(config.to_params(), 1) == config
    assert config.to_params()["crop"] == {"scale": [0.5, 1.0], "ratio": [3 / 4, 4 / 3]}


def test_unknown_augmentation_is_named_with_the_known_ones():
    with pytest.raises(
        ParameterError, match=r"`augment\.zoom` is unknown \(known here: crop, rotation, flip"
    ):
        AugmentConfig.from_params({"zoom": {}}, 1)
    with pytest.raises(ParameterError, match=r"`augment\.bluur` is unknown; did you mean 'blur'"):
        AugmentConfig.from_params({"bluur": {}}, 1)


def test_unknown_parameter_is_named_with_the_known_ones():
    with pytest.raises(
        ParameterError, match=r"`augment\.crop\.size` is unknown \(known here: scale, ratio\)"
    ):
        AugmentConfig.from_params({"crop": {"size": 24}}, 1)
    with pytest.raises(ParameterError, match=r"`augment\.crop\.scal` is unknown; did you mean"):
        AugmentConfig.from_params({"crop": {"scal": [0.5, 1.0]}}, 1)


def test_params_must_be_mappings():
    with pytest.raises(ParameterError, match=r"`augment` should be a mapping of settings"):
        AugmentConfig.from_params([{"crop": {}}], 1)
    with pytest.raises(ParameterError, match=r"`augment\.crop` should be a mapping of settings"):
        AugmentConfig.from_params({"crop": 0.5}, 1)


def test_the_augment_block_model_validates_without_channels():
    """`AugmentSettings` (for typed specifications) knows every augmentation, none by default;
    the channel check waits for `from_params`, which knows the images."""
    assert set(AugmentSettings.model_fields) == set(AUGMENTATIONS)
    block = AugmentSettings.model_validate({"color_jitter": None, "crop": {"scale": [0.5, 1]}})
    assert block.color_jitter == AUGMENTATIONS["color_jitter"].Settings()
    assert block.crop.scale == (0.5, 1.0) and block.blur is None
    assert set(block.model_dump()) == {"crop", "color_jitter"}  # only what was named
    assert AugmentSettings.model_validate(block.model_dump()) == block
    assert AugmentConfig.from_params(block, 3).enabled == ("crop", "color_jitter")
    with pytest.raises(ParameterError, match="color_jitter` needs 3-channel"):
        AugmentConfig.from_params(block, 1)


@pytest.mark.parametrize(
    ("name", "settings", "where"),
    [
        ("crop", {"scale": [0.0, 1.0]}, "augment.crop.scale"),
        ("crop", {"scale": [0.5, 1.2]}, "augment.crop.scale"),
        ("crop", {"ratio": [2.0, 1.0]}, "augment.crop.ratio"),
        ("crop", {"scale": 0.5}, "augment.crop.scale"),
        ("rotation", {"degrees": -5}, "augment.rotation.degrees"),
        ("flip", {"p": 1.5}, "augment.flip.p"),
        ("flip", {"p": "often"}, "augment.flip.p"),
        ("blur", {"sigma": [0.0, 1.0]}, "augment.blur.sigma"),
        ("brightness_contrast", {"contrast": [-1.0, 1.0]}, "augment.brightness_contrast.contrast"),
        ("color_jitter", {"hue": 0.7}, "augment.color_jitter.hue"),
    ],
)
def test_bad_values_name_the_parameter(name, settings, where):
    with pytest.raises(ParameterError, match=f"parameter `{where}` ".replace(".", r"\.")):
        AugmentConfig.from_params({name: settings}, channels_for(name))


def test_a_bad_range_says_what_it_should_be():
    with pytest.raises(
        ParameterError,
        match=r"^parameter `augment\.crop\.scale` should lie in \(0\.0, 1\.0\], "
        r"got \[0\.0, 1\.0\]$",
    ):
        AugmentConfig.from_params({"crop": {"scale": [0.0, 1.0]}}, 1)


def test_color_jitter_rejected_for_one_channel():
    with pytest.raises(ParameterError, match=r"`augment\.color_jitter` needs 3-channel"):
        AugmentConfig.from_params({"color_jitter": {}}, 1)


def test_channel_count_mismatch_is_reported():
    config = AugmentConfig.from_params({"flip": {}}, 1)
    with pytest.raises(ValueError, match=r"3 channels but the augment config expects 1 \+ 1"):
        augment(noise(channels=3), config, make_generator("cpu", 0), protected_channels=1)


def test_parameters_from_another_config_are_rejected():
    crop_only = AugmentConfig.from_params({"crop": {}}, 1)
    flip_only = AugmentConfig.from_params({"flip": {}}, 1)
    parameters = sample_parameters(crop_only, 8, make_generator("cpu", 0))
    with pytest.raises(ValueError, match="enables"):
        apply(noise(), parameters, flip_only)
    short = sample_parameters(crop_only, 4, make_generator("cpu", 0))
    with pytest.raises(ValueError, match=r"crop\.scale must be a tensor with first dimension 8"):
        apply(noise(), short, crop_only)


# --- per sample, reproducible, types ----------------------------------------------------------


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_parameters_are_drawn_per_sample(name):
    settings = {"p": 0.5} if "applied" in AUGMENTATIONS[name].keys else {}
    parameters = sample_parameters(config_for(name, **settings), 32, make_generator("cpu", 1))
    assert set(parameters) == {name}
    assert set(parameters[name]) == set(AUGMENTATIONS[name].keys)
    for key, tensor in parameters[name].items():
        assert tensor.shape[0] == 32, key
        assert len(torch.unique(tensor, dim=0)) > 1, f"{name}.{key} is one value for the batch"
    if "applied" in parameters[name]:
        assert parameters[name]["applied"].dtype == torch.bool


@DEVICES
@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_identical_images_get_different_views(name, device):
    """With p = 0.5 some images are left alone; a flip has only two outcomes."""
    images = same_image(16, channels_for(name), device=device)
    settings = {"p": 0.5} if "applied" in AUGMENTATIONS[name].keys else {}
    out = augment(images, config_for(name, **settings), make_generator(device, 2))
    distinct = len(torch.unique(out.flatten(1), dim=0))
    assert distinct == 2 if name == "flip" else distinct >= 6, (name, distinct)


@DEVICES
def test_same_seed_same_views_other_seed_other_views(device):
    config = AugmentConfig.from_params({**default_params(3), "rotation": {}}, 3)
    images = noise(16, 3, 32, 32, device=device)
    first = augment(images, config, make_generator(device, 7, 0, 3))
    again = augment(images, config, make_generator(device, 7, 0, 3))
    other = augment(images, config, make_generator(device, 7, 0, 4))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@DEVICES
@pytest.mark.parametrize("shape", [(5, 1, 28, 28), (3, 3, 24, 32), (4, 1, 8, 8)])
def test_dtype_shape_and_device_are_preserved(shape, device):
    channels = shape[1]
    images = noise(*shape, device=device)
    out = augment(images, AugmentConfig.from_params(None, channels), make_generator(device, 0))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert out.device == images.device
    floats = augment(
        images.double(), AugmentConfig.from_params(None, channels), make_generator(device, 0)
    )
    assert floats.dtype == torch.float64 and floats.shape == images.shape
    assert floats.min() >= 0 and floats.max() <= 255


def test_make_generator_mixes_its_parts():
    def draw(*parts):
        return torch.rand(4, generator=make_generator("cpu", *parts))

    assert torch.equal(draw(1, 2, 3), draw(1, 2, 3))
    assert not torch.equal(draw(1, 2, 3), draw(1, 3, 2))
    with pytest.raises(ValueError, match="non-negative"):
        make_generator("cpu", -1)


# --- identity settings ------------------------------------------------------------------------

IDENTITY = {
    "crop": {"scale": [1, 1], "ratio": [1, 1]},
    "rotation": {"degrees": 0},
    "flip": {"p": 0},
    "brightness_contrast": {"brightness": [1, 1], "contrast": [1, 1], "p": 1},
    "color_jitter": {"saturation": [1, 1], "hue": 0, "p": 1},
    "blur": {"p": 0},
}


@DEVICES
@pytest.mark.parametrize("name", [*AUGMENTATIONS, "all"])
def test_identity_settings_return_the_input(name, device):
    """uint8: exactly. float: within 1e-3 of an intensity level (resampling round-off)."""
    channels = 3 if name in ("color_jitter", "all") else 1
    params = IDENTITY if name == "all" else {name: IDENTITY[name]}
    config = AugmentConfig.from_params(params, channels)
    images = noise(8, channels, 28, 28, device=device)
    assert torch.equal(augment(images, config, make_generator(device, 0)), images)
    floats = augment(images.float(), config, make_generator(device, 0))
    torch.testing.assert_close(floats, images.float(), atol=1e-3, rtol=0)


# --- geometry ---------------------------------------------------------------------------------


@DEVICES
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_flip_with_p1_is_torch_flip(dtype, device):
    images = noise(6, 1, 20, 28, device=device).to(dtype)
    out = augment(images, config_for("flip"), make_generator(device, 0))
    assert torch.equal(out, torch.flip(images, dims=[-1]))


@DEVICES
@pytest.mark.parametrize(("degrees", "turns"), [(90, 1), (-90, -1), (180, 2)])
def test_rotation_by_right_angles_is_rot90(degrees, turns, device):
    images = noise(6, 1, 28, 28, device=device)
    config = config_for("rotation", degrees=[degrees, degrees])
    out = augment(images, config, make_generator(device, 0))
    assert torch.equal(out, torch.rot90(images, turns, dims=(-2, -1)))


def test_rotation_keeps_pixels_square_on_a_non_square_image():
    """An 8×8 square centred in a 24×32 image is its own 90° rotation, without aspect stretch."""
    images = torch.zeros(2, 1, 24, 32, dtype=torch.uint8)
    images[:, :, 8:16, 12:20] = 200
    out = augment(images, config_for("rotation", degrees=[90, 90]), make_generator("cpu", 0))
    assert torch.equal(out, images)


def test_flip_folded_into_rotation_is_exact():
    images = noise(4, 1, 28, 28)
    config = AugmentConfig.from_params({"rotation": {"degrees": [90, 90]}, "flip": {"p": 1}}, 1)
    out = augment(images, config, make_generator("cpu", 0))
    assert torch.equal(out, torch.rot90(images, 1, dims=(-2, -1)).flip(-1))


@DEVICES
def test_crop_keeps_a_constant_image_constant(device):
    images = torch.full((16, 1, 28, 28), 77, dtype=torch.uint8, device=device)
    out = augment(images, config_for("crop", scale=[0.2, 1.0]), make_generator(device, 0))
    assert torch.equal(out, images)


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_crop_zooms_by_one_over_sqrt_scale(scale):
    """A centred 8×8 square, cropped at area fraction s around the centre, grows to 8/√s."""
    images = torch.zeros(1, 1, 32, 32)
    images[:, :, 12:20, 12:20] = 255.0
    config = config_for("crop", scale=[scale, scale], ratio=[1, 1])
    parameters = {
        "crop": {
            "scale": torch.tensor([scale]),
            "ratio": torch.tensor([1.0]),
            "offset": torch.zeros(1, 2),
        }
    }
    out = apply(images, parameters, config)[0, 0]
    side = out.sum(dim=1).max() / 255  # the widest row's width, in pixels
    assert side == pytest.approx(8 / math.sqrt(scale), rel=0.02)
    assert out.sum() / 255 == pytest.approx(64 / scale, rel=0.02)
    rows = torch.arange(32.0).view(-1, 1)
    centre = (out * rows).sum() / out.sum()
    assert centre == pytest.approx(15.5, abs=1e-3)  # still centred


def test_crop_offsets_move_the_window():
    """With offset ∓1 the crop sits in a corner, and the corner pixel is the image's (edge pixels
    are replicated within the outer half pixel, not blended with black)."""
    images = noise(2, 1, 28, 28).float()
    config = config_for("crop", scale=[0.25, 0.25], ratio=[1, 1])
    parameters = {
        "crop": {
            "scale": torch.full((2,), 0.25),
            "ratio": torch.ones(2),
            "offset": torch.tensor([[-1.0, -1.0], [1.0, 1.0]]),
        }
    }
    out = apply(images, parameters, config)
    # Output pixel 0 of a half-size crop samples input coordinate −0.25 (pixel units).
    torch.testing.assert_close(out[0, 0, 0, 0], images[0, 0, 0, 0], atol=1e-3, rtol=0)
    torch.testing.assert_close(out[1, 0, -1, -1], images[1, 0, -1, -1], atol=1e-3, rtol=0)


# --- photometric ------------------------------------------------------------------------------


@DEVICES
def test_blur_keeps_a_constant_image_and_smooths_noise(device):
    constant = torch.full((8, 1, 28, 28), 100, dtype=torch.uint8, device=device)
    config = config_for("blur", sigma=[0.5, 2.0])
    assert torch.equal(augment(constant, config, make_generator(device, 0)), constant)

    images = noise(32, 1, 28, 28, low=50, high=200, device=device).float()
    parameters = sample_parameters(config, 32, make_generator(device, 0))
    out = apply(images, parameters, config)
    before, after = images.var(dim=(1, 2, 3)), out.var(dim=(1, 2, 3))
    assert (after < before).all()
    torch.testing.assert_close(
        out.mean(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3)), rtol=0.02, atol=0
    )
    sigma = parameters["blur"]["sigma"]
    assert after[sigma.argmax()] < after[sigma.argmin()]  # wider kernel, smoother image


def test_blur_matches_a_reflect_padded_gaussian_convolution():
    sigma, radius = 1.2, 4  # radius = ceil(3 · sigma)
    images = noise(3, 1, 20, 24).float()
    out = augment(images, config_for("blur", sigma=[sigma, sigma]), make_generator("cpu", 0))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = torch.outer(kernel, kernel) / kernel.sum() ** 2
    padded = torch.nn.functional.pad(images, (radius,) * 4, mode="reflect")
    expected = torch.nn.functional.conv2d(padded, kernel.view(1, 1, *kernel.shape))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-3)


def test_blur_probability_leaves_the_others_untouched():
    images = noise(32, 1, 28, 28).float()
    config = config_for("blur", p=0.5)
    parameters = sample_parameters(config, 32, make_generator("cpu", 3))
    out = apply(images, parameters, config)
    applied = parameters["blur"]["applied"]
    assert 0 < applied.sum() < 32
    assert torch.equal(out[~applied], images[~applied])
    assert (out[applied] != images[applied]).flatten(1).any(dim=1).all()


@DEVICES
def test_brightness_scales_the_mean(device):
    images = noise(32, 1, 28, 28, low=60, high=120, device=device).float()
    config = config_for("brightness_contrast", brightness=[0.5, 1.5], contrast=[1, 1])
    parameters = sample_parameters(config, 32, make_generator(device, 0))
    out = apply(images, parameters, config)
    expected = images.mean(dim=(1, 2, 3)) * parameters["brightness_contrast"]["brightness"]
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), expected, rtol=1e-5, atol=1e-3)


@DEVICES
def test_contrast_keeps_the_mean_and_scales_the_std(device):
    images = noise(32, 1, 28, 28, low=100, high=150, device=device).float()
    config = config_for("brightness_contrast", brightness=[1, 1], contrast=[0.5, 1.5])
    parameters = sample_parameters(config, 32, make_generator(device, 0))
    out = apply(images, parameters, config)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), images.mean(dim=(1, 2, 3)))
    expected = images.std(dim=(1, 2, 3)) * parameters["brightness_contrast"]["contrast"]
    torch.testing.assert_close(out.std(dim=(1, 2, 3)), expected, rtol=1e-4, atol=1e-3)


@DEVICES
def test_hue_jitter_keeps_the_luma(device):
    images = noise(16, 3, 16, 16, low=100, high=156, device=device).float()
    config = config_for("color_jitter", saturation=[1, 1], hue=0.5)
    out = augment(images, config, make_generator(device, 0))
    luma = LUMA.to(device)
    torch.testing.assert_close((out * luma).sum(1), (images * luma).sum(1), rtol=0, atol=1e-3)
    assert (out - images).abs().amax() > 5  # the colours did change
    # uint8 in and out: the luma within about one intensity level
    as_bytes = augment(images.to(torch.uint8), config, make_generator(device, 0))
    difference = (as_bytes.float() * luma).sum(1) - (images * luma).sum(1)
    assert difference.abs().max() <= 1.0


def test_zero_saturation_gives_the_grayscale_image():
    images = noise(4, 3, 16, 16).float()
    config = config_for("color_jitter", saturation=[0, 0], hue=0)
    out = augment(images, config, make_generator("cpu", 0))
    gray = (images * LUMA).sum(1, keepdim=True).expand_as(images)
    torch.testing.assert_close(out, gray, rtol=0, atol=1e-3)


# --- protected channels -----------------------------------------------------------------------


@DEVICES
@pytest.mark.parametrize("name", [*AUGMENTATIONS, "all"])
def test_protected_channels_are_bit_identical(name, device):
    content = 3 if name in ("color_jitter", "all") else 1
    if name == "all":
        config = AugmentConfig.from_params({n: {} for n in AUGMENTATIONS}, 3)
    else:
        config = config_for(name)
    images = noise(16, content + 2, 28, 28, device=device)
    bits = (torch.rand(16, 2, 1, 1, generator=torch.Generator().manual_seed(0)) < 0.5).to(device)
    images[:, content:] = bits.to(torch.uint8).expand(-1, -1, 28, 28) * 255
    out = augment(images, config, make_generator(device, 0), protected_channels=2)
    assert torch.equal(out[:, content:], images[:, content:])
    assert not torch.equal(out[:, :content], images[:, :content])


# --- LOOC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shared", ["crop", "rotation", "blur"])
def test_looc_key_shares_exactly_one_augmentation(shared):
    config = AugmentConfig.from_params({"crop": {}, "rotation": {}, "blur": {}}, 1)
    query = sample_parameters(config, 8, make_generator("cpu", 0))
    fresh = sample_parameters(config, 8, make_generator("cpu", 1))
    key = looc_parameters(query, fresh, shared)
    assert list(key) == list(config.enabled)
    for name in config.enabled:
        source = query if name == shared else fresh
        assert key[name].keys() == source[name].keys()
        assert all(key[name][k] is source[name][k] for k in source[name])
        if name != shared:
            first = AUGMENTATIONS[name].keys[0]
            assert not torch.equal(key[name][first], query[name][first])


def test_looc_parameters_reject_a_disabled_augmentation():
    config = AugmentConfig.from_params({"crop": {}}, 1)
    query = sample_parameters(config, 4, make_generator("cpu", 0))
    with pytest.raises(ValueError, match="'rotation' is not enabled; enabled: crop"):
        looc_parameters(query, query, "rotation")


def test_looc_views_are_the_query_k0_and_one_key_per_augmentation():
    config = AugmentConfig.from_params({"rotation": {}, "flip": {}}, 1)
    images = noise(6, 1, 28, 28)
    views = looc_views(images, config, make_generator("cpu", 5))
    assert views.shape == (4, *images.shape) and views.dtype == torch.uint8
    generator = make_generator("cpu", 5)
    query = sample_parameters(config, 6, generator)
    k0 = sample_parameters(config, 6, generator)
    keys = [
        looc_parameters(query, sample_parameters(config, 6, generator), n) for n in config.enabled
    ]
    for view, parameters in zip(views, [query, k0, *keys], strict=True):
        assert torch.equal(view, apply(images, parameters, config))


# --- extending the registry -------------------------------------------------------------------


class InvertSettings(Settings):
    p: Probability = 0.5


class Invert(Augmentation):
    """A toy photometric augmentation: 255 − x with probability ``p``."""

    Settings = InvertSettings
    keys = ("applied",)

    def draw(self, settings, batch, generator, device):
        return {"applied": coin(settings.p, batch, generator, device)}

    def apply(self, x, params, settings):
        return where_applied(params["applied"], 255 - x, x)


class VerticalFlip(Geometric):
    """A toy geometric augmentation: y ↦ −y, always."""

    Settings = Settings  # the empty settings block: nothing to set
    keys = ("applied",)

    def draw(self, settings, batch, generator, device):
        return {"applied": torch.ones(batch, dtype=torch.bool, device=device)}

    def affine(self, params, height, width):
        mirror = identity(len(params["applied"]), params["applied"].device)
        mirror[:, 1, 1] = -1.0
        return mirror


def test_a_registered_augmentation_is_validated_drawn_and_applied(monkeypatch):
    """One registry entry is all a new augmentation needs: settings, draws, views and LOOC."""
    monkeypatch.setitem(AUGMENTATIONS, "invert", Invert())
    with pytest.raises(ParameterError, match=r"`augment\.invert\.p` should be less than"):
        AugmentConfig.from_params({"invert": {"p": 2.0}}, 1)
    config = AugmentConfig.from_params({"invert": None, "flip": {}}, 1)
    assert config.enabled == ("flip", "invert")  # registry order: after the built-in ones
    assert AugmentConfig.from_params(config.to_params(), 1) == config
    parameters = sample_parameters(config, 16, make_generator("cpu", 0))
    inverted, flipped = parameters["invert"]["applied"], parameters["flip"]["applied"]
    assert 0 < inverted.sum() < 16 and not torch.equal(inverted, flipped)
    images = noise(16, 1, 28, 28)
    expected = torch.where(flipped.view(-1, 1, 1, 1), images.flip(-1), images)
    expected = torch.where(inverted.view(-1, 1, 1, 1), 255 - expected, expected)
    assert torch.equal(apply(images, parameters, config), expected)
    assert looc_views(images, config, make_generator("cpu", 0)).shape == (4, *images.shape)


def test_a_registered_geometric_augmentation_joins_the_single_warp(monkeypatch):
    """Consecutive geometric augmentations compose into one ``grid_sample``: a vertical flip after
    a horizontal one is a 180° rotation, exactly for uint8."""
    monkeypatch.setitem(AUGMENTATIONS, "vertical_flip", VerticalFlip())
    warps = []
    original = geometry.warp
    monkeypatch.setattr(geometry, "warp", lambda *args: warps.append(1) or original(*args))
    config = AugmentConfig.from_params({"vertical_flip": {}, "flip": {"p": 1}}, 1)
    assert config.enabled == ("flip", "vertical_flip")
    images = noise(4, 1, 20, 28)
    out = augment(images, config, make_generator("cpu", 0))
    assert torch.equal(out, torch.rot90(images, 2, dims=(-2, -1)))
    assert len(warps) == 1
