"""The threshold pre-filter of TopK gives bit-identical results to sorting whole blocks."""

from __future__ import annotations

import pytest
import torch

from kgif.influence.topk import TopK


def _sort_all(batches, k: int, largest: bool) -> tuple[list, list]:
    """Slow reference: every (score, id) of a row in plain Python, sorted by the rule."""
    rows: dict[int, list] = {}
    for scores, ids, valid in batches:
        ids = ids.expand(scores.shape[0], -1)
        for r in range(scores.shape[0]):
            for c in range(scores.shape[1]):
                if valid is None or bool(valid[r, c]):
                    s = float(scores[r, c])
                    rows.setdefault(r, []).append((-s if largest else s, int(ids[r, c]), s))
    indices, values = [], []
    n_rows = batches[0][0].shape[0]
    for r in range(n_rows):
        kept = sorted(rows.get(r, []))[:k]
        indices.append([i for _, i, _ in kept] + [-1] * (k - len(kept)))
        values.append([s for _, _, s in kept])
    return indices, values


def _stream(batches, k: int, largest: bool):
    top = TopK(batches[0][0].shape[0], k, largest, batches[0][0])
    for scores, ids, valid in batches:
        top.update(scores, ids, valid)
    return top.result()


def _check(batches, k: int, largest: bool) -> None:
    result = _stream(batches, k, largest)
    indices, values = _sort_all(batches, k, largest)
    assert result.indices.tolist() == indices
    for row, expected in zip(result.influence_scores.tolist(), values, strict=True):
        assert row[: len(expected)] == expected  # the same floats, bit for bit
        assert all(v != v for v in row[len(expected):])  # NaN padding


def _batches(scores: torch.Tensor, ids: torch.Tensor, width: int, valid=None):
    return [(scores[:, s:s + width], ids[s:s + width],
             None if valid is None else valid[:, s:s + width])
            for s in range(0, scores.shape[1], width)]


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_random_scores(largest, k):
    gen = torch.Generator().manual_seed(k)
    scores = torch.randn(6, 97, generator=gen)
    ids = torch.randperm(97, generator=gen)
    _check(_batches(scores, ids, 16), k, largest)


@pytest.mark.parametrize("largest", [True, False])
def test_many_ties_and_all_equal(largest):
    gen = torch.Generator().manual_seed(1)
    ties = torch.randint(0, 3, (5, 60), generator=gen).double()
    ids = torch.randperm(60, generator=gen)
    _check(_batches(ties, ids, 7), 4, largest)
    _check(_batches(torch.ones(3, 40), torch.randperm(40, generator=gen), 9), 5, largest)


@pytest.mark.parametrize("largest", [True, False])
def test_masked_entries_and_short_rows(largest):
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(4, 30, generator=gen)
    valid = torch.rand(4, 30, generator=gen) < 0.3
    valid[0] = False  # a row with no valid entry: all padding
    _check(_batches(scores, torch.arange(30), 5, valid), 6, largest)


def test_per_row_ids_and_hand_computed_result():
    top = TopK(2, 2, True, torch.zeros(1))
    top.update(torch.tensor([[1.0, 3.0, 3.0], [0.0, -1.0, 2.0]]),
               torch.tensor([[5, 9, 4], [1, 2, 3]]))
    top.update(torch.tensor([[3.0, 0.5], [2.0, 2.0]]), torch.tensor([[2, 0], [0, 7]]))
    result = top.result()
    assert result.indices.tolist() == [[2, 4], [0, 3]]
    assert result.influence_scores.tolist() == [[3.0, 3.0], [2.0, 2.0]]


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_is_refused(bad):
    top = TopK(1, 2, True, torch.zeros(1))
    top.update(torch.tensor([[1.0, 2.0]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="non-finite"):
        top.update(torch.tensor([[0.5, bad]]), torch.tensor([2, 3]))
