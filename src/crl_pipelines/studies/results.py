"""Gathering the variants' scores from DVC's experiments into one table."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from crl_pipelines.errors import UserError
from crl_pipelines.parameters import ParameterError
from crl_pipelines.studies.definition import (
    COMPARISON,
    PARAMETERS,
    StudySettings,
    Variant,
    hydra_value,
    variant_parameters,
    variants,
)

_MISSING = object()


Scores = dict[str, dict[str, Any]]  # {experiment: {score, score_low, score_high, ...}}


@dataclass(frozen=True)
class Record:
    """One DVC experiment as ``dvc exp show --json`` has it: its parameters and its scores
    (None when it has none: failed, or not run yet), and why not."""

    params: dict[str, Any]
    metrics: Scores | None
    problem: str = ""


def comparison_at(root: Path, rev: str) -> Scores:
    """Each experiment's row of the comparison table (every score, its std over seeds and its
    interval; empty cells left out) at commit ``rev`` of the repository at ``root``, read from
    the DVC cache (a DVC experiment's outputs are there once it ran)."""
    import dvc.api

    table = pd.read_csv(io.StringIO(dvc.api.read(COMPARISON, repo=str(root), rev=rev)))
    return {row["experiment"]: row.dropna().to_dict() for _, row in table.iterrows()}


def experiment_records(
    show: list[dict[str, Any]], read: Callable[[str], Scores]
) -> dict[str, Record]:
    """The named experiments of ``dvc exp show --json``'s output (DVC 3.67: a list of baselines,
    each with ``experiments``, each with ``revs[0]``: its commit ``rev`` and ``data.params``),
    by name, each with its scores as ``read(rev)`` finds them (:func:`comparison_at`), or why
    it has none."""
    records = {}
    for baseline in show:
        for experiment in baseline.get("experiments") or []:
            revision = (experiment.get("revs") or [{}])[0]
            data = revision.get("data") or {}
            params = (data.get("params") or {}).get(PARAMETERS, {}).get("data") or {}
            state = (experiment.get("executor") or {}).get("state", "")
            problem = (revision.get("error") or {}).get("msg", "") or (
                f"it is {state}" if state in ("queued", "running", "failed") else ""
            )
            scores = None
            if not problem:
                try:
                    scores = read(revision["rev"])
                except Exception as error:  # DVC and pandas raise many kinds
                    problem = f"no {COMPARISON}: {error}"
            name = experiment.get("name") or revision.get("name")
            records[name] = Record(params, scores, problem)
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
    """A score as a float (NaN for a missing one; metrics files write infinity as a string)."""
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
    ``score``, ``value``, ``low``, ``high``), and the variants without scores with the reason."""
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
