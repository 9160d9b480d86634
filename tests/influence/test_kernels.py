"""One-hot entity terms at matched pairs (kgif.influence.kernels) against dense float64 masks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tolerances import ATOL64, RTOL64

from kgif.influence.grads import FACTORED, Factors
from kgif.influence.kernels import ALL_PAIRS, DIAGONAL, _join, structured_scores


def _factors(n: int, num_entities: int, seed: int) -> Factors:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, num_entities, (3, n), generator=gen)  # few entities: many matches
    dense = [torch.randn(n, 4, generator=gen, dtype=torch.float64) for _ in range(4)]
    return Factors(*ids, *dense, x=torch.randn(n, 6, dtype=torch.float64, generator=gen),
                   small=torch.randn(n, 2, dtype=torch.float64, generator=gen),
                   coef=torch.randn(n, generator=gen, dtype=torch.float64))


def _dense_reference(left: Factors, right: Factors) -> torch.Tensor:
    """Entity table + bias terms with explicit (B, T) masks, as plain sums."""
    eq = lambda a, b: (a[:, None] == b[None, :]).double()  # noqa: E731
    cc = left.coef[:, None] * right.coef[None, :]
    return (cc * eq(left.t, right.t) * (left.f @ right.f.T + 1)
            + right.coef[None, :] * eq(left.h, right.t) * (left.g @ right.f.T)
            + left.coef[:, None] * eq(left.t, right.h) * (left.f @ right.g.T)
            + eq(left.h, right.h) * (left.g @ right.g.T) + left.small @ right.small.T)


@pytest.mark.parametrize("num_entities", [1, 3, 50])
def test_matched_pairs_equal_dense_masks(num_entities):
    left, right = _factors(9, num_entities, 0), _factors(5, num_entities, 1)
    got = structured_scores(left, right, ("entity_embedding", "entity_bias"), ALL_PAIRS)
    torch.testing.assert_close(got, _dense_reference(left, right), rtol=RTOL64, atol=ATOL64)
    diag = structured_scores(left, left, ("entity_embedding", "entity_bias"), DIAGONAL)
    torch.testing.assert_close(diag, _dense_reference(left, left).diagonal(), rtol=RTOL64,
                               atol=ATOL64)


def test_one_hot_and_dense_u_paths_agree_on_every_term():
    left, right = _factors(8, 4, 2), _factors(6, 4, 3)
    dense_right = dataclasses.replace(right, u=right.dense_u(4))
    torch.testing.assert_close(structured_scores(left, right, FACTORED),
                               structured_scores(left, dense_right, FACTORED),
                               rtol=RTOL64, atol=ATOL64)


def test_join_hand_computed():
    i, j = _join(torch.tensor([2, 5, 2, 7]), torch.tensor([2, 9, 2, 5]))
    pairs = sorted(zip(i.tolist(), j.tolist(), strict=True))
    assert pairs == [(0, 0), (0, 2), (1, 3), (2, 0), (2, 2)]


def _all_terms_reference(left: Factors, right: Factors) -> torch.Tensor:
    """Every factored term and the small parameters with explicit masks (module docstring)."""
    eq = lambda a, b: (a[:, None] == b[None, :]).double()  # noqa: E731
    dd = left.delta @ right.delta.T
    return (_dense_reference(left, right) + eq(left.r, right.r) * (left.k @ right.k.T)
            + dd * (left.x @ right.x.T) + dd)


@pytest.mark.parametrize("fraction", [0.0, 1.0])  # relation term dense / at matched pairs
@pytest.mark.parametrize("num_ids", [2, 40])
def test_every_term_against_explicit_masks(monkeypatch, fraction, num_ids):
    import kgif.influence.kernels as kernels

    monkeypatch.setattr(kernels, "RELATION_MATCH_FRACTION", fraction)
    left, right = _factors(11, num_ids, 4), _factors(7, num_ids, 5)
    expected = _all_terms_reference(left, right)
    torch.testing.assert_close(structured_scores(left, right, FACTORED), expected,
                               rtol=RTOL64, atol=ATOL64)
    xx = left.x @ right.x.T
    kept = xx.clone()
    torch.testing.assert_close(structured_scores(left, right, FACTORED, x_products=xx),
                               expected, rtol=RTOL64, atol=ATOL64)
    assert torch.equal(xx, kept)  # the caller's products are not changed in place
    torch.testing.assert_close(structured_scores(left, left, FACTORED, DIAGONAL),
                               _all_terms_reference(left, left).diagonal(),
                               rtol=RTOL64, atol=ATOL64)
    only_bias = structured_scores(left, right, ("fc.bias",))  # without fc.weight
    torch.testing.assert_close(only_bias, left.delta @ right.delta.T + left.small @ right.small.T,
                               rtol=RTOL64, atol=ATOL64)
