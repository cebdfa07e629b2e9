"""Each corruption against a hand-made image whose corrupted pixels can be written down."""

import math

import numpy as np
import pytest

from crl_pipelines.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from crl_pipelines.embed import EmbedSettings
from crl_pipelines.parameters import ParameterError, parse

RNG = np.random.default_rng(0)


def apply(name: str, x: np.ndarray, parameter: float, seed: int = 0) -> np.ndarray:
    return CORRUPTIONS[name].apply(x, parameter, np.random.default_rng(seed))


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_every_corruption_keeps_the_shape_and_is_deterministic_in_its_seed(name, channels):
    images = RNG.integers(0, 256, size=(4, channels, 20, 20), dtype=np.uint8)
    for severity in SEVERITIES:
        out = corrupt(images, name, severity, seed=1)
        assert out.dtype == np.uint8 and out.shape == images.shape
        assert (out == corrupt(images, name, severity, seed=1)).all()
    assert not (corrupt(images, name, 5, seed=1) == images).all()  # it changes something


def test_a_severity_outside_one_to_five_and_an_unknown_name_are_refused():
    images = np.zeros((1, 1, 8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="severity must be one of"):
        corrupt(images, "blur", 0, seed=0)
    with pytest.raises(ParameterError, match=r"embed\.corruptions"):
        corrupt(images, "fog", 1, seed=0)


def test_gaussian_noise_has_the_severitys_spread_and_a_new_seed_new_noise():
    grey = np.full((2, 1, 64, 64), 0.5)
    noisy = apply("gaussian_noise", grey, 0.1)
    assert abs(noisy.mean() - 0.5) < 0.01 and abs(noisy.std() - 0.1) < 0.005
    assert not np.allclose(noisy, apply("gaussian_noise", grey, 0.1, seed=2))


def test_blur_spreads_a_point_as_a_gaussian_of_the_scaled_sigma():
    point = np.zeros((1, 1, 32, 32))
    point[0, 0, 16, 16] = 1.0
    blurred = apply("blur", point, 1.0)[0, 0]  # σ = 1 pixel on a 32-pixel image
    assert blurred.sum() == pytest.approx(1.0)
    assert blurred[16, 17] / blurred[16, 16] == pytest.approx(math.exp(-0.5), rel=0.01)
    assert blurred[17, 17] / blurred[16, 16] == pytest.approx(math.exp(-1.0), rel=0.01)


def test_contrast_scales_each_channels_deviations_from_its_mean():
    halves = np.zeros((1, 2, 4, 4))
    halves[0, 0, :, :2], halves[0, 0, :, 2:] = 0.2, 0.8  # mean 0.5
    halves[0, 1] = 0.9  # a flat channel stays as it is
    out = apply("contrast", halves, 0.15)
    assert np.allclose(out[0, 0, :, :2], 0.5 - 0.3 * 0.15)
    assert np.allclose(out[0, 0, :, 2:], 0.5 + 0.3 * 0.15)
    assert np.allclose(out[0, 1], 0.9)


def test_brightness_raises_the_value_and_keeps_hue_and_saturation():
    pixels = np.array([[0.5, 0.25, 0.0], [0.0, 0.0, 0.0], [1.0, 0.5, 0.5]]).T  # 3 channels
    out = apply("brightness", pixels.reshape(1, 3, 1, 3), 0.3).reshape(3, 3).T
    assert np.allclose(out[0], [0.8, 0.4, 0.0])  # orange, brighter, same hue and saturation
    assert np.allclose(out[1], [0.3, 0.3, 0.3])  # black turns grey
    assert np.allclose(out[2], [1.0, 0.5, 0.5])  # already at full value
    grey = apply("brightness", np.full((1, 1, 2, 2), 0.5), 0.3)
    assert np.allclose(grey, 0.8)


def test_rotation_turns_a_point_about_the_centre_by_the_severitys_angle():
    image = np.zeros((1, 1, 65, 65))
    image[0, 0, 32, 52] = 1.0  # 20 pixels right of the centre
    out = apply("rotation", image, 30.0)[0, 0]
    row, column = np.unravel_index(out.argmax(), out.shape)
    angle = math.radians(30.0)
    assert column == pytest.approx(32 + 20 * math.cos(angle), abs=1)
    assert abs(row - 32) == pytest.approx(20 * math.sin(angle), abs=1)


def test_translation_moves_a_point_by_the_fraction_of_the_side_and_fills_with_black():
    image = np.zeros((3, 1, 25, 25))
    image[:, 0, 12, 12] = 1.0
    image[:, 0, 0, :] = 0.5  # the top row: it leaves the image or moves down
    out = apply("translation", image, 0.2)  # 5 pixels
    for moved in out[:, 0]:
        row, column = np.unravel_index(moved.argmax(), moved.shape)
        assert abs(row - 12) == 5 and abs(column - 12) == 5
        assert moved.max() == 1.0 and np.isclose(moved.sum(), 1.0 + 0.5 * (25 - 5) * (row > 12))


def test_pixelate_replaces_each_block_by_its_mean():
    image = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    out = apply("pixelate", image, 0.5)[0, 0]  # 2 × 2 blocks of 2 × 2 pixels
    expected = np.array([[2.5, 2.5, 4.5, 4.5], [2.5, 2.5, 4.5, 4.5],
                         [10.5, 10.5, 12.5, 12.5], [10.5, 10.5, 12.5, 12.5]])  # fmt: skip
    assert np.allclose(out, expected)
    assert np.allclose(apply("pixelate", image, 1.0), image)  # a block per pixel: unchanged


def test_the_embed_settings_refuse_an_unknown_corruption_naming_the_parameter():
    assert EmbedSettings().corruptions == list(CORRUPTIONS)
    with pytest.raises(ParameterError, match=r"embed\.corruptions.*'blurr'.*'blur'") as caught:
        parse(EmbedSettings, {"corruptions": ["blurr"]}, "embed")
    assert "\n" not in str(caught.value)
