"""Sparse BCE against dense BCE, and per-triple objectives against autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tolerances import ATOL64, RTOL64, RTOL_LOSS

from kgif.model.loss import (
    OneHotObjective,
    bce_1n,
    get_objective,
    pointwise_bce,
    score,
    smoothing_coefficients,
    sparse_bce_with_logits,
)


def _dense_smoothed(labels: torch.Tensor, eps: float, convention: str) -> torch.Tensor:
    """Reference label smoothing written from the two published formulas."""
    n = labels.shape[1]
    if convention == "pykeen":  # PyKEEN apply_label_smoothing
        return (1 - eps) * labels + eps / (n - 1) * (1 - labels)
    return (1 - eps) * labels + 1.0 / n  # Dettmers et al. ConvE main.py


def _random_positives(b: int, n: int, k_max: int, gen: torch.Generator):
    rows, cols = [], []
    for row in range(b):
        k = int(torch.randint(0, k_max + 1, (1,), generator=gen))  # K varies, may be 0
        chosen = torch.randperm(n, generator=gen)[:k]
        rows += [row] * k
        cols += chosen.tolist()
    return torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long)


@pytest.mark.parametrize("k_max", [1, 5])
@pytest.mark.parametrize("eps", [0.0, 0.1])
@pytest.mark.parametrize("convention", ["pykeen", "conve"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sparse_bce_equals_dense(k_max, eps, convention, reduction):
    gen = torch.Generator().manual_seed(k_max * 7 + int(eps * 10))
    b, n = 6, 23
    logits = 3 * torch.randn(b, n, generator=gen, dtype=torch.float64)
    rows, cols = _random_positives(b, n, k_max, gen)
    if k_max == 1:
        rows, cols = torch.arange(b), torch.randint(n, (b,), generator=gen)
    labels = torch.zeros(b, n, dtype=torch.float64)
    labels[rows, cols] = 1.0
    expected = F.binary_cross_entropy_with_logits(
        logits, _dense_smoothed(labels, eps, convention), reduction=reduction)
    got = sparse_bce_with_logits(logits, rows, cols, eps, convention, reduction)
    torch.testing.assert_close(got, expected, rtol=RTOL_LOSS, atol=0)


def test_sparse_bce_gradient_equals_dense():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 9, generator=gen, dtype=torch.float64, requires_grad=True)
    rows, cols = torch.tensor([0, 0, 2, 3]), torch.tensor([1, 5, 2, 8])
    labels = torch.zeros(4, 9, dtype=torch.float64)
    labels[rows, cols] = 1
    (g_dense,) = torch.autograd.grad(F.binary_cross_entropy_with_logits(
        logits, _dense_smoothed(labels, 0.1, "pykeen")), logits)
    (g_sparse,) = torch.autograd.grad(sparse_bce_with_logits(logits, rows, cols, 0.1), logits)
    torch.testing.assert_close(g_sparse, g_dense, rtol=RTOL64, atol=ATOL64)


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="label_smoothing=1.2"):
        smoothing_coefficients(1.2, 10)
    with pytest.raises(ValueError, match="'dettmers'"):
        smoothing_coefficients(0.1, 10, "dettmers")
    with pytest.raises(ValueError, match="reduction='none'"):
        sparse_bce_with_logits(torch.zeros(2, 3), torch.tensor([0]), torch.tensor([1]),
                               reduction="none")
    with pytest.raises(ValueError, match="known:"):
        get_objective("hinge")


#: Closed-form derivatives l'(s_t), written independently of kgif.model.loss (which uses autograd).
CLOSED_FORM = {"score": torch.ones_like, "pointwise_bce": lambda s: -torch.sigmoid(-s)}


@pytest.mark.parametrize("objective", [score(), pointwise_bce()])
def test_one_hot_coefficient_matches_closed_form(objective):
    s = torch.linspace(-6, 6, 13, dtype=torch.float64)
    torch.testing.assert_close(objective.coefficient(s), CLOSED_FORM[objective.name](s),
                               rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_bce_1n_u_matches_closed_form(eps):
    gen = torch.Generator().manual_seed(2)
    s = torch.randn(4, 9, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 3, 8, 3])
    y = _dense_smoothed(F.one_hot(t, 9).double(), eps, "pykeen")
    torch.testing.assert_close(bce_1n(eps).u(s, t), (torch.sigmoid(s) - y) / 9,
                               rtol=RTOL64, atol=ATOL64)


def test_custom_objective_needs_only_a_loss():
    cubic = OneHotObjective("cubic", loss=lambda s: s ** 3)
    s = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(cubic.coefficient(s), 3 * s ** 2, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_removing_an_edge_changes_row_loss_by_a_times_score_only_if_row_keeps_a_tail(eps):
    """The `score` objective's claim (kgif.model.loss.score, docs/tracin.md), on the sum-reduced
    sparse 1-N BCE: dropping one of two tails changes the loss by +a s_t; dropping a row's
    only tail removes the whole row instead."""
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    a, _ = smoothing_coefficients(eps, 6)
    rows, cols = torch.tensor([0, 0, 1]), torch.tensor([2, 5, 4])  # row 0: two tails; row 1: one
    full = sparse_bce_with_logits(logits, rows, cols, eps, reduction="sum")
    fewer = sparse_bce_with_logits(logits, rows[1:], cols[1:], eps, reduction="sum")
    torch.testing.assert_close(fewer - full, a * logits[0, 2], rtol=RTOL64, atol=ATOL64)
    without_row = sparse_bce_with_logits(logits[:1], rows[:2], cols[:2], eps, reduction="sum")
    assert abs((without_row - full) - a * logits[1, 4]) > 0.1  # not +a s_t: the row is gone


def test_pointwise_bce_is_minus_log_sigmoid():
    s = torch.linspace(-5, 5, 11, dtype=torch.float64)
    torch.testing.assert_close(pointwise_bce().loss(s), -torch.log(torch.sigmoid(s)))


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_bce_1n_u_is_the_gradient_and_matches_dense_bce(eps):
    gen = torch.Generator().manual_seed(1)
    s = torch.randn(3, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 4, 6])
    objective = bce_1n(eps)
    labels = _dense_smoothed(F.one_hot(t, 7).double(), eps, "pykeen")
    expected = F.binary_cross_entropy_with_logits(s, labels, reduction="none").mean(-1)
    loss = objective.loss(s, t)
    torch.testing.assert_close(loss, expected, rtol=RTOL64, atol=ATOL64)
    (g,) = torch.autograd.grad(loss.sum(), s)
    torch.testing.assert_close(objective.u(s.detach(), t), g, rtol=RTOL64, atol=ATOL64)
