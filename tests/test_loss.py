"""Sparse BCE against dense BCE, and per-triple objectives against autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tolerances import ATOL64, RTOL64, RTOL_LOSS

from kgif.loss import (
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


@pytest.mark.parametrize("objective", [score(), pointwise_bce()])
def test_one_hot_coefficient_is_the_derivative(objective):
    s = torch.linspace(-6, 6, 13, dtype=torch.float64, requires_grad=True)
    (expected,) = torch.autograd.grad(objective.loss(s).sum(), s)
    torch.testing.assert_close(objective.coefficient(s.detach()), expected,
                               rtol=RTOL64, atol=ATOL64)


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
