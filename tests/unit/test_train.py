"""The training package: schedule, determinism, resume after a kill, the NaN stop, monitoring,
and the steps behind one interface."""

import logging
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
import torch

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.images import ImageDataset, stratified_split, stratified_subsample
from crl_pipelines.losses import LOSSES, Loss
from crl_pipelines.sampling import SAMPLINGS, PairsSettings
from crl_pipelines.sampling.class_pairs import class_pair_plan
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.training.loop import TrainingError
from crl_pipelines.training.optim import learning_rate_factor
from crl_pipelines.training.steps.base import Step
from crl_pipelines.training.trainer import train_encoder
from crl_pipelines.training_settings import TrainingSettings

MODEL = ModelSettings(arch="small_cnn", embedding_dim=8)  # seconds on a CPU


def small_data(size=200, epochs=2, pairs_per_class=2):
    digits = stratified_subsample(load_digits_dataset(), size, seed=0)
    train, test = stratified_split(digits, 0.25, seed=0)
    plan = class_pair_plan(train.labels, train.class_names, epochs, pairs_per_class, seed=0)
    return train, test, plan


def experiment(loss="ntxent", model=MODEL, loss_params=None, sampling="class_pairs", **training):
    return Experiment("probe", loss, loss_params or {}, sampling, model,
                      TrainingSettings(**training))  # fmt: skip


def weights(encoder):
    return torch.cat([value.flatten().float() for value in encoder.state_dict().values()])


def test_learning_rate_factor_warms_up_then_follows_cosine():
    """Linear warm-up to 1, then constant, or a cosine that starts at 1 and ends near 0."""
    assert [learning_rate_factor(s, 10, 4, "constant") for s in range(5)] == [
        0.25, 0.5, 0.75, 1.0, 1.0,
    ]  # fmt: skip
    assert learning_rate_factor(4, 10, 4, "cosine") == pytest.approx(1.0)
    assert learning_rate_factor(7, 10, 4, "cosine") == pytest.approx(0.5)
    assert learning_rate_factor(10, 10, 4, "cosine") == pytest.approx(0.0)


def test_cosine_schedule_is_applied_per_step():
    """The history records each epoch's starting learning rate under the schedule."""
    train, _, plan = small_data(epochs=3)
    run = experiment(scheduler="cosine", warmup_epochs=1, learning_rate=0.01)
    _, progress = train_encoder(train, plan, run, seed=0)
    steps = plan["anchors"].shape[1]
    rates = [row["learning_rate"] for row in progress.history]
    assert rates[0] == pytest.approx(0.01 / steps)  # first warm-up step
    assert rates[1] == pytest.approx(0.01)  # warm-up done, cosine starts at the peak
    assert rates[2] == pytest.approx(
        0.01 * learning_rate_factor(2 * steps, 3 * steps, steps, "cosine")
    )


def test_same_seed_same_weights_and_history():
    """Same seed, same device (CPU) → bit-identical weights, for pair and triplet losses too."""
    train, _, plan = small_data(epochs=1)
    for model, loss in [(MODEL, "contrastive"), (MODEL, "triplet"), (MODEL, "swd_gaussian"),
                        (ModelSettings(embedding_dim=8), "contrastive")]:  # fmt: skip
        runs = [train_encoder(train, plan, experiment(loss, model), seed=3) for _ in range(2)]
        assert torch.equal(weights(runs[0][0]), weights(runs[1][0])), loss
        assert runs[0][1].history[0]["loss"] == runs[1][1].history[0]["loss"]
    other, _ = train_encoder(train, plan, experiment("contrastive"), seed=4)
    assert not torch.equal(weights(other), weights(runs[0][0]))


def test_history_tracks_validation_knn_alignment_uniformity_and_spread():
    train, validation, plan = small_data(epochs=2)
    _, progress = train_encoder(train, plan, experiment(), seed=0, validation=validation)
    assert [row["epoch"] for row in progress.history] == [1, 2]
    for row in progress.history:
        assert set(row) == {"epoch", "loss", "learning_rate", "max_grad_norm", "spikes",
                            "spike_step", "spike_loss", "spike_median", "val_alignment",
                            "val_uniformity", "val_collapse_statistic", "val_knn_accuracy",
                            "degraded", "seconds", "kept"}  # fmt: skip
        assert 0 < row["val_alignment"] < 4 and -4 < row["val_uniformity"] < 0
        assert row["val_collapse_statistic"] > 0.1 and 0.1 < row["val_knn_accuracy"] <= 1
    assert [row["kept"] for row in progress.history] == [0, 1]  # keep: last


def test_collapse_warning_uses_the_threshold_it_is_given(caplog):
    """The end-of-training collapse warning follows `evaluate.collapse_threshold`, not a constant:
    the same run is flagged under a threshold above its spread and not under one below it."""
    train, validation, plan = small_data(epochs=1)
    for threshold, flagged in ((10.0, True), (0.0, False)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="crl_pipelines.training.monitor"):
            train_encoder(train, plan, experiment(), seed=0, validation=validation,
                          collapse_threshold=threshold)  # fmt: skip
        assert ("looks collapsed" in caplog.text) is flagged, threshold


class NaNAfterLoss(Loss):
    """A loss that turns NaN at a chosen call, to test the stop."""

    calls = 0

    def __init__(self, nan_at_call: int = 0) -> None:
        super().__init__()
        self.nan_at_call = nan_at_call
        NaNAfterLoss.calls = 0

    def forward(self, anchors, positives, labels):
        NaNAfterLoss.calls += 1
        loss = (anchors - positives).pow(2).mean()
        return loss * math.nan if NaNAfterLoss.calls >= self.nan_at_call else loss


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    train, _, plan = small_data(epochs=3)
    steps = plan["anchors"].shape[1]
    monkeypatch.setitem(LOSSES, "nan_after", NaNAfterLoss)
    checkpoint = tmp_path / "checkpoint.pt"
    run = experiment("nan_after", loss_params={"nan_at_call": steps + 3})
    with pytest.raises(TrainingError, match=r"'probe'.*nan at epoch 2, step 3.*epoch 1 is kept"):
        train_encoder(train, plan, run, seed=0, checkpoint_path=checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    assert state["epoch"] == 1
    assert all(torch.isfinite(value).all() for value in state["encoder"].values()
               if value.is_floating_point())  # fmt: skip


def test_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    train, _, plan = small_data(epochs=1)
    checkpoint = tmp_path / "checkpoint.pt"
    train_encoder(train, plan, experiment(), seed=0, checkpoint_path=checkpoint)
    faster = experiment(learning_rate=0.01)
    fresh, _ = train_encoder(train, plan, faster, seed=0)
    reused, _ = train_encoder(train, plan, faster, seed=0, checkpoint_path=checkpoint)
    assert torch.equal(weights(fresh), weights(reused))


class RunsCode:
    """A pickle that would run code when unpickled (it must never be)."""

    def __reduce__(self):
        return (os.system, ("touch unpickled-code-ran",))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "unsafe pickle", "empty"])
def test_unreadable_checkpoint_is_moved_aside_and_training_starts_afresh(
    tmp_path, monkeypatch, caplog, damage
):
    """A truncated, corrupt, empty or unsafe checkpoint never crashes the run and never runs
    code: it is named in a warning, moved to <name>.unreadable, and the run trains from the start
    to the same weights as a run without it."""
    monkeypatch.chdir(tmp_path)
    train, _, plan = small_data(epochs=1)
    checkpoint = tmp_path / "checkpoint.pt"
    train_encoder(train, plan, experiment(), seed=0, checkpoint_path=checkpoint)
    good = checkpoint.read_bytes()
    damaged = {
        "truncated": good[:100],
        "garbage": b"not a checkpoint at all",
        "empty": b"",
    }
    if damage == "unsafe pickle":
        torch.save({"fingerprint": RunsCode()}, checkpoint)
    else:
        checkpoint.write_bytes(damaged[damage])
    bad = checkpoint.read_bytes()
    with caplog.at_level(logging.WARNING, logger="crl_pipelines.training.checkpoint"):
        resumed, _ = train_encoder(train, plan, experiment(), seed=0, checkpoint_path=checkpoint)
    assert f"{checkpoint} is not a readable checkpoint" in caplog.text
    assert (tmp_path / "checkpoint.pt.unreadable").read_bytes() == bad
    assert not (tmp_path / "unpickled-code-ran").exists()
    fresh, _ = train_encoder(train, plan, experiment(), seed=0)
    assert torch.equal(weights(resumed), weights(fresh))
    assert checkpoint.is_file()  # the new run's own checkpoint


RESUME_SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.unit.test_train import experiment, small_data
    from crl_pipelines.training.trainer import train_encoder
    train, test, plan = small_data(size=400, epochs=3, pairs_per_class=1)
    train_encoder(train, plan, experiment("triplet", scheduler="cosine"), seed=0,
                  checkpoint_path=sys.argv[1])
    """
)


@pytest.mark.slow
@pytest.mark.processes
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    """Kill a training process (SIGKILL) after its first checkpoint; resuming from it ends with
    exactly the weights and history of an uninterrupted run."""
    checkpoint = tmp_path / "checkpoint.pt"
    environment = {**os.environ, "PYTHONPATH": os.getcwd()}
    process = subprocess.Popen([sys.executable, "-c", RESUME_SCRIPT, str(checkpoint)],
                               env=environment)  # fmt: skip
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert checkpoint.exists(), "the process never wrote a checkpoint"
    done = torch.load(checkpoint, weights_only=True)["epoch"]
    assert 1 <= done < 3, f"the kill came too late to interrupt (epoch {done})"

    train, _, plan = small_data(size=400, epochs=3, pairs_per_class=1)
    run = experiment("triplet", scheduler="cosine")
    resumed, resumed_history = train_encoder(train, plan, run, seed=0, checkpoint_path=checkpoint)
    straight, straight_history = train_encoder(train, plan, run, seed=0)
    assert torch.equal(weights(resumed), weights(straight))
    for part in ("history", "steps"):  # NaN where no spike: compared as frames
        resumed_rows = pd.DataFrame(getattr(resumed_history, part)).drop(
            columns="seconds", errors="ignore"
        )
        straight_rows = pd.DataFrame(getattr(straight_history, part)).drop(
            columns="seconds", errors="ignore"
        )
        pd.testing.assert_frame_equal(resumed_rows, straight_rows)


def test_bf16_precision_trains_with_finite_loss_on_the_cpu():
    train, _, plan = small_data(epochs=1)
    _, progress = train_encoder(train, plan, experiment(precision="bf16"), seed=0)
    assert np.isfinite(progress.history[0]["loss"])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_training_uses_bf16_autocast_and_returns_a_cpu_encoder():
    train, _, plan = small_data(epochs=1)
    encoder, progress = train_encoder(train, plan, experiment(device="cuda"), seed=0)
    assert np.isfinite(progress.history[0]["loss"])
    assert next(encoder.parameters()).device.type == "cpu"


def test_checkpoint_of_other_images_is_not_resumed(tmp_path):
    """Same plan and labels but changed pixels: the checkpoint is not reused."""
    train, _, plan = small_data(epochs=1)
    checkpoint = tmp_path / "checkpoint.pt"
    train_encoder(train, plan, experiment(), seed=0, checkpoint_path=checkpoint)
    mirrored = np.ascontiguousarray(train.images[..., ::-1])
    flipped = ImageDataset(mirrored, train.labels, train.class_names, train.provenance)
    fresh, _ = train_encoder(flipped, plan, experiment(), seed=0)
    reused, _ = train_encoder(flipped, plan, experiment(), seed=0, checkpoint_path=checkpoint)
    assert torch.equal(weights(fresh), weights(reused))


def test_every_sampling_has_one_step_behind_the_same_interface():
    """Every sampling's registration names a step, and every step turns batch (epoch, index)
    of its plan into one finite scalar loss that back-propagates into the encoder."""
    train, _, _ = small_data(epochs=1)
    pairs = PairsSettings(epochs=1, pairs_per_class=2, batch_size=16)
    losses = {"class_pairs": "contrastive", "augmented_views": "ntxent", "looc_views": "looc"}
    assert set(losses) == set(SAMPLINGS)
    for sampling, entry in SAMPLINGS.items():
        # the step's module is part of the training code (training/steps/__init__.py lists it)
        assert entry.step.partition(":")[0] in sys.modules, sampling
        assert issubclass(entry.step_class(), Step)
        plan = SAMPLINGS[sampling].make_plan(train, pairs, None)
        _, progress = train_encoder(
            train, plan, experiment(losses[sampling], sampling=sampling), seed=0
        )
        assert len(progress.history) == 1 and np.isfinite(progress.history[0]["loss"]), sampling
