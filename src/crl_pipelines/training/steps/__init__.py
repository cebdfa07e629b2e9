"""One training step per sampling, behind one interface (:class:`Step`).

Adding a sampling's step: a module here and one entry in :data:`STEPS`, keyed like
:data:`crl_pipelines.sampling.SAMPLINGS`.
"""

from __future__ import annotations

from crl_pipelines.training.steps.augmented_views import AugmentedViewsStep
from crl_pipelines.training.steps.base import DeviceData, Step
from crl_pipelines.training.steps.class_pairs import ClassPairStep
from crl_pipelines.training.steps.looc_views import LOOCViewsStep

STEPS: dict[str, type[Step]] = {
    "class_pairs": ClassPairStep,
    "augmented_views": AugmentedViewsStep,
    "looc_views": LOOCViewsStep,
}

__all__ = ["STEPS", "AugmentedViewsStep", "ClassPairStep", "DeviceData", "LOOCViewsStep", "Step"]
