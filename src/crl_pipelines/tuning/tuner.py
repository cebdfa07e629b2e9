"""One experiment's study, run to its budget: batches of trials claimed from the study and
trained together (:mod:`.trials`), in this process or, inside a Dask worker
(``kedro run --pipeline=tune --dask``), on every worker of the cluster at once, the study then
held by the scheduler (optuna-integration's ``DaskStorage`` over the same database), and still
exactly ``tune.trials`` finished trials (:mod:`.budget`). One line per finished trial tells
how far the study is.
"""

from __future__ import annotations

import logging
from typing import Any

import optuna
from optuna.trial import TrialState

from crl_pipelines.progress import forward_logs, in_dask_worker
from crl_pipelines.tuning.budget import (
    claim,
    counts,
    fail_abandoned,
    load_study,
    open_study,
    rdb_storage,
)
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import Dimension, SearchSpace, current
from crl_pipelines.tuning.trials import TrialInputs, run_batch

log = logging.getLogger(__name__)


def tune(
    inputs: TrialInputs, settings: TuneSettings, storage_url: str, study_name: str
) -> optuna.Study:
    """The study ``study_name`` at ``storage_url`` after its budget is spent (a study that was
    stopped goes on where it stopped; a finished one trains nothing more)."""
    # Optuna's own records go where every library's do (the log file), not to the console
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    study = open_study(study_name, rdb_storage(storage_url), settings)
    if not study.get_trials(deepcopy=False):
        enqueue_defaults(study, inputs.space)
    abandoned = fail_abandoned(study)
    finished, _ = counts(study)
    log.info(
        "%s: study %s, %d of %d trials finished%s (%d epoch(s) a trial, %s sampler, %s pruner)",
        inputs.space.experiment.name, study_name, finished, settings.trials,
        f", {abandoned} abandoned by a stopped run" if abandoned else "", inputs.epochs,
        settings.sampler, settings.pruner,
    )  # fmt: skip
    if in_dask_worker():
        _spread(inputs, settings, storage_url, study_name)
    else:
        optimize(study, inputs, settings)
    return study


def enqueue_defaults(study: optuna.Study, space: SearchSpace) -> None:
    """The experiment's parameters as written are the study's first trial (when they lie in
    its space), so the report can set them beside the best at the same budget."""
    defaults = {path: current(space.experiment, path) for path in space.paths}
    if all(_within(dimension, defaults[dimension.path]) for dimension in space.dimensions):
        study.enqueue_trial(defaults, user_attrs={"defaults": True})


def _within(dimension: Dimension, value: Any) -> bool:
    if dimension.choices is not None:
        return value in dimension.choices
    return isinstance(value, int | float) and dimension.low <= value <= dimension.high


def optimize(study: optuna.Study, inputs: TrialInputs, settings: TuneSettings) -> None:
    """Claim batches of ``tune.batch`` trials and train them until the budget is spent."""
    name = inputs.space.experiment.name

    def told(trial: optuna.Trial, state: TrialState, value: float | None) -> None:
        finished, _ = counts(study)
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = max((t.value for t in complete), default=None)
        shown = "no score" if value is None else f"{value:.4f}"
        how = "" if state == TrialState.COMPLETE else f", {state.name.lower()}"
        if "diverged" in trial.user_attrs:
            how += " (its loss diverged)"
        log.info(
            "%s: trial %d/%d (#%d): %s%s, best so far %s", name, finished, settings.trials,
            trial.number, shown, how, "none" if best is None else f"{best:.4f}",
        )  # fmt: skip

    while batch := _claim_batch(study, settings):
        run_batch(study, batch, inputs, told)


def _claim_batch(study: optuna.Study, settings: TuneSettings) -> list[optuna.Trial]:
    batch = []
    while len(batch) < settings.batch and (trial := claim(study, settings.trials)) is not None:
        batch.append(trial)
    return batch


def _spread(inputs: TrialInputs, settings: TuneSettings, storage_url: str, study_name: str) -> None:
    """One optimizing task per worker of the cluster, the study held by the scheduler; waits
    for them (this task leaves its worker's slot to them meanwhile)."""
    from distributed import worker_client
    from optuna_integration import DaskStorage

    with worker_client() as client:
        storage = DaskStorage(storage=storage_url, client=client)
        workers = len(client.scheduler_info()["workers"])
        log.info("%s: spreading the study over %d Dask workers", study_name, workers)
        futures = [
            client.submit(
                _optimize_on_worker,
                storage.name,
                study_name,
                inputs,
                settings,
                index,
                pure=False,
                key=f"{study_name}-trials-{index}",
            )
            for index in range(workers)
        ]
        client.gather(futures)


def _optimize_on_worker(
    storage_name: str, study_name: str, inputs: TrialInputs, settings: TuneSettings, index: int
) -> Any:
    """A Dask task: optimize the study until its budget is spent (each task's sampler seeded
    apart, so that tasks asking at once do not ask for the same parameters)."""
    from optuna_integration import DaskStorage

    seeded = settings.model_copy(update={"seed": settings.seed + index})
    with forward_logs():
        study = load_study(study_name, DaskStorage(name=storage_name), seeded)
        optimize(study, inputs, seeded)
