"""A study in its storage, and its budget: exactly ``tune.trials`` finished trials (complete or
pruned), however many processes work on it and however often they are killed.

A process *claims* a trial (:func:`claim`): it asks for one only while the finished and running
trials are fewer than the budget, and, since two processes may ask at once, keeps it only if
its place among the running trials (by trial number, which the storage hands out in order)
still fits; otherwise it marks it failed at once (``over budget``), and failed trials never
count. Each trial records the host and process that run it: a trial left running by a process
of this host that is gone (killed: ``tune`` resumes), or one killed before it recorded them, is
marked failed (:func:`fail_abandoned`), so its place is taken by a new trial. (A trial
abandoned on another machine keeps its place until it is marked failed there, or with
``optuna`` itself.)
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from datetime import datetime

import optuna
from optuna.trial import TrialState

from crl_pipelines.errors import UserError
from crl_pipelines.tuning.settings import TuneSettings

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
UNCLAIMED_SECONDS = 2.0  # a running trial with no host this old was never claimed: abandoned


class StorageError(UserError, RuntimeError):
    """The study's storage cannot be reached or opened."""


def sampler(settings: TuneSettings) -> optuna.samplers.BaseSampler:
    """The seeded sampler every study uses (TPE: its first trials, a third of the budget up to
    10, are random)."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    startup = max(1, min(10, settings.trials // 3))
    return optuna.samplers.TPESampler(seed=settings.seed, n_startup_trials=startup)


def pruner(settings: TuneSettings) -> optuna.pruners.BasePruner:
    """The pruner every study uses, on the per-epoch validation score."""
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=max(1, settings.trials // 4))
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=settings.epochs)
    return optuna.pruners.NopPruner()


def rdb_storage(url: str, attempts: int = 5) -> optuna.storages.BaseStorage:
    """The storage at ``url``, reached now (a one-line error names it when it cannot be).

    Processes that open a new database at once race to create its tables; the losers try
    again, and find them made."""
    if url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(url.removeprefix("sqlite:///")) or ".", exist_ok=True)
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
        except Exception as error:  # a driver, a network or a database refusal: many kinds
            if creation_race(error) and attempt < attempts:
                time.sleep(0.2 * attempt)
                continue
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise StorageError(
                f"parameter `tune.storage`: cannot open the study storage {url}: {reason}"
            ) from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def creation_race(error: Exception) -> bool:
    """Whether ``error`` says another process made the same tables or version row first."""
    from sqlalchemy.exc import IntegrityError

    return isinstance(error, IntegrityError) or "already exists" in str(error)


def open_study(
    name: str, storage: optuna.storages.BaseStorage | str, settings: TuneSettings
) -> optuna.Study:
    """The study ``name`` (created, or loaded to go on), maximizing the validation score."""
    return optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=sampler(settings),
        pruner=pruner(settings),
        direction="maximize",
        load_if_exists=True,
    )


def load_study(
    name: str, storage: optuna.storages.BaseStorage, settings: TuneSettings
) -> optuna.Study:
    """The existing study ``name``, with the sampler and pruner every study uses."""
    return optuna.load_study(
        study_name=name, storage=storage, sampler=sampler(settings), pruner=pruner(settings)
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def fail_abandoned(study: optuna.Study) -> int:
    """Mark failed the running trials whose process is gone, and those that never recorded one
    (killed between asking for the trial and recording its host: no live claim stays in that
    gap for :data:`UNCLAIMED_SECONDS`); how many."""
    here, abandoned = socket.gethostname(), 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, pid = trial.user_attrs.get("host"), trial.user_attrs.get("pid")
        gone = host == here and isinstance(pid, int) and pid != os.getpid() and not _alive(pid)
        if gone or (host is None and _age(trial) > UNCLAIMED_SECONDS):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            abandoned += 1
    return abandoned


def _age(trial: optuna.trial.FrozenTrial) -> float:
    """Seconds since ``trial`` started."""
    started = trial.datetime_start
    return (datetime.now() - started).total_seconds() if started else math.inf


def counts(study: optuna.Study) -> tuple[int, list[int]]:
    """The finished trials, and the numbers of the running ones (in order)."""
    trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    finished = sum(trial.state in FINISHED for trial in trials)
    running = sorted(trial.number for trial in trials if trial.state == TrialState.RUNNING)
    return finished, running


def claim(study: optuna.Study, budget: int) -> optuna.Trial | None:
    """A new trial of ``study`` that fits the budget, or None when the budget is taken."""
    finished, running = counts(study)
    if finished + len(running) >= budget:
        return None
    trial = study.ask()
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", os.getpid())
    finished, running = counts(study)
    if trial.number not in running or finished + running.index(trial.number) >= budget:
        trial.set_user_attr("over_budget", True)
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        return None
    return trial


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The complete and pruned trials, in the order they were asked."""
    return sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)
