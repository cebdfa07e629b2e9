"""Unit tests for align_uniform, the generalized (LSE / SWD) losses and SupCon: each one against
a direct, loop-based formula on a small float64 batch."""

from __future__ import annotations

import math

import pytest
import torch

from crl_pipelines.losses import LOSSES, build_loss
from crl_pipelines.losses.align_uniform import AlignUniformLoss, alignment, uniformity
from crl_pipelines.losses.generalized import (
    LSEHypersphereLoss,
    SWDGaussianLoss,
    SWDHypercubeLoss,
    SWDHypersphereLoss,
    generalized_alignment,
    random_directions,
    sample_prior,
    sliced_wasserstein,
)
from crl_pipelines.losses.ntxent import NTXentLoss
from crl_pipelines.losses.supcon import SupConLoss
from tests.unit import batches

NEW_LOSSES = [
    "align_uniform",
    "lse_hypersphere",
    "swd_hypersphere",
    "swd_hypercube",
    "swd_gaussian",
    "supcon",
]
SWD_CLASSES = {
    "hypersphere": SWDHypersphereLoss,
    "hypercube": SWDHypercubeLoss,
    "gaussian": SWDGaussianLoss,
}
ONE_PAIR_PER_CLASS = [0, 1, 2, 3, 4]
SEVERAL_PAIRS_PER_CLASS = [0, 0, 1, 2, 2, 2]
LABEL_CASES = pytest.mark.parametrize(
    "labels", [ONE_PAIR_PER_CLASS, SEVERAL_PAIRS_PER_CLASS], ids=["one_per_class", "repeats"]
)


def make_batch(labels, dim=3, seed=0, scale=0.7):
    """This file's default batch shape (see tests/unit/batches.py)."""
    return batches.make_batch(labels, dim, seed, scale)


# ---------------------------------------------------------------------------------------------
# plain-Python references
# ---------------------------------------------------------------------------------------------


def rows(x):
    """A 2-D tensor as a list of lists of Python floats."""
    return [[float(v) for v in row] for row in x]


def normalized(vectors):
    """Each list scaled to unit Euclidean norm."""
    out = []
    for row in vectors:
        norm = math.sqrt(sum(v * v for v in row))
        out.append([v / norm for v in row])
    return out


def squared_distance(u, v):
    return sum((a - b) ** 2 for a, b in zip(u, v, strict=True))


def dot(u, v):
    return sum(a * b for a, b in zip(u, v, strict=True))


def alignment_reference(xs, ys, alpha):
    """mean_i ‖x_i − y_i‖^α."""
    return sum(squared_distance(x, y) ** (alpha / 2) for x, y in zip(xs, ys, strict=True)) / len(xs)


def uniformity_reference(xs, t):
    """log of the mean of exp(−t‖x_i − x_j‖²) over the pairs i < j."""
    values = [
        math.exp(-t * squared_distance(xs[i], xs[j]))
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
    ]
    return math.log(sum(values) / len(values))


def generalized_alignment_reference(xs, ys):
    """(1/(n d)) Σ_i ‖x_i − y_i‖²."""
    return sum(squared_distance(x, y) for x, y in zip(xs, ys, strict=True)) / (len(xs) * len(xs[0]))


def lse_reference(views, temperature):
    """Mean over the views i of log Σ_{j≠i} exp(v_i·v_j / τ)."""
    total = 0.0
    for i, vi in enumerate(views):
        total += math.log(
            sum(math.exp(dot(vi, vj) / temperature) for j, vj in enumerate(views) if j != i)
        )
    return total / len(views)


def swd_reference(xs, ys, directions):
    """For each direction separately: project, sort, mean of squared differences; then the mean
    over directions."""
    per_direction = []
    for w in directions:
        px = sorted(dot(x, w) for x in xs)
        py = sorted(dot(y, w) for y in ys)
        per_direction.append(sum((a - b) ** 2 for a, b in zip(px, py, strict=True)) / len(px))
    return sum(per_direction) / len(per_direction)


def supcon_reference(anchors, positives, labels, temperature):
    """Khosla et al.'s L^sup_out over the 2B normalized views, with explicit loops."""
    views = normalized(rows(anchors) + rows(positives))
    view_labels = list(labels) + list(labels)
    count = len(views)
    losses = []
    for i in range(count):
        denominator = sum(
            math.exp(dot(views[i], views[k]) / temperature) for k in range(count) if k != i
        )
        positives_of_i = [p for p in range(count) if p != i and view_labels[p] == view_labels[i]]
        if not positives_of_i:
            continue
        terms = [
            math.log(math.exp(dot(views[i], views[p]) / temperature) / denominator)
            for p in positives_of_i
        ]
        losses.append(-sum(terms) / len(terms))
    return sum(losses) / len(losses)


# ---------------------------------------------------------------------------------------------
# align_uniform.py
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5, 3.0])
def test_alignment_matches_loop_formula(alpha):
    """alignment(x, y, α) is mean_i ‖x_i − y_i‖^α on the rows as given."""
    x, y, _ = make_batch(ONE_PAIR_PER_CLASS, seed=1)
    expected = alignment_reference(rows(x), rows(y), alpha)
    assert float(alignment(x, y, alpha)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("alpha", [2.0, 1.0, 0.5])
def test_alignment_is_zero_with_finite_gradient_for_identical_views(alpha):
    """Identical views are perfectly aligned, and ‖·‖^α (even with α < 2) keeps a finite
    gradient there."""
    x, _, _ = make_batch(ONE_PAIR_PER_CLASS, seed=2)
    x = x.clone().requires_grad_(True)
    value = alignment(x, x.detach().clone(), alpha)
    assert float(value.detach()) == 0.0
    value.backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("t", [2.0, 0.5, 7.0])
def test_uniformity_matches_loop_over_pairs(t):
    """uniformity(x, t) is log mean_{i<j} exp(−t‖x_i − x_j‖²), on the rows as given."""
    x, _, _ = make_batch(ONE_PAIR_PER_CLASS, seed=3)
    expected = uniformity_reference(rows(x), t)
    assert float(uniformity(x, t)) == pytest.approx(expected, rel=1e-12)


def test_uniformity_is_stable_where_the_plain_mean_underflows():
    """Two points at squared distance 4 with t = 500: exp(−2000) underflows to 0 in float64, so
    the naive log-mean is −inf; the logsumexp form gives the exact −t·4."""
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert torch.exp(torch.tensor(-2000.0, dtype=torch.float64)) == 0
    assert float(uniformity(x, t=500.0)) == pytest.approx(-2000.0, rel=1e-12)


def test_uniformity_needs_two_rows_and_positive_t():
    """One row has no pairs; t must be positive. Both are refused with the parameter named."""
    with pytest.raises(ValueError, match="2 rows"):
        uniformity(torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"uniformity\.t"):
        uniformity(torch.eye(3), t=0.0)


@pytest.mark.parametrize(
    ("params", "alpha", "t", "weight"),
    [({}, 2.0, 2.0, 1.0), ({"alpha": 1.0, "t": 0.5, "weight": 3.0}, 1.0, 0.5, 3.0)],
    ids=["defaults", "custom"],
)
def test_align_uniform_loss_matches_loop_formula(params, alpha, t, weight):
    """L_align(α) + λ·(L_uniform(ã) + L_uniform(p̃))/2 on the L2-normalized views."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=4)
    a, p = normalized(rows(anchors)), normalized(rows(positives))
    expected = alignment_reference(a, p, alpha) + weight * 0.5 * (
        uniformity_reference(a, t) + uniformity_reference(p, t)
    )
    loss = AlignUniformLoss(**params)(anchors, positives, labels)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-12)


def test_align_uniform_defaults_are_the_papers():
    """α = 2, t = 2, λ = 1."""
    loss_fn = AlignUniformLoss()
    assert (loss_fn.alpha, loss_fn.t, loss_fn.weight) == (2.0, 2.0, 1.0)


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"t": -1.0}, r"loss_params\.t`"),
        ({"t": float("nan")}, r"loss_params\.t`"),
        ({"alpha": float("inf")}, "alpha"),
        ({"weight": -0.5}, "weight"),
        ({"weight": "1"}, "weight"),
    ],
)
def test_align_uniform_rejects_bad_parameters(params, named):
    """Each bad parameter is refused with a ValueError naming it."""
    with pytest.raises(ValueError, match=named):
        build_loss("align_uniform", params, **CONTEXT)


# ---------------------------------------------------------------------------------------------
# generalized.py: shared pieces
# ---------------------------------------------------------------------------------------------


def test_generalized_alignment_matches_loop_formula():
    """(1/(n d)) Σ_i ‖a_i − p_i‖² over the paired rows, as given."""
    a, p, _ = make_batch(ONE_PAIR_PER_CLASS, seed=5)
    expected = generalized_alignment_reference(rows(a), rows(p))
    assert float(generalized_alignment(a, p)) == pytest.approx(expected, rel=1e-12)
    assert float(generalized_alignment(a, a.clone())) == 0.0


@pytest.mark.parametrize("num_projections", [1, 4, 9])
def test_sliced_wasserstein_matches_per_projection_loop(num_projections):
    """sliced_wasserstein equals, per direction, the 1-D W2² of the sorted projections (a Python
    sort and loop), averaged over the directions."""
    generator = torch.Generator().manual_seed(6)
    x = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    y = 0.5 * torch.rand(10, 3, generator=generator, dtype=torch.float64) + 0.3
    directions = torch.randn(num_projections, 3, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=1, keepdim=True)
    expected = swd_reference(rows(x), rows(y), rows(directions))
    got = sliced_wasserstein(x, y, directions)
    assert got.dim() == 0
    assert float(got) == pytest.approx(expected, rel=1e-12)


def test_sliced_wasserstein_is_zero_against_itself_and_grows_with_a_shift():
    """SWD(x, x) = 0, also for a shuffled copy (it compares distributions, not rows). Shifting y by
    c·u keeps every projection's order, so SWD(x, x + c·u) = c² · mean_k (u·w_k)², growing
    with c."""
    generator = torch.Generator().manual_seed(7)
    x = torch.randn(8, 3, generator=generator, dtype=torch.float64)
    directions = random_directions(16, 3, dtype=torch.float64)
    assert float(sliced_wasserstein(x, x, directions)) == 0.0
    assert float(sliced_wasserstein(x, x[torch.randperm(8)], directions)) == 0.0
    u = torch.tensor([0.6, 0.0, 0.8], dtype=torch.float64)
    values = []
    for c in [0.1, 0.5, 1.0, 2.0]:
        value = float(sliced_wasserstein(x, x + c * u, directions))
        expected = c**2 * sum(dot(rows(u[None])[0], w) ** 2 for w in rows(directions)) / 16
        assert value == pytest.approx(expected, rel=1e-10)
        values.append(value)
    assert values == sorted(values)
    assert values[0] > 0


def test_sliced_wasserstein_refuses_mismatched_shapes():
    """Samples of different sizes or projections of the wrong width are refused."""
    x = torch.zeros(4, 3)
    with pytest.raises(ValueError, match="x and y"):
        sliced_wasserstein(x, torch.zeros(5, 3), torch.eye(3))
    with pytest.raises(ValueError, match="projections"):
        sliced_wasserstein(x, x, torch.eye(2))


def test_random_directions_and_priors_follow_dtype_and_support():
    """Directions are unit rows; hypersphere samples are unit rows, hypercube samples lie in
    [−1, 1] and fill it, Gaussian samples have mean ≈ 0 and variance ≈ 1; all in the dtype asked."""
    torch.manual_seed(8)
    directions = random_directions(5, 4, dtype=torch.float64)
    assert directions.shape == (5, 4)
    assert directions.dtype == torch.float64
    torch.testing.assert_close(directions.norm(dim=1), torch.ones(5, dtype=torch.float64))
    sphere = sample_prior("hypersphere", 100, 4, dtype=torch.float64)
    torch.testing.assert_close(sphere.norm(dim=1), torch.ones(100, dtype=torch.float64))
    cube = sample_prior("hypercube", 4000, 2, dtype=torch.float64)
    assert cube.dtype == torch.float64
    assert float(cube.min()) >= -1.0
    assert float(cube.max()) <= 1.0
    assert float(cube.min()) < -0.99
    assert float(cube.max()) > 0.99
    gaussian = sample_prior("gaussian", 20000, 2, dtype=torch.float64)
    assert float(gaussian.mean().abs()) < 0.03
    assert float(gaussian.var()) == pytest.approx(1.0, abs=0.03)
    with pytest.raises(ValueError, match="laplace"):
        sample_prior("laplace", 3, 2)


def test_swd_draws_follow_the_embeddings_device_and_dtype(monkeypatch):
    """Every random draw (directions and prior samples) is asked for on the embeddings' device and
    in their dtype; on meta tensors (shape-only) the loss runs end to end and stays on meta."""
    calls = []
    for draw in ("randn", "rand"):
        original = getattr(torch, draw)

        def recording(*args, _original=original, **kwargs):
            calls.append((kwargs.get("device"), kwargs.get("dtype")))
            return _original(*args, **kwargs)

        monkeypatch.setattr(torch, draw, recording)
    anchors = torch.empty(4, 3, device="meta", dtype=torch.float64)
    labels = torch.empty(4, dtype=torch.int64, device="meta")
    for loss_class in SWD_CLASSES.values():
        calls.clear()
        loss = loss_class()(anchors, anchors, labels)
        assert loss.device.type == "meta"
        assert loss.dtype == torch.float64
        assert len(calls) == 2
        assert all(device == anchors.device and dtype == torch.float64 for device, dtype in calls)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_swd_runs_on_cuda():
    """On a GPU the loss and its gradient stay on the GPU."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=9)
    anchors = anchors.cuda().requires_grad_(True)
    loss = SWDHypersphereLoss()(anchors, positives.cuda(), labels.cuda())
    loss.backward()
    assert loss.is_cuda
    assert torch.isfinite(anchors.grad).all()


# ---------------------------------------------------------------------------------------------
# generalized.py: the losses
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "temperature", "weight"),
    [({}, 0.5, 1.0), ({"temperature": 0.1, "weight": 0.25}, 0.1, 0.25)],
    ids=["defaults", "custom"],
)
def test_lse_hypersphere_matches_loop_formula(params, temperature, weight):
    """L_align(z̃) + λ · mean_i log Σ_{j≠i} exp(z̃_i·z̃_j/τ) over the 2n normalized views."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=10)
    a, p = normalized(rows(anchors)), normalized(rows(positives))
    expected = generalized_alignment_reference(a, p) + weight * lse_reference(a + p, temperature)
    loss = LSEHypersphereLoss(**params)(anchors, positives, labels)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("temperature", [0.5, 0.2])
def test_lse_hypersphere_with_the_ntxent_weight_is_scaled_ntxent(temperature):
    """With λ = 2τ/d the generalized loss is (2τ/d)·(NT-Xent(τ) + 1/τ): the slides' expansion."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, dim=3, seed=11)
    scale = 2 * temperature / 3
    lse = LSEHypersphereLoss(temperature=temperature, weight=scale)(anchors, positives, labels)
    ntxent = NTXentLoss(temperature=temperature)(anchors, positives, labels)
    assert float(lse) == pytest.approx(scale * (float(ntxent) + 1 / temperature), rel=1e-12)


@pytest.mark.parametrize("prior", sorted(SWD_CLASSES))
@pytest.mark.parametrize("weight", [1.0, 0.3])
def test_swd_losses_match_loop_formula_under_the_same_seed(prior, weight):
    """With torch's RNG seeded identically, the loss equals alignment + λ·SWD computed by loops
    from the same draws (K directions first, then 2n prior samples); the views are normalized for
    the hypersphere prior only."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=12)
    num_projections = 6
    torch.manual_seed(13)
    loss = SWD_CLASSES[prior](num_projections=num_projections, weight=weight)(
        anchors, positives, labels
    )
    torch.manual_seed(13)
    directions = random_directions(num_projections, 3, dtype=torch.float64)
    prior_samples = sample_prior(prior, 10, 3, dtype=torch.float64)
    a, p = rows(anchors), rows(positives)
    if prior == "hypersphere":
        a, p = normalized(a), normalized(p)
    expected = generalized_alignment_reference(a, p) + weight * swd_reference(
        a + p, rows(prior_samples), rows(directions)
    )
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("prior", sorted(SWD_CLASSES))
def test_swd_losses_draw_from_the_global_rng(prior):
    """The same seed gives the same value, another seed another one (fresh draws every call)."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=14)
    loss_fn = SWD_CLASSES[prior]()
    torch.manual_seed(1)
    first = float(loss_fn(anchors, positives, labels))
    torch.manual_seed(1)
    assert float(loss_fn(anchors, positives, labels)) == first
    torch.manual_seed(2)
    assert float(loss_fn(anchors, positives, labels)) != first


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"num_projections": 0}, "num_projections"),
        ({"num_projections": 2.5}, "num_projections"),
        ({"num_projections": True}, "num_projections"),
        ({"weight": -1.0}, "weight"),
        ({"weight": float("inf")}, "weight"),
    ],
)
@pytest.mark.parametrize("prior", sorted(SWD_CLASSES))
def test_swd_losses_reject_bad_parameters(prior, params, named):
    """Each bad parameter is refused with a ValueError naming it and the loss."""
    with pytest.raises(ValueError, match=named) as error:
        build_loss(f"swd_{prior}", params, **CONTEXT)
    assert f"swd_{prior}.loss_params" in str(error.value)


def test_lse_hypersphere_rejects_bad_parameters():
    """τ must be positive; λ non-negative."""
    with pytest.raises(ValueError, match="temperature"):
        build_loss("lse_hypersphere", {"temperature": 0.0}, **CONTEXT)
    with pytest.raises(ValueError, match="weight"):
        build_loss("lse_hypersphere", {"weight": -1.0}, **CONTEXT)


# ---------------------------------------------------------------------------------------------
# supcon.py
# ---------------------------------------------------------------------------------------------


@LABEL_CASES
@pytest.mark.parametrize("temperature", [None, 0.5])
def test_supcon_matches_loop_formula(labels, temperature):
    """SupConLoss equals L^sup_out over the 2B views (τ default 0.1)."""
    anchors, positives, label_tensor = make_batch(labels, seed=15)
    loss_fn = SupConLoss() if temperature is None else SupConLoss(temperature=temperature)
    expected = supcon_reference(
        anchors, positives, labels, 0.1 if temperature is None else temperature
    )
    loss = loss_fn(anchors, positives, label_tensor)
    assert loss.dim() == 0
    assert float(loss) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 2.0])
def test_supcon_with_one_pair_per_class_is_ntxent(temperature):
    """With all labels distinct P(i) is the partner alone: SupCon = NT-Xent at the same τ."""
    anchors, positives, _ = make_batch(ONE_PAIR_PER_CLASS, seed=16)
    labels = torch.arange(len(ONE_PAIR_PER_CLASS))
    supcon = SupConLoss(temperature=temperature)(anchors, positives, labels)
    ntxent = NTXentLoss(temperature=temperature)(anchors, positives, labels)
    torch.testing.assert_close(supcon, ntxent, rtol=1e-12, atol=1e-12)


def test_supcon_uses_labels():
    """Same-class views become positives: merging classes changes the loss."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=17)
    loss_fn = SupConLoss()
    assert float(loss_fn(anchors, positives, labels)) != float(
        loss_fn(anchors, positives, torch.zeros_like(labels))
    )


def test_supcon_default_and_bad_parameters():
    """τ defaults to the paper's 0.1; a non-positive τ or labels of the wrong length are refused."""
    assert SupConLoss().temperature == 0.1
    with pytest.raises(ValueError, match="temperature"):
        build_loss("supcon", {"temperature": -0.1}, **CONTEXT)
    anchors, positives, _ = make_batch(ONE_PAIR_PER_CLASS, seed=18)
    with pytest.raises(ValueError, match="labels"):
        SupConLoss()(anchors, positives, torch.arange(3))


# ---------------------------------------------------------------------------------------------
# all new losses: gradients, labels, build_loss
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_gradients_are_finite_with_coincident_views(name):
    """A view equal to its partner and two identical rows (zero distances for pdist and ties for
    the sort) still give a finite loss and finite gradients."""
    anchors, positives, labels = make_batch(SEVERAL_PAIRS_PER_CLASS, seed=19)
    positives = positives.clone()
    positives[0] = anchors[0]
    anchors = anchors.clone()
    anchors[2] = anchors[1]
    anchors.requires_grad_(True)
    positives.requires_grad_(True)
    torch.manual_seed(0)
    loss_fn = build_loss(name, {"alpha": 1.0} if name == "align_uniform" else None, **CONTEXT)
    loss = loss_fn(anchors, positives, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(anchors.grad).all()
    assert torch.isfinite(positives.grad).all()
    assert anchors.grad.abs().sum() > 0


@pytest.mark.parametrize("name", [name for name in NEW_LOSSES if name != "supcon"])
def test_self_supervised_losses_ignore_labels(name):
    """Only supcon uses the labels; the others depend on the pairing alone."""
    anchors, positives, labels = make_batch(ONE_PAIR_PER_CLASS, seed=20)
    loss_fn = build_loss(name, None, **CONTEXT)
    torch.manual_seed(3)
    first = float(loss_fn(anchors, positives, labels))
    torch.manual_seed(3)
    assert float(loss_fn(anchors, positives, torch.zeros_like(labels))) == first


def test_needs_labels_marks_supcon_only_among_the_new_losses():
    """Among the new losses only SupCon states that it needs class labels."""
    assert {name for name in NEW_LOSSES if LOSSES[name].needs_labels} == {"supcon"}


CONTEXT = {"embedding_dim": 3, "num_classes": 5}


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_build_loss_builds_every_new_name_with_defaults(name):
    """Every new name is registered and builds with no parameters."""
    assert name in LOSSES
    assert isinstance(build_loss(name, None, **CONTEXT), LOSSES[name])
    assert isinstance(build_loss(name, {}, **CONTEXT), LOSSES[name])


@pytest.mark.parametrize("name", NEW_LOSSES)
def test_build_loss_rejects_unknown_parameters_of_new_losses(name):
    """An unknown parameter is refused with its name."""
    with pytest.raises(ValueError, match="no_such_parameter"):
        build_loss(name, {"no_such_parameter": 1}, **CONTEXT)


def test_build_loss_passes_parameters_to_new_losses():
    """Experiment parameters reach the constructors."""
    au = build_loss("align_uniform", {"alpha": 1.0, "t": 3.0, "weight": 0.5}, **CONTEXT)
    assert (au.alpha, au.t, au.weight) == (1.0, 3.0, 0.5)
    lse = build_loss("lse_hypersphere", {"temperature": 0.2, "weight": 0.1}, **CONTEXT)
    assert (lse.temperature, lse.weight) == (0.2, 0.1)
    swd = build_loss("swd_gaussian", {"num_projections": 32, "weight": 2.0}, **CONTEXT)
    assert (swd.num_projections, swd.weight) == (32, 2.0)
    assert build_loss("supcon", {"temperature": 0.07}, **CONTEXT).temperature == 0.07
