"""One training step per sampling, behind one interface (:class:`~.base.Step`): each sampling's
registration names its step (:class:`crl_pipelines.sampling.base.Sampling`), a module here.

The step modules are imported here, so that they are part of the training code (what DVC's
train stages depend on, ``scripts/dvc_code_deps.py``) and a step that fails to import fails
when training starts, not at its first batch.
"""

from crl_pipelines.training.steps import (  # noqa: F401
    augmented_views,
    class_pairs,
    looc_views,
)
