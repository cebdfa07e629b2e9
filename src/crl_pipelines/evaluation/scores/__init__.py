"""The score registry (:mod:`~crl_pipelines.evaluation.scores.base`): one module per family of
scores that read one computation, each score registered beside its function
(``@SCORES.register("uniformity", needs_labels=False, heading=..., better=-1)``); shared work is a
cached property of the run's :class:`~crl_pipelines.evaluation.context.RunContext`.

Adding a score: its function and registration in a module here (a new module goes in the list
below, which is the output order of the scores).
"""

# The registry's order: each module registers what it defines when it is imported.
# isort: off
from crl_pipelines.evaluation.scores import (  # noqa: F401  (each module registers its scores)
    covariance,
    uniformity,
    rank,
    collapse,
    tsne,
    separation,
    alignment,
    knn,
    retrieval,
    clustering,
    silhouette,
    probes,
    robustness,
)
# isort: on

from crl_pipelines.evaluation.scores.base import SCORES, Score, ScoreFunction, in_order, mean_of

__all__ = ["SCORES", "Score", "ScoreFunction", "in_order", "mean_of"]
