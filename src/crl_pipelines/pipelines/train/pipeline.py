"""Train pipeline: one namespace per run (experiment × seed), the floor included."""

from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Pipeline, node

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.train.nodes import init_floor, train_run, train_untuned
from crl_pipelines.runs import Run
from crl_pipelines.tuning.space import SearchSpace

OUTPUTS = ["model", "history", "steps", "placement"]


def _floor(run: Run, model: ModelSettings) -> Pipeline:
    initialize = bind(init_floor, run=run, model=model)
    return Pipeline(
        [node(initialize, names.TRAIN_SET, "model", name="init_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET},
    )


def _trained(run: Run, function: Any, tuning: list[str], settings: dict) -> Pipeline:
    plan = names.plan(run.sampling)
    inputs = [names.TRAIN_SET, names.VALIDATION_SET, plan, *tuning]
    return Pipeline(
        [node(bind(function, run=run, **settings), inputs, OUTPUTS, name="train_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET, names.VALIDATION_SET, plan, *tuning},
    )


def create_pipeline(
    runs: list[Run],
    spaces: Mapping[str, SearchSpace],
    tuned_from: Mapping[str, dict[str, str]],
    use: bool,
    shared: dict[str, Any],
) -> Pipeline:
    """Each run's train node. A run reads its experiment's tuning record and trains at the
    parameters it says (``use``: tuned, checked against ``tuned_from``, which is empty when
    nothing is tuned; else as written); an
    untuned twin trains at the parameters as written. The floor gets the shared ``model``.
    ``shared``: ``model``, ``checkpoint_dir`` and ``collapse_threshold``. A run whose
    parameters are known now (not tuned) knows the other such runs of its plan, which it may
    train with (``training.fuse``)."""
    fixed = {
        run: spaces[run.experiment].experiment
        for run in runs
        if run.trained and (run.untuned or not use)
    }

    def partners(run: Run) -> tuple[tuple[Run, Experiment], ...]:
        return tuple(
            (other, experiment) for other, experiment in fixed.items()
            if other != run and other.sampling == run.sampling
        )  # fmt: skip

    where = {key: shared[key] for key in ("checkpoint_dir", "collapse_threshold")}
    pipelines = []
    for run in runs:
        if not run.trained:
            pipelines.append(_floor(run, shared["model"]))
        elif run.untuned:
            settings = {"experiment": fixed[run], "partners": partners(run), **where}
            pipelines.append(_trained(run, train_untuned, [], settings))
        else:
            tuning = names.of_experiment(run.experiment, names.TUNING)
            settings = {
                "space": spaces[run.experiment], "tuned_from": tuned_from.get(run.experiment, {}),
                "use": use, "partners": partners(run) if not use else (), **where,
            }  # fmt: skip
            pipelines.append(_trained(run, train_run, [tuning], settings))
    return sum(pipelines)
