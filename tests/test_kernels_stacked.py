"""The stacked d-wide products of kgif.influence.kernels against separate float64 products."""

from __future__ import annotations

import torch
from tolerances import ATOL64, RTOL64

from kgif.influence.grads import Factors
from kgif.influence.kernels import ALL_PAIRS, DIAGONAL, factor_dots


def _factors(n: int, seed: int) -> Factors:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 5, (3, n), generator=gen)
    dense = [torch.randn(n, 4, generator=gen, dtype=torch.float64) for _ in range(4)]
    return Factors(*ids, *dense, x=torch.randn(n, 6, dtype=torch.float64, generator=gen),
                   small=torch.randn(n, 2, dtype=torch.float64, generator=gen))


def test_one_batched_product_equals_separate_products():
    left, right = _factors(7, 0), _factors(5, 1)
    factored = ("entity_embedding", "relation_embedding", "fc.weight", "fc.bias")
    dots = factor_dots(left, right, factored, ALL_PAIRS)
    assert set(dots) == {("f", "f"), ("g", "f"), ("f", "g"), ("g", "g"), ("k", "k"),
                         ("delta", "delta")}
    for (a, b), value in dots.items():
        expected = getattr(left, a) @ getattr(right, b).T
        torch.testing.assert_close(value, expected, rtol=RTOL64, atol=ATOL64)
    diag = factor_dots(left, _factors(7, 2), ("relation_embedding",), DIAGONAL)
    torch.testing.assert_close(diag["k", "k"], (left.k * _factors(7, 2).k).sum(1),
                               rtol=RTOL64, atol=ATOL64)
    assert factor_dots(left, right, ("entity_bias",), ALL_PAIRS) == {}


def test_hand_computed_value():
    one = _factors(1, 0)
    one.f = torch.tensor([[1.0, 2.0, 0.0, -1.0]], dtype=torch.float64)
    one.g = torch.tensor([[3.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    dots = factor_dots(one, one, ("entity_embedding",), ALL_PAIRS)
    assert dots["f", "f"].item() == 6.0 and dots["g", "f"].item() == 2.0
    assert dots["g", "g"].item() == 11.0
