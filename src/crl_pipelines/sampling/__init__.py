"""Sampling plans: the exact batches of every epoch, fixed before any training
(:mod:`~crl_pipelines.sampling.base`), one sampling per module, each registered by name beside its
plan maker with its training step (``@SAMPLINGS.register("class_pairs", ..., step=...)``).

Adding a sampling: its module here (the plan and its registration), its step in
:mod:`crl_pipelines.training.steps`, and its line in the list below (the registry's order).
"""

# The registry's order: each module registers what it defines when it is imported.
# isort: off
from crl_pipelines.sampling import (  # noqa: F401  (each module registers its sampling)
    class_pairs,
    augmented_views,
    looc_views,
)
# isort: on

from crl_pipelines.sampling.base import (
    SAMPLINGS,
    PairsSettings,
    Sampling,
    check_plan_matches,
    plan_kind,
    unavailable_plan,
)

__all__ = [
    "SAMPLINGS",
    "PairsSettings",
    "Sampling",
    "check_plan_matches",
    "plan_kind",
    "unavailable_plan",
]
