"""Batched image augmentations with per-sample random parameters, run on the training device.

Self-supervised contrastive learning makes its positive pairs by augmenting one image twice, so the
augmentations decide what the representation learns to ignore. SimCLR (Chen, Kornblith, Norouzi
and Hinton, "A Simple Framework for Contrastive Learning of Visual Representations", ICML 2020)
showed that their composition matters most and used: random resized crop with horizontal flip,
colour distortion (brightness, contrast, saturation and hue jitter with probability 0.8, random
grayscale 0.2) and Gaussian blur (σ in [0.1, 2.0], probability 0.5). LOOC (Xiao, Wang, Efros and
Darrell, "What Should Not Be Contrastive in Contrastive Learning", ICLR 2021) adds one key view
k_i per augmentation i that shares the query's parameters for i and draws the others afresh, so
that one embedding space per augmentation stays *variant* to it: see :func:`looc_parameters` and
:func:`looc_views`.

Everything works on a whole batch at once: parameters are drawn per sample as tensors (one
``torch.rand`` call per parameter, never a Python loop over samples) and applied with batched ops:
crop, rotation and flip as one ``grid_sample`` call, colour as one 3×3 matrix per sample, blur as
two batched matmuls with one banded kernel matrix per sample.

One module per augmentation holds its settings model, its draw and its apply (the interface is
:class:`~crl_pipelines.augment.base.Augmentation`; geometric ones give an affine map instead,
:class:`~crl_pipelines.augment.geometry.Geometric`), registered beside its class
(``@AUGMENTATIONS.register("crop")``). The registry :data:`AUGMENTATIONS` holds them in their
fixed order of application, the order of the module list below; adding one is its module plus
its line there:

1. ``crop``: random resized crop. ``scale`` is the crop's area as a fraction of the image
   (uniform), ``ratio`` its aspect ratio width/height (log-uniform), as in torchvision's
   ``RandomResizedCrop``; the crop is resized back to the input size (bilinear). A side that
   would exceed the image is clamped to it (torchvision retries, then takes a centre crop). The
   crop's centre is uniform over the positions that keep it inside the image.
2. ``rotation``: rotation about the image centre by an angle uniform in ``degrees`` (positive =
   counter-clockwise, as ``torch.rot90``); corners from outside the image are filled with 0 (a
   one-pixel ramp at the edge). With ``crop`` it is composed into the same affine map (the crop
   is rotated, so its corners come from the image around the crop where there is one). Edge
   pixels are replicated within the image's outer half pixel, so crops are not darkened there.
3. ``flip``: horizontal flip with probability ``p``. Alone it is an exact pixel reversal; with
   crop or rotation it is folded into their affine map (exact for uint8, ~1e-4 for float).
4. ``brightness_contrast``: with probability ``p``, multiply by a brightness factor, then scale
   the deviations from the image's mean (over its channels and pixels) by a contrast factor;
   clamped to 0..255 after each, as torchvision does.
5. ``color_jitter`` (3-channel RGB only): with probability ``p``, scale the chroma by a
   saturation factor and rotate it by ``hue`` turns (fractions of 360°, torchvision's unit), both
   in YIQ space (NTSC luma Y = 0.299 R + 0.587 G + 0.114 B; chroma I, Q). Scaling (I, Q) equals
   torchvision's blend with the grayscale image; rotating (I, Q) about the grey axis keeps the
   luma exactly (before clamping) but is not HSV's hue.
6. ``blur``: with probability ``p``, Gaussian blur with σ uniform in ``sigma`` (pixels); one
   separable kernel per sample of radius ⌈3·σ_max⌉ (at most the image side − 1), reflect padding.

Settings are validated by :meth:`AugmentConfig.from_params` (errors are
:class:`~crl_pipelines.parameters.ParameterError` naming ``augment.<name>.<key>``);
:data:`AugmentSettings` is the model of the whole ``augment:`` block.

Images: uint8 N×C×H×W in → uint8 out (computed in float32, clamped to 0..255 and rounded), or
floating point on the 0..255 scale in → the same dtype out (clamped, not rounded). Identity
settings return a uint8 input exactly and a float input within ~1e-3 (resampling round-off).
The trailing ``protected_channels`` channels (the RandBits feature-suppression channels, which
both views must share) are copied through bit for bit; ``AugmentConfig.channels`` counts the
others.

Randomness comes only from the ``torch.Generator`` the caller passes, which must live on the
images' device. The caller seeds it (e.g. :func:`make_generator` from the plan's seed, the epoch
and the step), so a step's views can be rebuilt exactly; CPU and CUDA generators give different
streams. Parameters are drawn in registry order, so a seed fixes every view.
"""

# The registry's order, the order of application: each module registers its augmentation.
# isort: off
from crl_pipelines.augment import (  # noqa: F401
    crop,
    rotation,
    flip,
    brightness_contrast,
    color_jitter,
    blur,
)
# isort: on

from crl_pipelines.augment.base import AUGMENTATIONS, Augmentation, Parameters
from crl_pipelines.augment.config import (
    AugmentConfig,
    AugmentSettings,
    augment_settings_model,
    default_params,
)
from crl_pipelines.augment.geometry import Geometric
from crl_pipelines.augment.views import (
    apply,
    augment,
    looc_parameters,
    looc_views,
    make_generator,
    sample_parameters,
)

__all__ = [
    "AUGMENTATIONS",
    "AugmentConfig",
    "AugmentSettings",
    "Augmentation",
    "Geometric",
    "Parameters",
    "apply",
    "augment",
    "augment_settings_model",
    "default_params",
    "looc_parameters",
    "looc_views",
    "make_generator",
    "sample_parameters",
]
