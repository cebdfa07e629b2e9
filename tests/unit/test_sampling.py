"""Unit tests for the class-pair sampling plan (sampling.py)."""

from __future__ import annotations

import numpy as np
import pytest

from crl_pipelines.images import DataError
from crl_pipelines.sampling import check_plan_matches
from crl_pipelines.sampling.class_pairs import class_pair_plan

CLASS_NAMES = ("zero", "one", "two", "three")


def shuffled_labels(counts, seed=0):
    """Train labels with ``counts[k]`` images of class k, in a seeded random order."""
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.random.default_rng(seed).permutation(labels)


BALANCED = shuffled_labels([10, 10, 10, 10])
UNBALANCED = shuffled_labels([3, 12, 7, 18], seed=1)
PLAN_CASES = pytest.mark.parametrize(
    ("labels", "pairs_per_class"),
    [(BALANCED, 1), (BALANCED, 2), (BALANCED, 3), (UNBALANCED, 1), (UNBALANCED, 2)],
    ids=["balanced-ppc1", "balanced-ppc2", "balanced-ppc3", "unbalanced-ppc1", "unbalanced-ppc2"],
)


@PLAN_CASES
def test_plan_shapes(labels, pairs_per_class):
    """anchors, positives and labels are (epochs, steps, C·ppc) with steps = N // (C·ppc)."""
    epochs = 3
    plan = class_pair_plan(labels, CLASS_NAMES, epochs, pairs_per_class, seed=0)
    batch = len(CLASS_NAMES) * pairs_per_class
    expected = (epochs, len(labels) // batch, batch)
    for key in ("anchors", "positives", "labels"):
        assert plan[key].shape == expected, key
        assert plan[key].dtype == np.int64, key


@PLAN_CASES
def test_every_batch_holds_ppc_pairs_of_each_class(labels, pairs_per_class):
    """Each batch holds exactly ppc pairs of every class, and the recorded labels are the true
    labels of both the anchors and the positives."""
    plan = class_pair_plan(labels, CLASS_NAMES, 3, pairs_per_class, seed=1)
    epochs, steps, _ = plan["anchors"].shape
    for epoch in range(epochs):
        for step in range(steps):
            batch_labels = plan["labels"][epoch, step]
            counts = np.bincount(batch_labels, minlength=len(CLASS_NAMES))
            assert counts.tolist() == [pairs_per_class] * len(CLASS_NAMES)
            np.testing.assert_array_equal(labels[plan["anchors"][epoch, step]], batch_labels)
            np.testing.assert_array_equal(labels[plan["positives"][epoch, step]], batch_labels)


@PLAN_CASES
def test_positive_is_never_the_anchor(labels, pairs_per_class):
    """A positive is another image of the anchor's class, never the anchor itself."""
    plan = class_pair_plan(labels, CLASS_NAMES, 5, pairs_per_class, seed=2)
    assert (plan["anchors"] != plan["positives"]).all()
    np.testing.assert_array_equal(labels[plan["positives"]], labels[plan["anchors"]])


@PLAN_CASES
def test_each_epoch_covers_or_distinctly_samples_each_class(labels, pairs_per_class):
    """Per epoch and class: when the epoch needs at least as many anchors as the class has images,
    every image is an anchor; when it needs no more, the anchors are all distinct."""
    plan = class_pair_plan(labels, CLASS_NAMES, 4, pairs_per_class, seed=3)
    epochs, steps, _ = plan["anchors"].shape
    per_class = steps * pairs_per_class
    for epoch in range(epochs):
        anchors = plan["anchors"][epoch].ravel()
        anchor_labels = plan["labels"][epoch].ravel()
        for k in range(len(CLASS_NAMES)):
            members = np.flatnonzero(labels == k)
            chosen = anchors[anchor_labels == k]
            assert len(chosen) == per_class
            if per_class >= len(members):
                assert set(chosen.tolist()) == set(members.tolist())
            if per_class <= len(members):
                assert len(np.unique(chosen)) == len(chosen)


def test_test_cases_exercise_both_coverage_regimes():
    """Guard for the coverage test: the unbalanced split has classes smaller and larger than an
    epoch's anchors per class, so both branches are really checked."""
    steps = len(UNBALANCED) // len(CLASS_NAMES)
    counts = np.bincount(UNBALANCED)
    assert (counts < steps).any()
    assert (counts > steps).any()


def test_anchors_differ_between_epochs():
    """Each epoch draws a fresh order: the epochs' anchor sequences are not all the same."""
    plan = class_pair_plan(BALANCED, CLASS_NAMES, 4, 1, seed=4)
    anchors = plan["anchors"]
    assert any(not np.array_equal(anchors[0], anchors[e]) for e in range(1, len(anchors)))


def test_same_seed_same_plan_different_seed_different_plan():
    """The plan is a pure function of the labels and settings: same seed, identical arrays;
    another seed, different pairs."""
    first = class_pair_plan(UNBALANCED, CLASS_NAMES, 3, 2, seed=11)
    second = class_pair_plan(UNBALANCED, CLASS_NAMES, 3, 2, seed=11)
    other = class_pair_plan(UNBALANCED, CLASS_NAMES, 3, 2, seed=12)
    for key in ("anchors", "positives", "labels"):
        np.testing.assert_array_equal(first[key], second[key])
    assert not np.array_equal(first["anchors"], other["anchors"])
    assert not np.array_equal(first["positives"], other["positives"])
    assert int(first["seed"]) == 11
    assert int(first["pairs_per_class"]) == 2


def test_class_with_single_image_is_named():
    """A class with one image cannot give a positive; the DataError names the class."""
    labels = np.array([0, 0, 0, 1, 2, 2, 2, 3, 3, 3])
    with pytest.raises(DataError, match="'one'"):
        class_pair_plan(labels, CLASS_NAMES, 1, 1, seed=0)


@pytest.mark.parametrize(("epochs", "pairs_per_class"), [(0, 1), (1, 0)])
def test_invalid_settings_raise(epochs, pairs_per_class):
    """Zero epochs or zero pairs per class are refused with DataError."""
    with pytest.raises(DataError):
        class_pair_plan(BALANCED, CLASS_NAMES, epochs, pairs_per_class, seed=0)


def test_batch_larger_than_split_raises():
    """When the split cannot fill one batch the error says so instead of returning no steps."""
    with pytest.raises(DataError, match="pairs_per_class"):
        class_pair_plan(BALANCED, CLASS_NAMES, 1, 11, seed=0)


def test_check_plan_matches_accepts_own_labels():
    """A plan checked against the labels it was made from passes silently."""
    plan = class_pair_plan(UNBALANCED, CLASS_NAMES, 2, 1, seed=0)
    check_plan_matches(plan, UNBALANCED)


def test_check_plan_matches_rejects_other_labels():
    """A plan checked against a different train label array raises DataError."""
    plan = class_pair_plan(UNBALANCED, CLASS_NAMES, 2, 1, seed=0)
    other = np.roll(UNBALANCED, 1)
    assert not np.array_equal(other, UNBALANCED)
    with pytest.raises(DataError):
        check_plan_matches(plan, other)


def test_check_plan_matches_rejects_tampered_pairs():
    """Even with the right fingerprint, pairs whose labels disagree with the record are caught."""
    plan = class_pair_plan(BALANCED, CLASS_NAMES, 2, 1, seed=0)
    tampered = dict(plan)
    tampered["positives"] = plan["positives"].copy()
    anchor_label = BALANCED[plan["anchors"][0, 0, 0]]
    wrong_class = int(np.flatnonzero(anchor_label != BALANCED)[0])
    tampered["positives"][0, 0, 0] = wrong_class
    with pytest.raises(DataError, match="labels"):
        check_plan_matches(tampered, BALANCED)
