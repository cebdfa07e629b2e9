"""Tune pipeline: one study per experiment, in the experiment's namespace (``<experiment>``), on
the train and validation splits and the experiment's plan."""

from collections.abc import Mapping

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.tune.nodes import tune_experiment
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import SearchSpace


def _study(
    space: SearchSpace, settings: TuneSettings, expected: dict, seed: int, threshold: float
) -> Pipeline:
    plan = names.plan(space.experiment.sampling)
    study = bind(
        tune_experiment, space=space, settings=settings, expected=expected, seed=seed,
        collapse_threshold=threshold,
    )  # fmt: skip
    return Pipeline(
        [
            node(
                study,
                [names.TRAIN_SET, names.VALIDATION_SET, plan],
                names.TUNING,
                name="tune_experiment",
            )
        ],
        namespace=space.experiment.name,
        inputs={names.TRAIN_SET, names.VALIDATION_SET, plan},
    )


def create_pipeline(
    spaces: Mapping[str, SearchSpace],
    settings: TuneSettings,
    expected: Mapping[str, dict],
    seed: int,
    collapse_threshold: float,
) -> Pipeline:
    """Every experiment's study (``expected``: what each study is made from besides the data);
    the trials start from the initial weights of ``seed``."""
    return sum(
        _study(space, settings, expected[name], seed, collapse_threshold)
        for name, space in spaces.items()
    )
