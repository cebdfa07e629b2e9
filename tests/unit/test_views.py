"""Self-supervised and LOOC views: the plans, the LOOC loss, and training on them."""

import math

import numpy as np
import pytest
import torch

from crl_pipelines.augment import default_params
from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.images import DataError, ImageDataset, stratified_split, stratified_subsample
from crl_pipelines.losses import build_loss
from crl_pipelines.losses.looc import LOOCLoss
from crl_pipelines.sampling import SAMPLINGS, PairsSettings, check_plan_matches, plan_kind
from crl_pipelines.sampling.class_pairs import class_pair_plan
from crl_pipelines.sampling.views import view_plan
from crl_pipelines.sources.digits import load_digits_dataset
from crl_pipelines.training.trainer import train_encoder
from crl_pipelines.training_settings import TrainingSettings

SMALL = ModelSettings(arch="small_cnn", embedding_dim=8)


def experiment(loss, sampling, model=SMALL):
    return Experiment("probe", loss, {}, sampling, model, TrainingSettings())


def unlabelled(dataset):
    """The same images with no classes."""
    return ImageDataset(dataset.images, np.full_like(dataset.labels, -1), (), dataset.provenance)


def test_view_plan_batches_distinct_images_and_covers_each_epoch():
    """Each batch holds distinct images; an epoch visits each image at most once."""
    plan = view_plan(50, epochs=3, batch_size=8, seed=0, kind="augmented_views",
                     augment_params=default_params(1))  # fmt: skip
    assert plan["anchors"].shape == (3, 6, 8)
    assert plan_kind(plan) == "augmented_views"
    for epoch in plan["anchors"]:
        assert len(np.unique(epoch)) == epoch.size
    assert not np.array_equal(plan["anchors"][0], plan["anchors"][1])
    again = view_plan(50, 3, 8, 0, "augmented_views", default_params(1))
    np.testing.assert_array_equal(again["anchors"], plan["anchors"])


def test_view_plan_rejects_bad_settings_and_stale_plans():
    with pytest.raises(DataError, match=r"pairs\.batch_size"):
        view_plan(10, 1, 11, 0, "augmented_views", {})
    plan = view_plan(10, 1, 4, 0, "looc_views", {})
    with pytest.raises(DataError, match="re-run `kedro run --pipelines=pairs`"):
        check_plan_matches(plan, np.zeros(5, dtype=np.int64))


def test_class_pairs_need_labels():
    """The plan function refuses unlabelled data; the registry's plan says why it is missing,
    and training on it stops with that reason."""
    with pytest.raises(DataError, match="augmented_views"):
        class_pair_plan(np.full(10, -1), (), epochs=1)
    train, _ = small_split()
    plan = SAMPLINGS["class_pairs"].make_plan(unlabelled(train), PairsSettings(epochs=1), None)
    assert plan_kind(plan) == "class_pairs"
    with pytest.raises(DataError, match=r"class_pairs sampling cannot be used here: .*no class"):
        check_plan_matches(plan, np.full(len(train.labels), -1))


def looc_reference(embeddings: torch.Tensor, temperature: float) -> list[float]:
    """LOOC by loops: per space s, query q_b, and each positive key (k_j of image b with j = any
    in space 0, j = s otherwise): −log(e^{q·p/τ} / (e^{q·p/τ} + Σ_negatives e^{q·n/τ})).
    Returns each space's mean over its positives."""
    heads, _, batch, _ = embeddings.shape
    z = torch.nn.functional.normalize(embeddings.double(), dim=-1)
    spaces = []
    for s in range(heads):
        terms = []
        for b in range(batch):
            q = z[s, 0, b]
            keys = [(j, c) for j in range(heads) for c in range(batch)]  # key k_j of image c
            positive = {(j, b) for j in range(heads) if s == 0 or j == s}
            negatives = [math.exp(float(q @ z[s, 1 + j, c]) / temperature)
                         for j, c in keys if (j, c) not in positive]  # fmt: skip
            for j, c in positive:
                pos = math.exp(float(q @ z[s, 1 + j, c]) / temperature)
                terms.append(-math.log(pos / (pos + sum(negatives))))
        spaces.append(sum(terms) / len(terms))
    return spaces


@pytest.mark.parametrize("temperature", [0.2, 1.0])
def test_looc_loss_matches_loop_reference(temperature):
    """Three augmentations → 4 heads and 5 views (q, k0, k1..k3) of 4 images."""
    embeddings = torch.randn(4, 5, 4, 6, generator=torch.Generator().manual_seed(0))
    loss = LOOCLoss(temperature)(embeddings)
    expected = looc_reference(embeddings, temperature)
    assert float(loss) == pytest.approx(sum(expected) / len(expected), rel=1e-5)


def test_looc_positives_by_hand():
    """A hand-built case: in space 1 the query equals k1 and is opposite everything else, so
    space 1's loss is small; in space 0 (all keys positive) the others are far, so it is large."""
    heads, views, batch, dim = 2, 3, 2, 2
    e = torch.zeros(heads, views, batch, dim)
    e[:, :, 0] = torch.tensor([-1.0, 0.0])  # image 0: every view at (-1, 0) ...
    e[:, 0, 0] = torch.tensor([1.0, 0.0])  # ... but the query at (1, 0)
    e[1, 2, 0] = torch.tensor([1.0, 0.0])  # space 1: k1 matches the query
    e[:, :, 1] = torch.tensor([0.0, 1.0])  # image 1 elsewhere
    per_space = looc_reference(e, 0.1)
    assert float(LOOCLoss(0.1)(e)) == pytest.approx(sum(per_space) / 2, rel=1e-6)
    assert per_space[1] < 0.5 < 5 < per_space[0]


def test_looc_loss_checks_views_per_head():
    with pytest.raises(ValueError, match="need 4 views"):
        LOOCLoss()(torch.randn(3, 5, 2, 4))
    assert isinstance(build_loss("looc", {"temperature": 0.5}, embedding_dim=4, num_classes=0),
                      LOOCLoss)  # fmt: skip


def small_split(size=160):
    digits = stratified_subsample(load_digits_dataset(), size, seed=0)
    return stratified_split(digits, 0.25, seed=0)


def test_augmented_views_train_without_labels():
    """NT-Xent on augmented views never reads the labels: unlabelled data trains the same."""
    train, test = small_split()
    plan = view_plan(len(train.labels), 2, 32, 0, "augmented_views", default_params(1))
    run = experiment("ntxent", "augmented_views")
    labelled, progress = train_encoder(train, plan, run, seed=0, validation=test)
    without, unwatched = train_encoder(unlabelled(train), plan, run, seed=0, validation=test)
    for a, b in zip(labelled.state_dict().values(), without.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    history = progress.history
    assert history[-1]["loss"] < history[0]["loss"]
    # without labels the monitor aligns two fixed augmented views of each validation image
    assert "val_knn_accuracy" in history[0] and "val_knn_accuracy" not in unwatched.history[0]
    assert 0 < unwatched.history[0]["val_alignment"] < 4


def test_label_losses_on_unlabelled_data_stop_before_training():
    train, _ = small_split()
    plan = view_plan(len(train.labels), 1, 32, 0, "augmented_views", default_params(1))
    with pytest.raises(ValueError, match="supcon loss needs class labels"):
        train_encoder(unlabelled(train), plan, experiment("supcon", "augmented_views"), seed=0)


def test_looc_trains_one_head_per_augmentation_and_scores_looc_plus_plus():
    """looc gets 1 + n heads for n augmentations; `all_heads` scores their concatenation."""
    train, _ = small_split()
    params = default_params(1)
    plan = view_plan(len(train.labels), 1, 32, 0, "looc_views", params)
    looc_plus_plus = SMALL.model_copy(update={"representation": "all_heads"})
    run = experiment("looc", "looc_views", looc_plus_plus)
    encoder, progress = train_encoder(train, plan, run, seed=0)
    assert encoder.config["extra_heads"] == len(params)
    assert np.isfinite(progress.history[0]["loss"])
    stages = encoder.stages(torch.from_numpy(train.images[:3]))
    assert stages["embedding"].shape == (3, 8 * (1 + len(params)))
    with pytest.raises(ValueError, match="ntxent loss trains on `sampling:` class_pairs or "):
        train_encoder(train, plan, experiment("ntxent", "looc_views"), seed=0)
