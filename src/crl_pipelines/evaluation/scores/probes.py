"""Linear probes: after every stage (a depth profile), on each MultiDigit position, and the headline
probe on the embedding with its train accuracy and gap."""

from __future__ import annotations

from operator import methodcaller

import numpy as np

from crl_pipelines.evaluation.context import DEPTHS, RunContext
from crl_pipelines.evaluation.scores.base import SCORES, ScoreFunction, mean_of

# The probe after each stage: a depth profile, drawn in a figure rather than ranked.
for _depth in DEPTHS:
    _after = {"stem": "the stem", "embedding": "the head (the embedding)"}.get(_depth, _depth)
    SCORES.register(
        f"probe_{_depth}",
        needs_labels=True,
        meaning=f"linear probe test accuracy on the features after {_after} (depth profile)",
    )(methodcaller("probe", _depth))


def _digit_probe(position: int) -> ScoreFunction:
    def compute(run: RunContext) -> float:
        return float(run.per_image(run.digit_probe_correct(position)).mean())

    return compute


# The probe on each digit position's class (MultiDigit): a study draws it against digit size.
for _position in range(4):
    SCORES.register(
        f"probe_digit_{_position}",
        needs_labels=True,
        heading=f"digit {_position + 1} probe",
        better=1,
        meaning=f"linear probe accuracy on the class of digit {_position + 1} (MultiDigit)",
        order=15,
        per_image=lambda run, position=_position: run.digit_probe_correct(position),
    )(_digit_probe(_position))


@SCORES.register(
    "probe_accuracy",
    needs_labels=True,
    heading="probe acc.",
    better=1,
    meaning="linear probe (logistic regression, L2 strength 1) test accuracy",
    in_table=True,
    order=10,
    per_image=lambda run: run.probe_correct("embedding"),
)
def _probe_accuracy(run: RunContext) -> float:
    return run.probe("embedding")


def _swept_probe_correct(run: RunContext) -> np.ndarray:
    return run.swept_probe[0]


SCORES.register(
    "swept_probe_accuracy",
    needs_labels=True,
    heading="swept probe acc.",
    better=1,
    meaning="SimCLR's linear evaluation: the probe's L2 strength chosen from 1e-6 … 1e5 on the "
    "validation split",
    in_table=True,
    order=10,
    per_image=_swept_probe_correct,
)(mean_of(_swept_probe_correct))


@SCORES.register(
    "swept_probe_l2",
    needs_labels=True,
    meaning="the L2 strength the swept probe chose on the validation split",
    fmt=".0e",
    kind="count",
)
def _swept_probe_l2(run: RunContext) -> float:
    return run.swept_probe[1]


@SCORES.register(
    "probe_train_accuracy",
    needs_labels=True,
    heading="probe train acc.",
    meaning="the linear probe's accuracy on the train embeddings it was fitted on",
    order=11,
)
def _probe_train_accuracy(run: RunContext) -> float:
    return run.probe_train_accuracy("embedding")


def _probe_gap_per_image(run: RunContext) -> np.ndarray:
    return run.probe_train_accuracy("embedding") - run.probe_correct("embedding")


@SCORES.register(
    "probe_gap",
    needs_labels=True,
    heading="probe gap",
    meaning="probe train − test accuracy: the fit that does not carry to new images",
    in_table=True,
    order=12,
    per_image=_probe_gap_per_image,
)
def _probe_gap(run: RunContext) -> float:
    return float(run.per_image(_probe_gap_per_image(run)).mean())
