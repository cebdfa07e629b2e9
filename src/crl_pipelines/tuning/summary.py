"""What a study found, as the record a tuned run trains from and the report reads: the best
parameters beside the experiment's own, every trial, the best value so far after each trial, the
parameters' importances, the expected best of n trials, and how sure the best value is.

*Expected best of n trials* (Dodge et al., "Show Your Work", EMNLP 2019): the expected maximum
of n values drawn, with replacement, from the study's N trial values v(1) ≤ … ≤ v(N),

    E[max of n] = Σ_i v(i) · ((i/N)^n − ((i−1)/N)^n),

so one curve per loss says what a budget of n trials buys. A complete trial's value is its
score; a pruned one's, the best score it reported before it was stopped (it was behind then).

The best value's *standard error*: the validation kNN accuracy is a proportion over the n
validation images the monitor scores, so √(p(1 − p)/n); a few hundred images cannot tell 0.96
from 0.97. The label-free objective has none (it is not a mean over images).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from crl_pipelines.errors import UserError
from crl_pipelines.tuning.budget import FINISHED, finished_trials
from crl_pipelines.tuning.settings import TuneSettings
from crl_pipelines.tuning.space import SearchSpace


class NothingCompletedError(UserError, RuntimeError):
    """Every trial of a study was pruned or diverged: there is no best parameter set."""


def value_of(trial: FrozenTrial) -> float | None:
    """A finished trial's value (module docstring); None when it reported none."""
    if trial.state == TrialState.COMPLETE:
        return trial.value
    reported = [v for v in trial.intermediate_values.values() if math.isfinite(v)]
    return max(reported) if reported else None


def expected_best(values: Sequence[float]) -> list[float]:
    """E[max of n draws with replacement] of ``values``, for n = 1 … len(values)."""
    ordered = sorted(values)
    size = len(ordered)
    return [
        sum(v * ((i / size) ** n - ((i - 1) / size) ** n) for i, v in enumerate(ordered, 1))
        for n in range(1, size + 1)
    ]


def best_so_far(trials: Sequence[FrozenTrial]) -> list[float | None]:
    """The best complete value after each finished trial, in the order they were asked."""
    best, curve = None, []
    for trial in trials:
        if trial.state == TrialState.COMPLETE and (best is None or trial.value > best):
            best = trial.value
        curve.append(best)
    return curve


def standard_error(value: float, images: int, labelled: bool) -> float | None:
    """The standard error of a validation kNN accuracy over ``images`` images."""
    if not labelled or images < 1:
        return None
    return math.sqrt(max(value * (1 - value), 0.0) / images)


def importances(study: optuna.Study, seed: int) -> dict[str, float]:
    """Each searched parameter's share of the variance of the complete trials' values (fANOVA),
    or nothing when too few trials completed to tell."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))
    except (RuntimeError, ValueError):  # e.g. every complete trial has the same parameters
        return {}


def _default(study: optuna.Study) -> dict[str, Any] | None:
    """The trial of the parameters as written (the study's first, when they lie in its space)."""
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("defaults"):
            finished = trial.state in FINISHED
            value = value_of(trial) if finished else None
            return {"trial": trial.number, "state": trial.state.name.lower(), "value": value}
    return None


def _trial_row(trial: FrozenTrial, space: SearchSpace) -> dict[str, Any]:
    return {
        "number": trial.number,
        "state": trial.state.name.lower(),
        "value": value_of(trial) if trial.state in FINISHED else None,
        "epochs": len(trial.intermediate_values),
        "params": {**space.fixed, **trial.params},
        **({"diverged": trial.user_attrs["diverged"]} if "diverged" in trial.user_attrs else {}),
    }


def summarize(
    study: optuna.Study,
    space: SearchSpace,
    settings: TuneSettings,
    monitored: tuple[int, bool],
    lineage: Mapping[str, str],
) -> dict[str, Any]:
    """The record of a finished study (module docstring). ``monitored``: how many validation
    images the monitor scores, and whether they are labelled."""
    finished = finished_trials(study)
    complete = [trial for trial in finished if trial.state == TrialState.COMPLETE]
    name = space.experiment.name
    if not complete:
        raise NothingCompletedError(
            f"no trial of {name} completed: all {len(finished)} were pruned or diverged; widen "
            f"its search space (experiments.{name}.search), lower the learning rate's range or "
            "raise tune.epochs"
        )
    best = max(complete, key=lambda trial: trial.value)
    images, labelled = monitored
    values = [value for trial in finished if (value := value_of(trial)) is not None]
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    return {
        "experiment": name,
        "tuned": True,
        "lineage": dict(lineage),
        "budget": settings.model_dump(mode="json", exclude={"use", "storage"}),
        "space": space.describe(),
        "defaults": space.defaults(),
        "objective": "validation kNN accuracy" if labelled else "−(alignment + uniformity)",
        "validation_images": images,
        "best": {
            "trial": best.number,
            "value": best.value,
            "standard_error": standard_error(best.value, images, labelled),
            "params": {**space.fixed, **best.params},
        },
        "default": _default(study),
        "counts": {
            "complete": len(complete),
            "pruned": len(finished) - len(complete),
            "failed": sum(state == TrialState.FAIL for state in states),
        },
        "trials": [_trial_row(trial, space) for trial in study.get_trials(deepcopy=False)],
        "best_so_far": best_so_far(finished),
        "expected_best": expected_best(values),
        "importances": importances(study, settings.seed),
    }
