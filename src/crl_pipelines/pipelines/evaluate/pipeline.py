"""Evaluate pipeline: scores and figures per encoder, then one comparison of all of them."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.evaluate.nodes import compare_encoders, score_encoder

FIGURES = [
    "class_distances_png",
    "between_class_histogram_png",
    "correlation_png",
    "vif_png",
    "pca_png",
]


def _score_pipeline(name: str) -> Pipeline:
    score = update_wrapper(partial(score_encoder, name=name), score_encoder)
    return Pipeline(
        [
            node(
                score, ["embeddings", "params:evaluate"], ["scores", *FIGURES], name="score_encoder"
            )
        ],
        namespace=name,
        parameters={"params:evaluate"},
    )


def create_pipeline(encoders: list[str]) -> Pipeline:
    with warnings.catch_warnings():
        # The comparison reads every namespace's scores, so its inputs are dotted names on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            compare_encoders,
            {name: f"{name}.scores" for name in encoders},
            ["comparison_table", "comparison_markdown", "metrics"],
            name="compare_encoders",
        )
    return sum((_score_pipeline(name) for name in encoders), Pipeline([compare]))
