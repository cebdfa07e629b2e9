"""Runs of one plan trained together (training.fused) against each run trained alone."""

import dataclasses
from pathlib import Path

import pytest
import torch

from crl_pipelines.augment import default_params
from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.losses import LOSSES
from crl_pipelines.models import build_encoder
from crl_pipelines.sampling.views import view_plan
from crl_pipelines.training import fused
from crl_pipelines.training.fused import train_together, train_with_partners
from crl_pipelines.training.job import Job
from crl_pipelines.training.loop import TrainingError
from crl_pipelines.training.stacked import StackedEncoder, member_view
from crl_pipelines.training.trainer import train_encoder
from tests.unit.test_train import MODEL, NaNAfterLoss, experiment, small_data, weights

CPU = torch.device("cpu")
# a margin loss, an all-negatives loss, one drawing random directions (its own random stream)
# and one with parameters of its own (a classifier)
PAIR_LOSSES = ["contrastive", "ntxent", "swd_gaussian", "cross_entropy"]
HISTORY = ["loss", "max_grad_norm", "learning_rate", "val_knn_accuracy", "val_uniformity"]


def jobs_of(train, plan, losses, folder: Path | None, validation=None, **training):
    jobs = []
    for seed, loss in enumerate(losses):
        run = dataclasses.replace(experiment(loss, MODEL, **training), name=loss)
        path = folder / loss / "checkpoint.pt" if folder else None
        jobs.append(Job(train, plan, run, seed, f"{loss}.seed{seed}", validation, path, 0.1))
    return jobs


def alone(job: Job):
    return train_encoder(
        job.train, job.plan, job.experiment, job.seed, name=job.name, validation=job.validation
    )


def rows(progress) -> list[dict]:
    """What training computed of each epoch (not its timing or the NaN of no spike)."""
    return [{key: row.get(key) for key in HISTORY} for row in progress.history]


def assert_same_run(job: Job, progress, encoder) -> None:
    """The fused run's checkpointed weights and history are those of the run trained alone."""
    reference, reference_progress = alone(job)
    assert torch.equal(weights(encoder), weights(reference)), job.name
    assert rows(progress) == rows(reference_progress), job.name


def resumed(job: Job):
    """The run as its own train node gets it: resumed from the checkpoint the group wrote."""
    return train_encoder(
        job.train, job.plan, job.experiment, job.seed, name=job.name,
        validation=job.validation, checkpoint_path=job.checkpoint,
    )  # fmt: skip


def test_class_pair_runs_trained_together_equal_each_run_trained_alone(tmp_path):
    """Looped forward (the CPU's): the same arithmetic as alone, so bit-identical weights,
    losses, gradient norms and validation scores, and every run's own checkpoint."""
    train, test, plan = small_data(epochs=2)
    jobs = jobs_of(train, plan, PAIR_LOSSES, tmp_path, validation=test)
    progresses = train_together(jobs, CPU)
    for job, progress in zip(jobs, progresses, strict=True):
        encoder, from_checkpoint = resumed(job)
        assert rows(from_checkpoint) == rows(progress)
        assert_same_run(job, progress, encoder)


def test_augmented_view_runs_trained_together_with_clipping_equal_alone(tmp_path):
    """Views drawn once for the group are each run's own views; clipping is per run."""
    train, test, _ = small_data(epochs=1)
    plan = view_plan(len(train.labels), 2, 16, 0, "augmented_views", default_params(1))
    losses = ["ntxent", "align_uniform", "swd_hypersphere"]
    jobs = jobs_of(train, plan, losses, tmp_path, validation=test, clip_grad_norm=0.5)
    progresses = train_together(jobs, CPU)
    for job, progress in zip(jobs, progresses, strict=True):
        assert_same_run(job, progress, resumed(job)[0])
        assert max(row["grad_norm"] for row in progress.steps) > 0.5  # clipping was exercised


def test_interrupted_fused_run_resumes_to_the_uninterrupted_weights(tmp_path, monkeypatch):
    """Stopped after its first epoch, a group resumes from the runs' checkpoints (together,
    or each run alone) and ends where the uninterrupted group ends."""
    train, _, plan = small_data(epochs=3)
    whole = jobs_of(train, plan, PAIR_LOSSES[:3], tmp_path / "whole")
    train_together(whole, CPU)
    parts = jobs_of(train, plan, PAIR_LOSSES[:3], tmp_path / "parts")
    run_epoch = fused.Group.run_epoch

    def stop_at_second_epoch(self, epoch, steps, on_step):
        if epoch == 1:
            raise KeyboardInterrupt
        return run_epoch(self, epoch, steps, on_step)

    monkeypatch.setattr(fused.Group, "run_epoch", stop_at_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_together(parts, CPU)
    monkeypatch.setattr(fused.Group, "run_epoch", run_epoch)
    assert [fused.epochs_done(job) for job in parts] == [1, 1, 1]
    train_together(parts[:2], CPU)  # two resume together, the third alone
    for finished, reference in zip(parts, whole, strict=True):
        encoder, progress = resumed(finished)
        expected, expected_progress = resumed(reference)
        assert torch.equal(weights(encoder), weights(expected)), finished.name
        assert rows(progress) == rows(expected_progress)


def test_a_run_going_non_finite_leaves_the_group_and_the_others_train_on(tmp_path, monkeypatch):
    """The NaN run keeps its last good checkpoint and fails in its own node, naming what is
    extreme; the other run trains on in the group to its last epoch, as if never fused."""
    train, _, plan = small_data(epochs=3)
    steps = plan["anchors"].shape[1]
    monkeypatch.setitem(LOSSES, "nan_after", NaNAfterLoss)
    healthy, failing = jobs_of(train, plan, ["contrastive", "nan_after"], tmp_path)
    failing = dataclasses.replace(
        failing,
        experiment=dataclasses.replace(failing.experiment, loss_params={"nan_at_call": steps + 3}),
    )
    progresses = train_together([healthy, failing], CPU)
    assert [len(progress.history) for progress in progresses] == [3, 1]
    assert [fused.epochs_done(job) for job in (healthy, failing)] == [3, 1]
    encoder, progress = resumed(healthy)
    assert_same_run(healthy, progress, encoder)
    with pytest.raises(TrainingError, match=r"nan_after.seed1.*became nan.*check the data"):
        resumed(failing)


def test_partners_are_fused_only_when_their_plan_settings_and_epoch_match(tmp_path):
    """Another optimizer, fuse: false, or a finished checkpoint keeps a partner out; another
    learning rate does not (each run has its own parameter group)."""
    train, _, plan = small_data(epochs=1)
    lead, same, finished = jobs_of(train, plan, ["contrastive", "ntxent", "triplet"], tmp_path)
    other_rate = jobs_of(train, plan, ["supcon"], tmp_path, learning_rate=0.01)[0]
    other_optimizer = jobs_of(train, plan, ["cross_entropy"], tmp_path, optimizer="sgd")[0]
    not_fused = jobs_of(train, plan, ["swd_gaussian"], tmp_path, fuse=False)[0]
    train_encoder(train, plan, finished.experiment, finished.seed,
                  checkpoint_path=finished.checkpoint)  # fmt: skip
    partners = [same, finished, other_rate, other_optimizer, not_fused]
    trained = train_with_partners(lead, partners, CPU)
    assert trained == [lead.name, same.name, other_rate.name]
    assert fused.epochs_done(same) == 1 and fused.epochs_done(other_optimizer) == 0
    assert train_with_partners(lead, [same], CPU) == []  # nothing left to train


def test_runs_with_their_own_learning_rate_and_weight_decay_trained_together_equal_alone():
    """Each run's learning rate and weight decay are its own parameter group's: the group's
    weights, losses and learning rates are those of each run trained alone."""
    train, test, plan = small_data(epochs=2)
    settings = [{"learning_rate": 0.003}, {"learning_rate": 0.0003, "weight_decay": 0.01}, {}]
    jobs = [
        jobs_of(train, plan, [loss], None, validation=test, **own)[0]
        for loss, own in zip(["contrastive", "ntxent", "triplet"], settings, strict=True)
    ]
    with fused.EpochwiseTraining(jobs, CPU) as training:
        for epoch in range(2):
            assert training.train_epoch(epoch) == {}
    for job, setup, progress in zip(jobs, training.setups, training.progresses, strict=True):
        assert progress.history[0]["learning_rate"] == job.experiment.training.learning_rate
        assert_same_run(job, progress, setup.trainable.encoder)


def test_a_stopped_run_keeps_its_epochs_and_the_others_go_on_as_alone():
    """A run stopped between epochs (the tuner prunes so) keeps what it trained; the others
    train on together and end as each would alone."""
    train, test, plan = small_data(epochs=2)
    jobs = jobs_of(train, plan, ["contrastive", "ntxent", "triplet"], None, validation=test)
    with fused.EpochwiseTraining(jobs, CPU) as training:
        training.train_epoch(0)
        training.stop([1])
        training.train_epoch(1)
    assert len(training.progresses[1].history) == 1
    for index in (0, 2):
        assert_same_run(
            jobs[index], training.progresses[index], training.setups[index].trainable.encoder
        )


def test_without_checkpoints_or_with_fusion_off_nothing_is_fused(tmp_path, monkeypatch):
    train, _, plan = small_data(epochs=1)
    lead, partner = jobs_of(train, plan, ["contrastive", "ntxent"], tmp_path)
    monkeypatch.setenv(fused.FUSE_VARIABLE, "0")
    assert not fused.fusion_allowed()
    train_encoder(
        train, plan, lead.experiment, lead.seed, checkpoint_path=lead.checkpoint,
        partners=[(partner.experiment, partner.seed, partner.name, partner.checkpoint)],
    )  # fmt: skip
    assert fused.epochs_done(partner) == 0


@pytest.mark.parametrize(
    "model",
    [
        ModelSettings(arch="small_cnn", embedding_dim=8),
        ModelSettings(arch="resnet18", stem="guide", embedding_dim=8, head_layers=2),
    ],
)
def test_stacked_encoder_computes_each_encoders_output_and_gradient(model):
    """Grouped layers: slice i of the output and of every weight's gradient is encoder i's. In
    float64: float32's other order of summation flips a ReLU or a max-pool's pick for about one
    draw of images in three, which moves a gradient by 1e-3 of its norm."""
    config = {**model.model_dump(), "in_channels": 1, "input_mean": (0.3,), "input_std": (0.2,)}
    encoders = [build_encoder(config, seed=seed).train().double() for seed in range(3)]
    stacked = StackedEncoder(encoders).train().double()
    images = torch.randint(0, 256, (12, 1, 16, 16), dtype=torch.uint8)
    targets = torch.randn(12, 3 * model.embedding_dim, dtype=torch.float64)
    (stacked(images) * targets).sum().backward()
    grads = dict(stacked.named_parameters())
    for index, encoder in enumerate(encoders):
        part = targets[:, index * model.embedding_dim : (index + 1) * model.embedding_dim]
        (encoder(images) * part).sum().backward()
        # measured against the encoder's whole gradient (the guide stem's conv bias, before a
        # batch norm, has a gradient of rounding only)
        scale = torch.nn.utils.get_total_norm([p.grad for p in encoder.parameters()])
        for name, parameter in encoder.named_parameters():
            grad = member_view(grads[name].grad, 3, index, parameter.shape)
            assert (grad - parameter.grad).norm() / scale < 1e-12, name
        for name, buffer in encoder.named_buffers():
            if buffer.dim():  # running statistics, per encoder
                own = member_view(dict(stacked.named_buffers())[name], 3, index, buffer.shape)
                torch.testing.assert_close(own, buffer, rtol=1e-12, atol=1e-14)


def test_grouped_forward_trains_each_run_as_alone_within_rounding(tmp_path):
    """CUDA's forward pass, run on the CPU: grouped convolutions sum in another order, so the
    runs match alone within rounding (SGD, which does not amplify it as Adam's first steps do)."""
    train, _, plan = small_data(epochs=1)
    jobs = jobs_of(train, plan, ["contrastive", "ntxent"], tmp_path, optimizer="sgd",
                   learning_rate=0.01)  # fmt: skip
    progresses = train_together(jobs, CPU, grouped=True)
    for job, progress in zip(jobs, progresses, strict=True):
        encoder, _ = resumed(job)
        reference, reference_progress = alone(job)
        torch.testing.assert_close(weights(encoder), weights(reference), rtol=0, atol=1e-5)
        assert progress.history[0]["loss"] == pytest.approx(
            reference_progress.history[0]["loss"], rel=1e-5
        )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_fused_runs_on_cuda_match_alone_within_bf16_rounding(tmp_path):
    train, _, plan = small_data(epochs=1)
    cuda = torch.device("cuda")
    jobs = jobs_of(train, plan, ["contrastive", "ntxent"], tmp_path, device="cuda")
    progresses = train_together(jobs, cuda)
    for job, progress in zip(jobs, progresses, strict=True):
        _, reference = alone(job)
        assert progress.history[0]["loss"] == pytest.approx(reference.history[0]["loss"], rel=0.05)
