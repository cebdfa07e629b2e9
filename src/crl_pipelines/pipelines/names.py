"""Every dataset name the pipelines use is made here, from a run and what it holds.

A run's datasets live in its namespace, ``<experiment>.seed<seed>`` (experiment names are
letters, digits and ``_``, so the parts never run together). Nodes that read several runs'
datasets take them positionally in the order of their run list, so no name is ever parsed back.
"""

from __future__ import annotations

from crl_pipelines.runs import Run

TRAIN_SET, VALIDATION_SET, TEST_SET = "train_set", "validation_set", "test_set"
DATASET_SUMMARY = "dataset_summary"
RESULTS = "results"  # a run's results: what the comparison reads of a run's scores
EMBEDDINGS = "embeddings"  # a run's train, validation and test features (CKA reads the test's)
TUNING = "tuning"  # an experiment's tuning record (in the experiment's namespace)
TRACES = "traces"  # a trained run's history and step trace in DVCLive's files


def plan(sampling: str) -> str:
    """The saved plan of a sampling (``data/04_feature/<sampling>_plan.npz``)."""
    return f"{sampling}_plan"


def of_run(run: Run, dataset: str) -> str:
    """A run's own dataset, e.g. ``ntxent.seed0.model``, as seen from outside its namespace."""
    return f"{run.name}.{dataset}"


def of_experiment(experiment: str, dataset: str) -> str:
    """An experiment's own dataset, e.g. ``ntxent.tuning``, as seen from outside its namespace."""
    return f"{experiment}.{dataset}"


def figure(figure_name: str) -> str:
    """A figure's dataset (a PNG), inside a run's namespace or of the comparison."""
    return f"{figure_name}_png"
