"""Compare: every run's scores side by side, the ranking, DVC's metrics, the runs' CKA and the
report.

Of each run, it reads the run's results (``<run>.results``: the scores record, the training
history, the figures by file) and, for the CKA between runs, its embeddings (whose test features
no score can summarize); kedro-viz draws the rest of the run inside the run's group.

Before anything is compared, every run's results must chain to the current split, its
sampling's current plan, the settings the parameters give it now and the current scoring
settings; a stale run is named with the command that rebuilds it. What the report says of a run
(its kept epoch and why, how many resamples its intervals rest on) is read from its results.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from crl_pipelines import lineage
from crl_pipelines.evaluation.context import DEPTHS
from crl_pipelines.evaluation.figures import (
    COMPARISON_FIGURES,
    RUN_FIGURES,
    cka_heatmaps,
    comparison_figures,
    expected_best,
    skipped,
)
from crl_pipelines.evaluation.metrics_file import metrics_files
from crl_pipelines.evaluation.report import (
    FigureFile,
    Report,
    TrainingNote,
    TuningSection,
    comparison_table,
    plan_summary,
)
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.evaluation.similarity import ESTIMATOR, cka_matrices
from crl_pipelines.evaluation.tuning import HEADLINE, trials_table, tuning_section
from crl_pipelines.evaluation.uncertainty import Significance, assess, with_intervals
from crl_pipelines.runs import FLOOR, Run, RunFailure
from crl_pipelines.tuning.record import tuning_fingerprint

log = logging.getLogger(__name__)

# How wide each figure is shown (FigureFile.layout): the training curves take the page's width
# (a panel per run, each on its own scale), as do the corruption curves (a panel per
# corruption); the retrieval grid (a row per class) takes two cells.
LAYOUT = dict.fromkeys((*RUN_FIGURES, *COMPARISON_FIGURES), "cell") | {
    "training_curves": "full",
    "corruption_curves": "full",
    "retrieval": "double",
}


@dataclass(frozen=True)
class Comparison:
    """What the comparison's nodes are given: the runs (the untuned twins of tuned experiments
    among them), the samplings of their plans, the experiments (whose tuning records they read),
    what each run's results must have been made from (``expected``: its ``settings``, unless it
    is tuned, and ``scoring`` fingerprints) and, when the experiments are tuned (``use``), what
    each study must have been made from (``tuned_from``), and the scoring settings."""

    runs: tuple[Run, ...]
    samplings: tuple[str, ...]
    experiments: tuple[str, ...]
    expected: Mapping[str, Mapping[str, str]]
    tuned_from: Mapping[str, Mapping[str, str]]
    use: bool
    settings: ScoringSettings

    def unpack(self, inputs: Iterator[Any]) -> tuple[Comparison, dict, dict, dict, dict]:
        """The plans, the tuning records and the runs' results, from the nodes' inputs in this
        order (what follows is left in ``inputs``). A run that failed (its results, or its
        experiment's tuning record, a :class:`RunFailure`) is left out: returned are the
        comparison of the others, their inputs, and each failed run with why."""
        plans = {sampling: next(inputs) for sampling in self.samplings}
        tunings = {experiment: next(inputs) for experiment in self.experiments}
        records = {run.name: next(inputs) for run in self.runs}
        lost = {name: t.why for name, t in tunings.items() if isinstance(t, RunFailure)}
        failed = {
            run.name: lost.get(run.experiment) or records[run.name].why
            for run in self.runs
            if run.experiment in lost or isinstance(records[run.name], RunFailure)
        }
        kept = replace(
            self,
            runs=tuple(run for run in self.runs if run.name not in failed),
            experiments=tuple(name for name in self.experiments if name not in lost),
        )
        tunings = {name: record for name, record in tunings.items() if name not in lost}
        records = {name: record for name, record in records.items() if name not in failed}
        return kept, plans, tunings, records, failed


def check_lineage(
    records: dict[str, dict[str, Any]],
    dataset_summary: dict[str, Any],
    split: str,
    plans: dict[str, dict[str, np.ndarray]],
    tunings: dict[str, dict[str, Any]],
    comparison: Comparison,
) -> None:
    """The dataset summary describes the current ``split`` (the train split's fingerprint);
    every run's results were made from it, the current plan and the settings the parameters
    give the run now; a tuned run's, from its experiment's current tuning record, made from the
    current split, plan, settings, space and budget. The earliest stale artifact is named, with
    the command that rebuilds it and what follows."""
    if dataset_summary.get(lineage.KEY, {}).get("split") != split:
        raise lineage.StaleArtifactError(
            "the dataset summary (data/03_primary/summary.json) does not describe the "
            "current train split (an ingest stopped between its files, or an older version "
            "wrote it); rebuild it: `kedro run --pipelines=ingest`"
        )
    for run in comparison.runs:
        wanted = {"split": split, **comparison.expected[run.name]}
        if run.trained:
            wanted["plan"] = lineage.of_arrays(plans[run.sampling]).get("plan", "")
        if run.trained and "settings" not in wanted:  # tuned: its record says its settings
            record = tunings[run.experiment]
            lineage.require(
                record.get("lineage", {}),
                {"split": split, "plan": wanted["plan"], **comparison.tuned_from[run.experiment]},
                f"the tuning record of {run.experiment}",
                f"`kedro run --pipelines=tune,train,embed,evaluate --namespaces={run.experiment}`",
            )
            wanted["tuning"] = tuning_fingerprint(record)
        lineage.require(
            records[run.name].get(lineage.KEY, {}), wanted, f"the evaluation of {run.name}",
            f"`kedro run --pipelines=train,embed,evaluate --namespaces={run.experiment}`",
        )  # fmt: skip


def _history(record: dict[str, Any]) -> dict[str, list[Any]]:
    """A trained run's history as its columns (the JSON's nulls back to NaN, as read from
    history.csv)."""
    return {
        column: [np.nan if value is None else value for value in values]
        for column, values in record["history"].items()
    }


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        key: np.nan if value is None else float(value) for key, value in record["scores"].items()
    }


def _table(records: dict[str, dict[str, Any]], settings: ScoringSettings) -> pd.DataFrame:
    """One row per experiment of these runs: mean and std over seeds, and the intervals; a column
    empty for every experiment (the std of one seed, a score or interval skipped) is left out."""
    table = comparison_table(
        {run: _scalars(record) for run, record in records.items()},
        {run: record["experiment"] for run, record in records.items()},
    )
    table = with_intervals(table, records, settings.confidence, settings.seed)
    return table.dropna(axis="columns", how="all")


def _split(records: dict[str, Any], runs: tuple[Run, ...]) -> tuple[dict, dict]:
    """The final runs' results and the untuned twins'."""
    final = {run.name: records[run.name] for run in runs if not run.untuned}
    untuned = {run.name: records[run.name] for run in runs if run.untuned}
    return final, untuned


def compare_runs(
    dataset_summary: dict[str, Any],
    train_set: dict[str, np.ndarray],
    *inputs: Any,
    comparison: Comparison,
) -> tuple[Any, ...]:
    """The comparison table of the final runs (mean ± std over seeds, intervals),
    DVC's metrics, the figures that put all experiments side by side (distances and depth
    probes of each experiment's first seed, training curves of every final run), every trial of
    every study (``tuning.csv``) and each loss's expected best validation score against the
    trials, after :func:`check_lineage`. Inputs: :meth:`Comparison.unpack`'s."""
    comparison, plans, tunings, records, failed = comparison.unpack(iter(inputs))
    if failed:
        log.warning("compared without the runs that failed: %s", ", ".join(failed))
    split = lineage.split_of(train_set, "train")
    check_lineage(records, dataset_summary, split, plans, tunings, comparison)
    final, _ = _split(records, comparison.runs)
    table = _table(final, comparison.settings)
    first_of = {}
    for run, record in final.items():
        first_of.setdefault(record["experiment"], run)
    between = {
        experiment: np.array(records[run].get("between_class_distances", []), dtype=float)
        for experiment, run in first_of.items()
    }
    depth = {
        experiment: {
            d: np.nan if v is None else v for d, v in records[run]["probe_by_depth"].items()
        }
        for experiment, run in first_of.items()
    }
    runs = [run for run in comparison.runs if run.trained and not run.untuned]
    curves = {run.name: _history(records[run.name]) for run in runs}
    robustness = {
        experiment: {
            "names": records[run]["corruption_names"],
            "probe": records[run]["corruption_probe"],
            "clean": records[run]["corruption_clean"],
        }
        for experiment, run in first_of.items()
        if records[run].get("corruption_names")
    }
    figures = comparison_figures(between, depth, curves, robustness)
    tuned = {name: record for name, record in tunings.items() if record.get("tuned")}
    if tuned:
        objective = next(iter(tuned.values()))["objective"]
        best = expected_best({name: r["expected_best"] for name, r in tuned.items()}, objective)
    else:
        best = skipped("expected best validation score", "the experiments are not tuned")
    return (
        table, metrics_files(table), *(figures[name] for name in COMPARISON_FIGURES),
        trials_table(tunings), best,
    )  # fmt: skip


def compare_representations(
    dataset_summary: dict[str, Any],
    train_set: dict[str, np.ndarray],
    *inputs: Any,
    comparison: Comparison,
) -> tuple[dict[str, Any], Any]:
    """Debiased linear CKA between every two final runs' test features (the untrained floor's
    seeds among them), at the embedding and after every stage: the matrices as a record and as
    heat maps, of the runs :func:`check_lineage` finds current, each run's embeddings from the
    current split. Inputs: :meth:`Comparison.unpack`'s, then each final run's embeddings in
    the order of ``comparison.runs``."""
    parts = iter(inputs)
    everyone = [run.name for run in comparison.runs if not run.untuned]
    comparison, plans, tunings, records, _ = comparison.unpack(parts)
    split = lineage.split_of(train_set, "train")
    check_lineage(records, dataset_summary, split, plans, tunings, comparison)
    runs = [run for run in comparison.runs if not run.untuned]
    embeddings = [arrays for name, arrays in zip(everyone, parts, strict=True) if name in records]
    features = {}
    for run, arrays in zip(runs, embeddings, strict=True):
        lineage.require(
            lineage.of_arrays(arrays), {"split": split}, f"the embeddings of {run.name}",
            f"`kedro run --pipelines=train,embed --namespaces={run.experiment}`",
        )  # fmt: skip
        features[run.name] = {
            depth: arrays[f"test_{depth}"] for depth in DEPTHS if f"test_{depth}" in arrays
        }
    matrices = cka_matrices(features, DEPTHS)
    matrices = {depth: m for depth, m in matrices.items() if np.isfinite(m).any()}
    log.info("CKA between %d runs at %d depths", len(runs), len(matrices))
    record = {
        "estimator": ESTIMATOR,
        "runs": [run.name for run in runs],
        "experiments": [run.experiment for run in runs],
        "test_images": len(next(iter(embeddings))["test_labels"]) if embeddings else 0,
        "cka": {
            depth: [[None if np.isnan(v) else float(v) for v in row] for row in matrix]
            for depth, matrix in matrices.items()
        },
    }
    return record, cka_heatmaps(matrices, record["runs"])


def write_report(
    comparison_table: pd.DataFrame,
    dataset_summary: dict[str, Any],
    *inputs: Any,
    comparison: Comparison,
    parameters: Mapping[str, Any],
) -> tuple[str, str]:
    """The report as self-contained HTML (figures embedded) and as Markdown (figures linked).

    Inputs, in this order: :meth:`Comparison.unpack`'s (every run's results with its
    :data:`RUN_FIGURES`' PNG bytes); the :data:`COMPARISON_FIGURES` and the expected-best
    figure (PNG bytes); :func:`compare_representations`' record and figure.
    """
    parts = iter(inputs)
    comparison, plans, tunings, records, failed = comparison.unpack(parts)
    final, untuned = _split(records, comparison.runs)
    shown = [run for run in comparison.runs if not run.untuned]
    figures = {
        figure: FigureFile(next(parts), f"{figure}.png", LAYOUT[figure])
        for figure in COMPARISON_FIGURES
    }
    expected = FigureFile(next(parts), "expected_best.png", "cell")
    similarity = next(parts)
    figures["cka"] = FigureFile(next(parts), "cka.png", "full")
    matrix = np.array(similarity["cka"].get("embedding", []), dtype=float)
    trained = list(dict.fromkeys(run.experiment for run in shown if run.trained))
    significance = assess(comparison_table, final, trained, comparison.settings)
    report = Report(
        table=comparison_table,
        significance=significance,
        floor=FLOOR,
        runs={
            run: {
                key: record.get(key)
                for key in ("experiment", "seed", "scores", "skipped", "seconds", "confusion")
            }
            for run, record in final.items()
        },
        comparison_figures=figures,
        run_figures={run.name: _run_figures(records[run.name], run) for run in shown},
        dataset=dataset_summary,
        plans={sampling: plan_summary(plan) for sampling, plan in plans.items()},
        parameters=dict(parameters),
        training={
            run.name: TrainingNote.of(
                _history(records[run.name]), records[run.name]["training"]["keep"]
            )
            for run in shown
            if run.trained
        },
        tuning=_tuning(tunings, comparison_table, untuned, significance, comparison, expected),
        similarity=(matrix, similarity["experiments"]) if matrix.size else None,
        failed=failed,
    )
    for line in report.summary():
        log.info("%s", line)
    return report.html(), report.markdown()


def _run_figures(record: dict[str, Any], run: Run) -> dict[str, FigureFile]:
    """A run's figures, as its results hold them, at their place beside the report."""
    return {
        figure: FigureFile(
            record["figures"][figure]["png"],
            f"runs/{run.folder}/{record['figures'][figure]['file']}",
            LAYOUT[figure],
        )
        for figure in RUN_FIGURES
    }


def _tuning(
    tunings: dict[str, Any],
    table: pd.DataFrame,
    untuned: dict[str, Any],
    significance: Significance,
    comparison: Comparison,
    figure: FigureFile,
) -> TuningSection | None:
    """The report's Tuning section, when the experiments are tuned: the untuned runs' table and
    tied groups beside the final runs'."""
    if not comparison.use:
        return None
    untuned_table = _table(untuned, comparison.settings)
    trained = list(comparison.experiments)
    before = assess(untuned_table, untuned, trained, comparison.settings)
    groups = (before.groups.get(HEADLINE, [trained]), significance.groups.get(HEADLINE, [trained]))
    return tuning_section(tunings, table, untuned_table, groups, figure)
