"""How sure a score and a ranking are: bootstrap intervals, paired tests, Holm, tied groups.

Every shown score of a run is recomputed on ``B`` resamples of its test images
(:func:`replicates`), drawn the way its registry entry's ``interval`` says (:func:`resample_rows`):
with replacement for the percentile bootstrap, or half of the images without replacement for
scores that repeated rows bias (a covariance, a rank, a clustering's agreement), whose interval
is then the basic one of the half-samples (:func:`interval`). The resamples come from the scoring
seed and the number of test images only, so every run of a comparison uses the same ones and
two runs can be compared resample by resample (*paired*). With several seeds, each resample also
draws the seeds with replacement (:func:`experiment_replicates`), so the interval and the tests
cover both the test images and the initial weights. An interval that does not hold its own
estimate (the score's bias on these images larger than its spread) is not shown
(:func:`experiment_interval` says why).

Between two experiments (:func:`paired_p_value`): for a score that is a per-image right/wrong
(probe and kNN accuracy, P@1) with one seed, McNemar's exact test on the images the two get
different; otherwise a paired bootstrap test of the difference (over its bootstrap standard
error). The p-values of a score are corrected for the number of pairs with Holm's step-down
method (:func:`holm`), and the ranking groups experiments that cannot be told apart
(:func:`tied_groups`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crl_pipelines.evaluation.context import RunContext, Skip
from crl_pipelines.evaluation.scores import SCORES


def bootstrap_rows(images: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` × ``images`` test rows drawn with replacement, the same for every run of
    this many test images and this seed."""
    return np.random.default_rng([seed, images]).integers(0, images, size=(resamples, images))


def half_sample_rows(images: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples`` × ``images // 2`` test rows, each resample half of the images without
    replacement (sorted), the same for every run of this many test images and this seed.

    Half of n without replacement has the finite-population variance σ²(1/m − 1/n) = σ²/n at
    m = n/2: the half-samples' spread is the full estimate's, with no rescaling (Politis, Romano &
    Wolf, *Subsampling*, 1999), and their shift from the full estimate is the estimate's own
    bias when the bias falls as 1/n, which the basic interval subtracts."""
    rng = np.random.default_rng([seed, images, 2])
    order = np.argsort(rng.random((resamples, images)), axis=1)
    return np.sort(order[:, : images // 2], axis=1)


def resample_rows(method: str, images: int, resamples: int, seed: int) -> np.ndarray:
    """The test rows of every resample for a score whose interval is ``method``."""
    draw = half_sample_rows if method == "subsample" else bootstrap_rows
    return draw(images, resamples, seed)


def replicates(run: RunContext, names: Sequence[str], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Each score of ``names`` on every resample of ``rows`` (NaN where it cannot be scored)."""
    out = {name: np.full(len(rows), math.nan) for name in names}
    per_image = {n: SCORES[n].per_image(run) for n in names if SCORES[n].per_image is not None}
    for name, values in per_image.items():
        taken = values[rows].astype(float)
        with np.errstate(invalid="ignore"):
            out[name] = np.nanmean(taken, axis=1) if np.isnan(taken).any() else taken.mean(axis=1)
    batched = {n: SCORES[n].batched for n in names if n not in per_image and SCORES[n].batched}
    for name, compute in batched.items() if len(rows) else ():
        try:
            out[name] = np.asarray(compute(run, rows), dtype=float)
        except (Skip, ValueError, FloatingPointError):
            continue  # no value on any resample
    rest = [name for name in names if name not in per_image and name not in batched]
    for index, resample in enumerate(rows if rest else ()):
        context = run.resampled(resample)
        for name in rest:
            try:
                out[name][index] = SCORES[name].compute(context)
            except (Skip, ValueError, FloatingPointError):
                continue  # e.g. a resample with a single class: no value for that resample
    return out


def experiment_replicates(per_seed: Sequence[np.ndarray], seed: int) -> np.ndarray:
    """An experiment's bootstrap distribution of its mean over seeds: resample b averages the
    seeds drawn (with replacement) for b, each on test resample b. One seed: its replicates."""
    stacked = np.asarray(per_seed, dtype=float)  # seeds × resamples
    if len(stacked) == 1:
        return stacked[0]
    rng = np.random.default_rng([seed, len(stacked), stacked.shape[1]])
    drawn = rng.integers(0, len(stacked), size=(stacked.shape[1], len(stacked)))
    return stacked[drawn, np.arange(stacked.shape[1])[:, None]].mean(axis=1)


def interval(
    values: np.ndarray, confidence: float, method: str = "percentile", estimate: float = math.nan
) -> tuple[float, float]:
    """The interval of a score from its resampled ``values`` (NaN ones left out): their
    percentiles (``percentile``), or for half-samples (``subsample``) the basic interval
    2·estimate − their upper and lower percentiles, which moves it against their bias."""
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2 * 100
    low, high = (float(v) for v in np.percentile(values, [tail, 100 - tail]))
    if method == "subsample":
        return (2 * estimate - high, 2 * estimate - low)
    return (low, high)


# Fewer resamples with a value than this share, and the interval is not shown.
ENOUGH_RESAMPLES = 0.9


def experiment_interval(
    records: Mapping[str, Mapping[str, Any]],
    experiment: str,
    name: str,
    estimate: float,
    confidence: float,
    seed: int,
) -> tuple[float, float, str]:
    """An experiment's interval of score ``name`` around its ``estimate`` (the mean over its
    seeds), by the method its runs were resampled with, and why none is shown ("" when one is,
    "no resamples" when its runs carry none): fewer than :data:`ENOUGH_RESAMPLES` of the
    resamples had a value, or the interval does not hold the estimate."""
    per_seed = _per_seed(records, experiment, name)
    if per_seed is None or not math.isfinite(estimate):
        return math.nan, math.nan, "no resamples"
    values = experiment_replicates(per_seed, seed)
    method = _method(records, experiment, name)
    finite = int(np.isfinite(values).sum())
    if finite < ENOUGH_RESAMPLES * len(values):
        return math.nan, math.nan, f"only {finite} of {len(values)} resamples had a value"
    low, high = interval(values, confidence, method, estimate)
    if not low <= estimate <= high:
        shift = float(np.nanmean(values)) - estimate
        return math.nan, math.nan, f"its resamples are biased by {shift:+.3g}, beyond their spread"
    return low, high, ""


def paired_bootstrap_p(first: np.ndarray, second: np.ndarray, observed: float) -> float:
    """Two-sided p-value of "no difference" from paired bootstrap replicates of two scores: the
    observed difference over the standard deviation of the resampled differences (its bootstrap
    standard error), against the normal distribution. Unlike counting resamples beyond the
    observed difference, it is not floored at 1 / (B + 1), so Holm's correction over many pairs
    can still find a difference (66 pairs need p < 0.05 / 66 ≈ 0.0008, below 1 / 501)."""
    from scipy.stats import norm

    differences = (first - second)[np.isfinite(first - second)]
    if len(differences) < 2 or not math.isfinite(observed):
        return math.nan
    error = float(differences.std(ddof=1))
    if error == 0:
        return 1.0 if observed == 0 else 0.0
    return float(2 * norm.sf(abs(observed) / error))


def mcnemar_p(first_right: np.ndarray, second_right: np.ndarray) -> float:
    """McNemar's exact test: two classifiers on the same images, a two-sided binomial test on
    the images exactly one of them gets right."""
    from scipy.stats import binomtest

    only_first = int((first_right & ~second_right).sum())
    only_second = int((second_right & ~first_right).sum())
    if only_first + only_second == 0:
        return 1.0
    return float(binomtest(only_first, only_first + only_second, 0.5).pvalue)


def holm(p_values: Mapping[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Holm's step-down adjustment of a family of p-values (NaN ones stay NaN, uncounted)."""
    finite = sorted((p, pair) for pair, p in p_values.items() if math.isfinite(p))
    adjusted, running = {pair: math.nan for pair in p_values}, 0.0
    for rank, (p, pair) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - rank) * p))
        adjusted[pair] = running
    return adjusted


def tied_groups(
    order: Sequence[str], adjusted: Mapping[tuple[str, str], float], alpha: float
) -> list[list[str]]:
    """The ranking (best first) cut into groups: each starts at the best experiment left, with
    every remaining one that is not significantly different from it (adjusted p ≥ ``alpha``)."""
    remaining, groups = list(order), []
    while remaining:
        leader = remaining[0]
        group = [leader] + [
            other for other in remaining[1:] if not significant(adjusted, leader, other, alpha)
        ]
        groups.append(group)
        remaining = [name for name in remaining if name not in group]
    return groups


def significant(
    adjusted: Mapping[tuple[str, str], float], first: str, second: str, alpha: float
) -> bool:
    """Whether the adjusted p-value of the pair (either order) is below ``alpha``."""
    p = adjusted.get((first, second), adjusted.get((second, first), math.nan))
    return math.isfinite(p) and p < alpha


def pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every unordered pair of ``names``, in order."""
    return list(itertools.combinations(names, 2))


@dataclass(frozen=True)
class Significance:
    """For every ranked score: the experiments in tied groups (best first), the Holm-adjusted
    p-value of each pair, and the test used; ``note`` says what the intervals and tests cover."""

    groups: dict[str, list[list[str]]]
    adjusted: dict[str, dict[tuple[str, str], float]]
    tests: dict[str, str]
    alpha: float
    note: str


def with_intervals(
    table: pd.DataFrame, records: Mapping[str, Mapping[str, Any]], confidence: float, seed: int
) -> pd.DataFrame:
    """``table`` (one row per experiment) with ``<score>_low`` and ``<score>_high``: the interval
    of every score whose runs carry bootstrap replicates."""
    table = table.copy()
    for name in SCORES:
        for index, experiment in table["experiment"].items():
            if _per_seed(records, experiment, name) is None:
                continue
            estimate = float(table.loc[index, name])
            low, high, _ = experiment_interval(
                records, experiment, name, estimate, confidence, seed
            )
            table.loc[index, f"{name}_low"], table.loc[index, f"{name}_high"] = low, high
    return table


def withheld(
    table: pd.DataFrame, records: Mapping[str, Mapping[str, Any]], confidence: float, seed: int
) -> dict[str, dict[str, str]]:
    """Score → experiment → why its interval is not shown, for the experiments whose runs were
    resampled but whose interval :func:`experiment_interval` withheld."""
    out: dict[str, dict[str, str]] = {}
    for name in SCORES:
        if name not in table:
            continue
        for _, row in table.iterrows():
            experiment, estimate = row["experiment"], float(row[name])
            _, _, why = experiment_interval(records, experiment, name, estimate, confidence, seed)
            if why and why != "no resamples":
                out.setdefault(name, {})[experiment] = why
    return out


def assess(
    table: pd.DataFrame,
    records: Mapping[str, Mapping[str, Any]],
    trained: Sequence[str],
    settings: Any,
) -> Significance:
    """Paired tests between every two trained experiments on every ranked score, Holm-corrected
    per score, and the tied groups of the ranking. ``records``: run → its scores record (with
    ``experiment``, ``scores``, ``replicates``, ``outcomes``)."""
    groups, adjusted, tests = {}, {}, {}
    values = table.set_index("experiment")
    seeds = max((len(_runs(records, e)) for e in trained), default=1)
    for name, score in SCORES.items():
        if not score.better or name not in values or values.loc[list(trained), name].isna().all():
            continue
        per_pair, test = {}, _test_for(records, trained, name, seeds)
        for first, second in pairs(trained):
            per_pair[first, second] = _pair_p(records, values, name, first, second, test, settings)
        adjusted[name], tests[name] = holm(per_pair), test
        order = values.loc[list(trained), name].sort_values(ascending=score.better < 0)
        groups[name] = tied_groups(list(order.index), adjusted[name], settings.significance)
    note = " ".join([_note(records, seeds, settings), *_withheld_note(table, records, settings)])
    return Significance(groups, adjusted, tests, settings.significance, note)


def _runs(records: Mapping[str, Mapping[str, Any]], experiment: str) -> list[Mapping[str, Any]]:
    return [record for record in records.values() if record["experiment"] == experiment]


def _per_seed(records, experiment: str, name: str) -> list[np.ndarray] | None:
    runs = _runs(records, experiment)
    found = [run.get("replicates", {}).get(name) for run in runs]
    if not runs or any(values is None or len(values) == 0 for values in found):
        return None
    return [np.asarray(values, dtype=float) for values in found]


def _method(records, experiment: str, name: str) -> str:
    """How the runs of ``experiment`` resampled score ``name`` (what their records say)."""
    (run, *_) = _runs(records, experiment)
    return run.get("resampling", {}).get(name, "percentile")


def _test_for(records, trained: Sequence[str], name: str, seeds: int) -> str:
    outcomes = [run.get("outcomes", {}).get(name) for e in trained for run in _runs(records, e)]
    binary = all(
        values is not None and np.isin(np.asarray(values, dtype=float), (0.0, 1.0)).all()
        for values in outcomes
    )
    return "McNemar's exact test" if seeds == 1 and binary else "paired bootstrap"


def _pair_p(records, values, name: str, first: str, second: str, test: str, settings) -> float:
    if test == "McNemar's exact test":
        (a,), (b,) = _runs(records, first), _runs(records, second)
        return mcnemar_p(*(np.asarray(r["outcomes"][name], dtype=bool) for r in (a, b)))
    first_seeds, second_seeds = _per_seed(records, first, name), _per_seed(records, second, name)
    if first_seeds is None or second_seeds is None:
        return math.nan
    observed = float(values.loc[first, name] - values.loc[second, name])
    return paired_bootstrap_p(
        experiment_replicates(first_seeds, settings.seed),
        experiment_replicates(second_seeds, settings.seed),
        observed,
    )


def _note(records, seeds: int, settings: Any) -> str:
    """What the intervals and tests rest on, read from the runs' records: the test images and
    the bootstrap resamples each run's replicates hold."""
    images = next(
        (len(r.get("outcomes", {}).get("probe_accuracy", [])) for r in records.values()), 0
    )
    counts = {len(values) for r in records.values() for values in r.get("replicates", {}).values()}
    resamples = " to ".join(str(count) for count in sorted(counts)) or "no"
    over = f"the {images} test images" if images else "the test images"
    seeds_text = (
        f"and the {seeds} seeds"
        if seeds > 1
        else "(one seed: seed-to-seed variation is not in them)"
    )
    return (
        f"Intervals: {settings.confidence:.0%}, over {over} ({resamples} resamples) "
        f"{seeds_text}: {_methods(records)}. Experiments joined by = cannot "
        f"be told apart: McNemar's exact test for per-image accuracies with one seed, otherwise a "
        f"paired bootstrap test (the difference over its bootstrap standard error), Holm-corrected "
        f"over the pairs of each score (p < {settings.significance:g} counts as a difference)."
    )


METHOD_WORDS = {
    "percentile": "the percentile bootstrap for",
    "subsample": "half-samples without replacement and their basic interval (corrected for the "
    "bias that fewer images give) for",
}


def _methods(records: Mapping[str, Mapping[str, Any]]) -> str:
    """Which interval each shown score has, as the runs' records say they were resampled."""
    by_method: dict[str, list[str]] = {}
    for record in records.values():
        for name in record.get("replicates", {}):
            method = record.get("resampling", {}).get(name, "percentile")
            if name in SCORES and SCORES[name].better and name not in by_method.get(method, []):
                by_method.setdefault(method, []).append(name)
    parts = [
        f"{METHOD_WORDS[method]} {', '.join(SCORES[n].heading for n in names)}"
        for method, names in by_method.items()
    ]
    parts += [
        f"none for {score.heading} ({score.why_no_interval})"
        for score in SCORES.values()
        if score.kind == "score" and score.better and score.interval == "none"
    ]
    return "; ".join(parts)


def _withheld_note(table: pd.DataFrame, records, settings: Any) -> list[str]:
    """A sentence per score with an interval withheld: whose, and why."""
    return [
        f"No interval for {SCORES[name].heading} of "
        + "; ".join(f"{experiment} ({why})" for experiment, why in whose.items())
        + ": the value alone is shown."
        for name, whose in withheld(table, records, settings.confidence, settings.seed).items()
    ]
