"""Tune: each experiment's study on the train and validation splits (never the test split), or,
with ``tune.use`` false, the record that the experiment is not tuned."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from crl_pipelines import lineage
from crl_pipelines.images import ImageDataset
from crl_pipelines.lineage import fingerprint
from crl_pipelines.sampling import check_plan_matches
from crl_pipelines.training.monitor import MONITOR_IMAGES
from crl_pipelines.tuning.record import untuned_record
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import SearchSpace
from crl_pipelines.tuning.summary import summarize
from crl_pipelines.tuning.trials import TrialInputs, first_epochs
from crl_pipelines.tuning.tuner import tune

log = logging.getLogger(__name__)


def tune_experiment(
    train_set: dict[str, np.ndarray],
    validation_set: dict[str, np.ndarray],
    plan: dict[str, np.ndarray],
    *,
    space: SearchSpace,
    settings: TuneSettings,
    expected: dict[str, str],
    seed: int,
    collapse_threshold: float,
) -> dict[str, Any]:
    """The experiment's tuning record: its study run to ``tune.trials`` finished trials of
    ``tune.epochs`` epochs each, from the initial weights of ``seed``, and what it found, with
    the lineage the study was made from (the split, the plan, and ``expected``: the
    experiment's settings, its space, the budget). With ``tune.use`` false: the record that it
    is not tuned, made at once."""
    name = space.experiment.name
    if not settings.use:
        return untuned_record(name)
    split = lineage.split_of(train_set, "train")
    fix = "`kedro run --pipelines=ingest,pairs`"
    lineage.require(
        lineage.of_arrays(validation_set), {"split": split}, "the validation split", fix
    )
    lineage.require(
        lineage.of_arrays(plan), {"split": split}, f"the {space.experiment.sampling} plan", fix
    )
    train = ImageDataset.from_arrays(train_set)
    check_plan_matches(plan, train.labels)
    validation = ImageDataset.from_arrays(validation_set)
    made_from = {"split": split, "plan": lineage.of_arrays(plan)["plan"], **expected}
    inputs = TrialInputs(
        train, validation, first_epochs(plan, settings.epochs), space, seed, collapse_threshold
    )
    started = time.perf_counter()
    study = tune(inputs, settings, settings.storage_url(name), f"{name}-{fingerprint(made_from)}")
    monitored = (min(len(validation.labels), MONITOR_IMAGES), validation.labelled)
    record = summarize(study, space, settings, monitored, made_from)
    best = record["best"]
    log.info(
        "%s: tuned in %.0f s: best validation score %.4f (± %s) at %s", name,
        time.perf_counter() - started, best["value"],
        "n/a" if best["standard_error"] is None else f"{best['standard_error']:.4f}",
        ", ".join(f"{key} {value:.3g}" if isinstance(value, float) else f"{key} {value}"
                  for key, value in best["params"].items()),
    )  # fmt: skip
    return record
