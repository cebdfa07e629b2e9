"""Gathering the variants' metrics from DVC's experiments into one table."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from crl_pipelines.errors import UserError
from crl_pipelines.parameters import ParameterError
from crl_pipelines.studies.definition import (
    METRICS,
    PARAMETERS,
    StudySettings,
    Variant,
    hydra_value,
    variant_parameters,
    variants,
)

_MISSING = object()


@dataclass(frozen=True)
class Record:
    """One DVC experiment as ``dvc exp show --json`` has it: its parameters and its metrics
    (None when it has none: failed, or not run yet), and why not."""

    params: dict[str, Any]
    metrics: dict[str, dict[str, Any]] | None
    problem: str = ""


def experiment_records(show: list[dict[str, Any]]) -> dict[str, Record]:
    """The named experiments of ``dvc exp show --json``'s output (DVC 3.67: a list of baselines,
    each with ``experiments``, each with ``revs[0].data.params`` and ``.metrics`` keyed by file
    and then ``data``), by name."""
    records = {}
    for baseline in show:
        for experiment in baseline.get("experiments") or []:
            revision = (experiment.get("revs") or [{}])[0]
            data = revision.get("data") or {}
            params = (data.get("params") or {}).get(PARAMETERS, {}).get("data") or {}
            metrics = (data.get("metrics") or {}).get(METRICS, {})
            state = (experiment.get("executor") or {}).get("state", "")
            problem = (revision.get("error") or {}).get("msg", "") or (
                f"it is {state}" if state in ("queued", "running", "failed") else ""
            )
            if not problem and "data" not in metrics:
                problem = f"no {METRICS}: {(metrics.get('error') or {}).get('msg', 'missing')}"
            name = experiment.get("name") or revision.get("name")
            records[name] = Record(params, None if problem else metrics["data"], problem)
    return records


def lookup(parameters: Mapping[str, Any], path: str) -> Any:
    value: Any = parameters
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _check_ran_as_defined(study: StudySettings, variant: Variant, record: Record) -> None:
    """A :class:`UserError` when the experiment ran with other values than the study now sets:
    setting the study's values again over the parameters it ran with must change nothing."""
    try:
        expected, _ = variant_parameters(study, variant, record.params)
    except ParameterError:
        expected = {}
    for path in [*study.fixed, *variant.values]:
        ran, wanted = lookup(record.params, path), lookup(expected, path)
        if ran != wanted:
            shown = "nothing" if ran is _MISSING else f"`{hydra_value(ran)}`"
            raise UserError(
                f"experiment {variant.name} ran with `{path}` = {shown}, but study {study.name} "
                f"sets `{hydra_value(wanted)}`: the study changed since it ran; "
                f"`python -m crl_pipelines.studies run {study.name} --replace` runs it again"
            )


def number(value: Any) -> float:
    """A metrics.json value as a float: NaN and infinity are written as strings there."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def label(value: Any) -> Any:
    """A parameter value as a table cell: a scalar as it is, a list or mapping as JSON."""
    return json.dumps(value) if isinstance(value, list | dict) else value


def study_results(
    study: StudySettings, records: Mapping[str, Record]
) -> tuple[pd.DataFrame, dict[str, str]]:
    """One row per variant × experiment × score (the grid's parameters, ``experiment``,
    ``score``, ``value``, ``low``, ``high``), and the variants without metrics with the reason."""
    rows, missing = [], {}
    for variant in variants(study):
        record = records.get(variant.name)
        if record is None or record.metrics is None:
            missing[variant.name] = record.problem if record else "no such experiment"
            continue
        _check_ran_as_defined(study, variant, record)
        grid = {path: label(value) for path, value in variant.values.items()}
        for experiment, scores in record.metrics.items():
            for score in study.scores:
                numbers = [
                    number(scores.get(key)) for key in (score, f"{score}_low", f"{score}_high")
                ]
                row = dict(zip(("value", "low", "high"), numbers, strict=True))
                rows.append({"variant": variant.name, **grid, "experiment": experiment,
                             "score": score, **row})  # fmt: skip
    columns = ["variant", *study.grid, "experiment", "score", "value", "low", "high"]
    return pd.DataFrame(rows, columns=columns), missing
