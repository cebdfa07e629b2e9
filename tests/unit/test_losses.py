"""Unit tests for the losses: each one against a direct, loop-based formula on a small batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from crl_pipelines.losses import LOSSES, build_loss, loss_settings
from crl_pipelines.losses.contrastive import ContrastivePairLoss
from crl_pipelines.losses.cross_entropy import CrossEntropyLoss
from crl_pipelines.losses.ntxent import NTXentLoss
from crl_pipelines.losses.pairwise import distance_matrix, similarity_mask, squared_distance_matrix
from crl_pipelines.losses.triplet import TripletLoss
from crl_pipelines.parameters import ParameterError
from tests.unit import batches

ONE_PAIR_PER_CLASS = [0, 1, 2, 3, 4]
SEVERAL_PAIRS_PER_CLASS = [0, 0, 1, 1, 2, 2]
LABEL_CASES = pytest.mark.parametrize(
    "labels", [ONE_PAIR_PER_CLASS, SEVERAL_PAIRS_PER_CLASS], ids=["one_per_class", "repeats"]
)


def make_batch(labels, dim=4, seed=0, scale=0.5):
    """This file's default batch shape (see tests/unit/batches.py)."""
    return batches.make_batch(labels, dim, seed, scale)


def euclidean(x, y):
    """Euclidean distance between two 1-D tensors, as a Python float."""
    return math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(x, y, strict=True)))


# ---------------------------------------------------------------------------------------------
# pairs.py
# ---------------------------------------------------------------------------------------------


@LABEL_CASES
def test_similarity_mask_matches_nested_loops(labels):
    """Entry (i, j) says whether anchor i and positive-view row j form a similar pair, as the
    guide's form_pairs labels them (and by class when a class has several pairs)."""
    mask = similarity_mask(torch.tensor(labels))
    expected = [[labels[i] == labels[j] for j in range(len(labels))] for i in range(len(labels))]
    assert mask.tolist() == expected
    assert mask.dtype == torch.bool


def test_pair_and_triplet_counts_with_one_pair_per_class():
    """With one pair per class there are B² pairs (B similar) and B(B−1) triplets."""
    size = 7
    mask = similarity_mask(torch.arange(size))
    assert mask.numel() == size**2
    assert int(mask.sum()) == size
    assert int((~mask).sum()) == size * (size - 1)


@LABEL_CASES
def test_distance_matrices_match_loops(labels):
    """distance_matrix[i, j] is the Euclidean distance between anchor i and positive j."""
    x, y, _ = make_batch(labels, dim=3, seed=3)
    size = len(labels)
    expected = torch.tensor(
        [[euclidean(x[i], y[j]) for j in range(size)] for i in range(size)], dtype=torch.float64
    )
    torch.testing.assert_close(distance_matrix(x, y), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(squared_distance_matrix(x, y), expected**2, rtol=1e-12, atol=1e-12)


def test_distance_matrix_is_differentiable_at_zero():
    """Identical rows give distance exactly 0 and still a finite gradient."""
    x, _, _ = make_batch([0, 1, 2], dim=3, seed=3)
    same = x.clone().requires_grad_(True)
    distances = distance_matrix(same, x)
    assert torch.all(distances.diagonal() <= 1e-6)
    distances.sum().backward()
    assert torch.isfinite(same.grad).all()


# ---------------------------------------------------------------------------------------------
# contrastive.py
# ---------------------------------------------------------------------------------------------


def contrastive_reference(anchors, positives, labels, margin):
    """The margin pair loss averaged over all B² (anchor i, positive view j) pairs, by loops."""
    size = len(labels)
    total = 0.0
    for i in range(size):
        for j in range(size):
            distance = euclidean(anchors[i], positives[j])
            if labels[i] == labels[j]:
                total += distance**2
            else:
                total += max(0.0, margin - distance) ** 2
    return total / size**2


@LABEL_CASES
@pytest.mark.parametrize("margin", [1.0, 2.5])
def test_contrastive_matches_loop_formula(labels, margin):
    """ContrastivePairLoss equals S·D² + (1−S)·max(0, m−D)² averaged over all B² pairs."""
    anchors, positives, label_tensor = make_batch(labels)
    loss = ContrastivePairLoss(margin=margin)(anchors, positives, label_tensor)
    expected = contrastive_reference(anchors, positives, labels, margin)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-10, abs=1e-12)


def test_contrastive_margin_is_active_in_the_test_batch():
    """Guard for the test above: some dissimilar pairs lie inside the margin and some outside,
    so both branches of the hinge are exercised."""
    anchors, positives, _ = make_batch(SEVERAL_PAIRS_PER_CLASS)
    distances = torch.cdist(anchors, positives)
    assert (distances < 1.0).any()
    assert (distances > 1.0).any()


def test_contrastive_rejects_non_positive_margin():
    """A margin of zero would make the dissimilar term vanish; it is refused."""
    with pytest.raises(ValueError, match="margin"):
        build_loss("contrastive", {"margin": 0.0}, embedding_dim=4, num_classes=3)


# ---------------------------------------------------------------------------------------------
# triplet.py
# ---------------------------------------------------------------------------------------------


def triplet_reference(anchors, positives, labels, margin):
    """max(0, D(a_i, p_i) − D(a_i, p_j) + m) averaged over i and every j of another class."""
    values = []
    for i in range(len(labels)):
        for j in range(len(labels)):
            if labels[j] != labels[i]:
                to_positive = euclidean(anchors[i], positives[i])
                to_negative = euclidean(anchors[i], positives[j])
                values.append(max(0.0, to_positive - to_negative + margin))
    return sum(values) / len(values)


@LABEL_CASES
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_triplet_matches_loop_formula(labels, margin):
    """TripletLoss equals the hinge averaged over all in-batch triplets."""
    anchors, positives, label_tensor = make_batch(labels, seed=1)
    loss = TripletLoss(margin=margin)(anchors, positives, label_tensor)
    expected = triplet_reference(anchors, positives, labels, margin)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-10, abs=1e-12)


@LABEL_CASES
def test_triplet_matches_torch_triplet_margin_loss(labels):
    """Cross-check against torch's triplet_margin_loss on explicitly stacked triplets (eps=0 so
    torch's distance is the plain Euclidean one)."""
    anchors, positives, label_tensor = make_batch(labels, seed=2)
    a, p, n = [], [], []
    for i in range(len(labels)):
        for j in range(len(labels)):
            if labels[j] != labels[i]:
                a.append(anchors[i])
                p.append(positives[i])
                n.append(positives[j])
    expected = F.triplet_margin_loss(
        torch.stack(a), torch.stack(p), torch.stack(n), margin=0.7, p=2, eps=0.0
    )
    loss = TripletLoss(margin=0.7)(anchors, positives, label_tensor)
    torch.testing.assert_close(loss, expected, rtol=1e-10, atol=1e-12)


def test_triplet_rejects_non_positive_margin():
    """A non-positive margin is refused."""
    with pytest.raises(ValueError, match="margin"):
        build_loss("triplet", {"margin": -1.0}, embedding_dim=4, num_classes=3)


# ---------------------------------------------------------------------------------------------
# gradients at zero distance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("loss_class", [ContrastivePairLoss, TripletLoss])
def test_gradients_finite_at_zero_distance(loss_class):
    """When an anchor equals its positive exactly (and, for the contrastive loss, an anchor equals
    a dissimilar positive too) the gradients stay finite: sqrt at 0 must not give NaN."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=4)
    positives = positives.clone()
    positives[0] = anchors[0]  # similar pair at distance 0
    positives[2] = anchors[1]  # dissimilar pair (anchor 1, positive 2) at distance 0
    anchors = anchors.clone().requires_grad_(True)
    positives = positives.requires_grad_(True)
    loss = loss_class()(anchors, positives, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(anchors.grad).all()
    assert torch.isfinite(positives.grad).all()


# ---------------------------------------------------------------------------------------------
# ntxent.py
# ---------------------------------------------------------------------------------------------


def ntxent_reference(anchors, positives, temperature):
    """SimCLR's NT-Xent over the 2B views with Python loops, math.exp and math.log."""
    size = len(anchors)
    views = [[float(v) for v in row] for row in torch.cat([anchors, positives])]
    normalized = []
    for row in views:
        norm = math.sqrt(sum(v * v for v in row))
        normalized.append([v / norm for v in row])

    def similarity(i, k):
        return sum(a * b for a, b in zip(normalized[i], normalized[k], strict=True)) / temperature

    total = 0.0
    for i in range(2 * size):
        partner = i + size if i < size else i - size
        denominator = sum(math.exp(similarity(i, k)) for k in range(2 * size) if k != i)
        total += -math.log(math.exp(similarity(i, partner)) / denominator)
    return total / (2 * size)


@LABEL_CASES
@pytest.mark.parametrize("temperature", [None, 0.1, 2.0])
def test_ntxent_matches_loop_formula(labels, temperature):
    """NTXentLoss equals the SimCLR formula (τ default 0.5), whatever the labels."""
    anchors, positives, label_tensor = make_batch(labels, seed=5)
    loss_fn = NTXentLoss() if temperature is None else NTXentLoss(temperature=temperature)
    expected = ntxent_reference(anchors, positives, 0.5 if temperature is None else temperature)
    loss = loss_fn(anchors, positives, label_tensor)
    assert float(loss) == pytest.approx(expected, rel=1e-10)


def test_ntxent_ignores_labels():
    """The self-supervised loss uses only the pairing: changing the labels changes nothing."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=6)
    loss_fn = NTXentLoss()
    assert float(loss_fn(anchors, positives, labels)) == float(
        loss_fn(anchors, positives, torch.zeros_like(labels))
    )


def test_ntxent_default_temperature_is_half():
    """The contract's default τ is 0.5."""
    assert NTXentLoss().temperature == 0.5


def test_ntxent_rejects_non_positive_temperature():
    """τ must be positive."""
    with pytest.raises(ValueError, match="temperature"):
        build_loss("ntxent", {"temperature": 0.0}, embedding_dim=4, num_classes=3)


# ---------------------------------------------------------------------------------------------
# cross_entropy.py
# ---------------------------------------------------------------------------------------------


@LABEL_CASES
def test_cross_entropy_matches_functional_and_trains_classifier(labels):
    """The loss is F.cross_entropy of the module's own classifier over both views, and its
    gradient reaches the classifier's weights and bias."""
    torch.manual_seed(0)
    anchors, positives, label_tensor = make_batch(labels, dim=4, seed=7)
    num_classes = max(labels) + 1
    loss_fn = CrossEntropyLoss(embedding_dim=4, num_classes=num_classes).double()
    weight, bias = loss_fn.classifier.weight, loss_fn.classifier.bias
    assert weight.shape == (num_classes, 4)
    inputs = torch.cat([anchors, positives])
    expected = F.cross_entropy(inputs @ weight.detach().T + bias.detach(), label_tensor.repeat(2))
    loss = loss_fn(anchors, positives, label_tensor)
    torch.testing.assert_close(loss.detach(), expected, rtol=1e-12, atol=1e-12)
    loss.backward()
    assert weight.grad is not None
    assert bias.grad is not None
    assert weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# build_loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_build_loss_builds_every_known_name(name):
    """Every registered name builds an instance of its class with no parameters."""
    loss_fn = build_loss(name, None, embedding_dim=4, num_classes=3)
    assert isinstance(loss_fn, LOSSES[name])


def test_build_loss_passes_parameters():
    """Experiment parameters reach the constructor."""
    assert build_loss("contrastive", {"margin": 2.0}, embedding_dim=4, num_classes=3).margin == 2.0
    assert build_loss("triplet", {"margin": 0.2}, embedding_dim=4, num_classes=3).margin == 0.2
    ntxent = build_loss("ntxent", {"temperature": 0.1}, embedding_dim=4, num_classes=3)
    assert ntxent.temperature == 0.1


def test_build_loss_unknown_name_is_named():
    """An unknown loss name raises ValueError quoting the name."""
    with pytest.raises(ValueError, match="no_such_loss"):
        build_loss("no_such_loss", {}, embedding_dim=4, num_classes=3)


def test_build_loss_unknown_parameter_is_named():
    """An unknown parameter raises ValueError naming the parameter."""
    with pytest.raises(ValueError, match="tempreature"):
        build_loss("ntxent", {"tempreature": 0.1}, embedding_dim=4, num_classes=3)


def test_build_loss_context_arguments_are_not_experiment_parameters():
    """embedding_dim and num_classes come from the trainer, never from the experiment entry."""
    with pytest.raises(ValueError, match="num_classes"):
        build_loss("cross_entropy", {"num_classes": 5}, embedding_dim=4, num_classes=3)


def test_build_loss_cross_entropy_gets_context_arguments():
    """cross_entropy's classifier is sized from the embedding_dim/num_classes keyword args."""
    loss_fn = build_loss("cross_entropy", {}, embedding_dim=6, num_classes=9)
    assert loss_fn.classifier.in_features == 6
    assert loss_fn.classifier.out_features == 9


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_numeric_loss_parameter_refuses_nan_inf_bools_and_strings(name):
    """Whatever the loss, a NaN, an infinity, a bool or a numeric string is never a valid
    value of a numeric parameter, and the message names the loss and the parameter."""
    fields = loss_settings(LOSSES[name]).model_fields
    for parameter in fields:
        for bad in (float("nan"), float("inf"), True, "0.5"):
            with pytest.raises(ParameterError, match=rf"`{name}\.loss_params\.{parameter}`"):
                build_loss(name, {parameter: bad}, embedding_dim=4, num_classes=3)


def test_traits_are_stated_on_the_loss_classes():
    """Which losses need labels and which take LOOC's views is read from the classes."""
    needs_labels = {name for name, cls in LOSSES.items() if cls.needs_labels}
    assert needs_labels == {"contrastive", "triplet", "cross_entropy", "supcon"}
    assert {name for name, cls in LOSSES.items() if cls.views == "looc"} == {"looc"}
