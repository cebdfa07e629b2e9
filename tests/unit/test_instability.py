"""Instability caught: the spike rule against a direct computation, heavy-tailed batch noise and
the noise of a loss at 0 left unflagged, a shift of the level flagged at its onset, a run built to
spike (a learning-rate burst at a known step) flagged at that step in the log and the history,
`keep: best` returning the epoch before it, clipping that changes nothing below its threshold,
and the validation split the monitor reads instead of the test split."""

import dataclasses
import html
import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.evaluation.report import TrainingNote
from crl_pipelines.experiments import Experiment
from crl_pipelines.images import hold_out_validation, stratified_split, stratified_subsample
from crl_pipelines.sampling.class_pairs import class_pair_plan
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.training import instability, monitor, optim
from crl_pipelines.training import job as training_job
from crl_pipelines.training.trainer import train_encoder
from crl_pipelines.training_settings import TrainingSettings
from tests.unit.test_report import small_report

MODEL = ModelSettings(arch="small_cnn", embedding_dim=8)
EPOCHS, BURST_EPOCH, BURST_STEP = 4, 3, 4  # the loss of this step follows the burst


def parts(size=300):
    digits = stratified_subsample(load_digits_dataset(), size, seed=0)
    rest, test = stratified_split(digits, 0.2, seed=0)
    train, validation = hold_out_validation(rest, 0.2, seed=0)
    return train, validation, test


def experiment(**training):
    return Experiment("burst", "contrastive", {"margin": 1.0}, "class_pairs", MODEL,
                      TrainingSettings(**training))  # fmt: skip


def direct_flags(losses, factor, window, epoch_length):
    """The documented rule, one step at a time with numpy."""
    start = abs(np.median(losses[: instability.MIN_WINDOW]))
    flags = []
    for i, loss in enumerate(losses):
        before = np.asarray(losses[max(0, i - window) : i])
        after = losses[i + 1 : i + 1 + instability.AFTER]
        if len(before) < min(instability.MIN_WINDOW, window) or i % epoch_length >= (
            epoch_length - instability.AFTER
        ):
            flags.append(False)
            continue
        level = np.median(before)
        rise = max(factor * (np.quantile(before, 0.9) - level) / 1.2816, 0.1 * start)
        flags.append(loss > level + rise and np.median(after) > level + rise / 2)
    return flags


def judged_by_epochs(losses, factor=10.0, window=50, epoch_length=270):
    """The rule as the loop applies it: epoch by epoch, the window running across epochs."""
    found, previous = [], torch.zeros(0, dtype=torch.float64)
    start = instability.starting_level(torch.as_tensor(losses, dtype=torch.float64))
    for first in range(0, len(losses), epoch_length):
        epoch = torch.as_tensor(losses[first : first + epoch_length], dtype=torch.float64)
        found += instability.spike_flags(previous, epoch, factor, window, start).flags.tolist()
        previous = torch.cat([previous, epoch])
    return np.array(found)


def test_spike_rule_matches_a_direct_computation_across_epochs():
    rng = np.random.default_rng(0)
    losses = np.exp(-np.linspace(0, 3, 120)) + rng.normal(0, 0.01, 120)
    losses[60:] += np.where(np.arange(60) < 3, 1.0, 0.6)  # a jump, and the level stays up
    losses[40] += 1.0  # one hard batch: the next steps are back at the level
    losses[30] = -5.0  # a dip is not a spike
    found = judged_by_epochs(losses, window=20, epoch_length=25)
    assert found.tolist() == direct_flags(losses, 10.0, 20, 25)
    flagged = np.flatnonzero(found).tolist()  # in the burst, from its onset; not the hard batch
    assert flagged[0] == 60 and set(flagged) <= {60, 61, 62}


def test_heavy_tailed_batch_noise_flags_at_most_a_handful():
    """2700 steps (the guide's MNIST run) of independent heavy-tailed noise around a level."""
    decay = 0.1 + 2 * np.exp(-np.arange(2700) / 300)  # a loss that falls, then levels off
    for seed in range(3):
        rng = np.random.default_rng(seed)
        cauchy = decay * (1 + 0.05 * np.abs(rng.standard_cauchy(2700)))
        lognormal = decay * rng.lognormal(0.0, 1.5, 2700)
        student = decay + 0.05 * rng.standard_t(2, 2700)
        for noise in (cauchy, lognormal, student):
            assert judged_by_epochs(noise).sum() <= 2


def test_a_loss_at_a_median_of_zero_never_flags_its_noise():
    """A satisfied hinge: mostly exactly 0, with hard batches, two in a row now and then."""
    rng = np.random.default_rng(0)
    losses = np.where(rng.random(2700) < 0.3, rng.exponential(0.5, 2700), 0.0)
    losses[:20] = 1.0  # the untrained model's loss
    losses[[1000, 1001, 1500, 2200]] = 5.0
    assert np.median(losses) == 0 and not judged_by_epochs(losses).any()
    quiet = np.where(rng.random(2700) < 0.05, rng.exponential(0.05, 2700), 0.0)
    quiet[:20] = 1.0
    assert not judged_by_epochs(quiet).any()
    quiet[2000:] += 0.5  # but a jump that stays up is flagged, even from a median of 0
    assert np.flatnonzero(judged_by_epochs(quiet)).tolist()[:1] == [2000]


def test_a_persisting_shift_is_flagged_at_its_onset_and_one_hard_batch_is_not():
    rng = np.random.default_rng(1)
    losses = 2.0 + 0.3 * np.exp(-np.arange(2700) / 200) + 0.05 * rng.standard_t(3, 2700)
    losses[:5] = 4.3  # the untrained model's loss
    hard = losses.copy()
    hard[1500] += 2.0
    assert not judged_by_epochs(hard).any()
    shifted = losses.copy()
    shifted[1500:] += 1.0  # the model moved: the loss stays up
    assert np.flatnonzero(judged_by_epochs(shifted)).tolist()[:1] == [1500]
    # a shift at an epoch's last steps: flagged at the next epoch's first step
    shifted = losses.copy()
    shifted[538:] += 1.0
    assert np.flatnonzero(judged_by_epochs(shifted)).tolist()[:1] == [540]
    # a flat loss near 0 (cross-entropy) with tiny wiggles
    flat = np.concatenate([[2.3] * 5, 1e-4 + 1e-6 * rng.random(2695)])
    flat[2000:2010] = 5e-3
    assert not judged_by_epochs(flat).any()


def test_a_validation_fall_is_judged_against_the_best_so_far():
    assert instability.degraded(0.85, 0.9, 0.1, "kNN accuracy") is None  # within 10 % of best
    assert instability.degraded(0.5, 0.9, 0.1, "kNN accuracy") == (
        "validation kNN accuracy 0.500 < best 0.900"
    )
    assert instability.degraded(0.5, None, 0.1, "kNN accuracy") is None  # the first epoch
    # without labels: −(alignment + uniformity), which collapse drives towards 0
    good, collapsed = (
        {"val_alignment": 0.5, "val_uniformity": -3.5},
        {"val_alignment": 0.01, "val_uniformity": -0.02},
    )
    (best, what), (score, _) = monitor.selection_score(good), monitor.selection_score(collapsed)
    assert best == 3.0 and instability.degraded(score, best, 0.2, what).startswith(
        "validation −(alignment + uniformity) 0.010"
    )


def burst_at(monkeypatch, global_step):
    """A learning rate ×3000 at one step of the schedule."""
    factor = optim.learning_rate_factor
    monkeypatch.setattr(
        optim, "learning_rate_factor",
        lambda step, *rest: factor(step, *rest) * (3000.0 if step == global_step else 1.0),
    )  # fmt: skip


@pytest.fixture(scope="module")
def data():
    train, validation, test = parts()
    plan = class_pair_plan(train.labels, train.class_names, EPOCHS, 2, seed=0)
    return train, validation, test, plan


def test_a_learning_rate_burst_is_flagged_at_its_step_and_keep_best_skips_it(
    data, monkeypatch, caplog
):
    train, validation, _, plan = data
    steps = plan["anchors"].shape[1]
    burst_at(monkeypatch, (BURST_EPOCH - 1) * steps + BURST_STEP - 2)  # the update before it
    with caplog.at_level(logging.WARNING, logger="crl_pipelines.training.loop"):
        _, last = train_encoder(train, plan, experiment(), 0, validation=validation)
        best_encoder, best = train_encoder(
            train, plan, experiment(keep="best"), 0, validation=validation
        )
    spiked = [row for row in last.history if row["spikes"]]
    assert spiked[0]["epoch"] == BURST_EPOCH and spiked[0]["spike_step"] == BURST_STEP
    assert spiked[0]["spike_loss"] > 10 * spiked[0]["spike_median"]
    flagged = [row for row in last.steps if row["spike"]]
    assert (flagged[0]["epoch"], flagged[0]["step"]) == (BURST_EPOCH, BURST_STEP)
    assert f"loss spike at epoch {BURST_EPOCH}, step {BURST_STEP}:" in caplog.text
    assert last.history[BURST_EPOCH - 1]["degraded"] == 1
    assert "got worse on validation" in caplog.text
    assert best.best_epoch == BURST_EPOCH - 1
    assert best_encoder.training_record == {
        "keep": "best", "kept_epoch": BURST_EPOCH - 1, "epochs": EPOCHS,
        "best_epoch": BURST_EPOCH - 1,
    }  # fmt: skip
    assert [row["kept"] for row in best.history] == [
        int(epoch == BURST_EPOCH - 1) for epoch in range(1, EPOCHS + 1)
    ]
    # the report: the note beside the run, and the summary line at the top
    history = pd.DataFrame(best.history).drop(columns="seconds").to_dict("list")
    note = TrainingNote.of(history, "best")
    assert note.text.startswith(f"the weights of epoch {BURST_EPOCH - 1} of {EPOCHS} are kept")
    first = f"the first at epoch {BURST_EPOCH}, step {BURST_STEP}: loss"
    assert f"1 loss-spike step(s) in epoch(s) {BURST_EPOCH}, {first}" in note.problems
    assert f"epoch {BURST_EPOCH}, step {BURST_STEP}: loss" in note.text
    assert f"validation score fell well below its best at epoch(s) {BURST_EPOCH}" in note.text
    report = small_report()
    report = dataclasses.replace(report, training={"ntxent_s0": note})
    markdown, page = report.markdown(), report.html()
    assert f"Training: {note.text}" in markdown and html.escape(note.text) in page
    assert f"Training instability: ntxent_s0 ({note.problems})." in markdown


def test_keep_best_resumes_to_the_same_kept_weights(data, tmp_path, monkeypatch):
    """A keep-best run stopped after epoch 2 resumes from its checkpoint (the best weights so
    far included) to the weights and record of an uninterrupted run."""
    train, validation, _, plan = data
    checkpoint, run = tmp_path / "checkpoint.pt", experiment(keep="best")
    straight, _ = train_encoder(train, plan, run, 0, validation=validation)
    original = training_job._saver

    def stopping_saver(*args):
        save = original(*args)

        def save_then_stop(epoch, progress):
            save(epoch, progress)
            if epoch == 2:
                raise KeyboardInterrupt

        return save_then_stop

    monkeypatch.setattr(training_job, "_saver", stopping_saver)
    with pytest.raises(KeyboardInterrupt):
        train_encoder(train, plan, run, 0, validation=validation, checkpoint_path=checkpoint)
    monkeypatch.setattr(training_job, "_saver", original)
    resumed, _ = train_encoder(
        train, plan, run, 0, validation=validation, checkpoint_path=checkpoint
    )
    for a, b in zip(resumed.state_dict().values(), straight.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert resumed.training_record == straight.training_record


def test_clipping_above_every_gradient_norm_changes_nothing(data):
    train, _, _, plan = data
    plain, progress = train_encoder(train, plan, experiment(), 0)
    largest = max(row["grad_norm"] for row in progress.steps)
    clipped, _ = train_encoder(train, plan, experiment(clip_grad_norm=largest * 2), 0)
    for a, b in zip(plain.state_dict().values(), clipped.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    tight, traced = train_encoder(train, plan, experiment(clip_grad_norm=largest / 100), 0)
    assert not torch.equal(
        next(iter(tight.state_dict().values())), next(iter(plain.state_dict().values()))
    )
    assert {"epoch", "step", "loss", "learning_rate", "grad_norm", "spike"} == set(traced.steps[0])


def test_validation_part_is_stratified_and_disjoint(caplog):
    train, validation, test = parts(600)
    rows = [{tuple(image.ravel()) for image in part.images} for part in (train, validation, test)]
    assert not (rows[0] & rows[1]) and not (rows[1] & rows[2]) and not (rows[0] & rows[2])
    shares = [
        np.bincount(part.labels, minlength=10) / len(part.labels) for part in (train, validation)
    ]
    assert np.abs(shares[0] - shares[1]).max() < 0.05
    assert validation.provenance["split"] == "validation"
    kept, none = hold_out_validation(train, 0.0, seed=0)
    assert kept is train and none is None
    # a class of two train images keeps both (a class pair needs two); the others give one
    few = train.subset(np.concatenate([np.flatnonzero(train.labels == 0)[:2],
                                       np.flatnonzero(train.labels != 0)]))  # fmt: skip
    kept, held = hold_out_validation(few, 0.01, seed=0)
    assert 0 not in held.labels and set(held.labels) == set(range(1, 10))
    assert (np.bincount(kept.labels) >= 2).all()
    # no class with three images: nothing is held out, and the log says what is off
    pairs = train.subset(np.concatenate([np.flatnonzero(train.labels == k)[:2] for k in range(10)]))
    with caplog.at_level(logging.WARNING, logger="crl_pipelines.images"):
        assert hold_out_validation(pairs, 0.1, seed=0) == (pairs, None)
    assert "no class of the 20 train images has three" in caplog.text


def test_the_monitor_reads_validation_images_never_test_images(data, monkeypatch):
    train, validation, test, plan = data
    seen = []
    original = monitor.Monitor.__init__

    def spy(self, held, bank, *args, **kwargs):
        seen.append((held.images, bank.images))
        original(self, held, bank, *args, **kwargs)

    monkeypatch.setattr(monitor.Monitor, "__init__", spy)
    one_epoch = {**plan, "anchors": plan["anchors"][:1], "positives": plan["positives"][:1]}
    train_encoder(train, one_epoch, experiment(), 0, validation=validation)
    (held, bank), test_rows = seen[0], {tuple(image.ravel()) for image in test.images}
    assert held is validation.images and bank is train.images
    assert not any(tuple(image.ravel()) in test_rows for image in np.concatenate([held, bank]))


def test_keep_best_without_validation_images_is_refused(data):
    train, _, _, plan = data
    with pytest.raises(ValueError, match="validation_fraction above 0"):
        train_encoder(train, plan, experiment(keep="best"), 0)
    assert math.isnan(monitor.selection_score({"val_alignment": math.nan})[0])
