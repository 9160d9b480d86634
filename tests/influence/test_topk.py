"""The one top-k (kgif.influence.topk) against a plain sorted() reference; its use by TracIn."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve

from kgif.bench.common import random_triples
from kgif.influence.distributed import Context, ShardedTracIn
from kgif.influence.topk import KMostInfluentialResults, TopK, merge_topk
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint


def _reference(scores: list[float], ids: list[int], k: int, largest: bool) -> list[int]:
    """Plain Python: larger (or smaller) score first, ties by the smaller id, k at most."""
    sign = -1.0 if largest else 1.0
    return [i for _, i in sorted(zip([sign * s for s in scores], ids, strict=True))][:k]


@pytest.mark.parametrize("largest", [True, False])
def test_unsorted_ids_tie_rule(largest):
    top = TopK(1, 2, largest, torch.zeros(1))
    top.update(torch.tensor([[1.0, 1.0, 1.0]]), torch.tensor([2, 0, 1]))
    assert top.result().indices.tolist() == [[0, 1]]  # was [[2, 0]]: the arrival order


@pytest.mark.parametrize("largest", [True, False])
def test_streaming_matches_sorted_reference_on_shuffled_ids_with_ties(largest):
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 4, (5, 30), generator=gen).double()  # many ties
    ids = torch.randperm(30, generator=gen)
    top = TopK(5, 7, largest, scores)
    for start in range(0, 30, 8):
        top.update(scores[:, start:start + 8], ids[start:start + 8])
    for row in range(5):
        assert top.result().indices[row].tolist() == _reference(
            scores[row].tolist(), ids.tolist(), 7, largest)


def test_k_larger_than_stream_pads_to_k_and_mask_excludes():
    top = TopK(2, 4, True, torch.zeros(1))
    valid = torch.tensor([[True, False], [False, False]])
    top.update(torch.tensor([[0.5, 9.0], [1.0, 2.0]]), torch.tensor([3, 1]), valid)
    result = top.result()
    assert result.indices.tolist() == [[3, -1, -1, -1], [-1, -1, -1, -1]]
    assert result.influence_scores[0, 0] == 0.5
    assert torch.isnan(result.influence_scores[0, 1:]).all()


def test_nan_is_refused_not_ranked_first():
    top = TopK(1, 2, True, torch.zeros(1))
    with pytest.raises(ValueError, match="non-finite"):
        top.update(torch.tensor([[0.1, float("nan"), 0.3]]), torch.tensor([0, 1, 2]))
    padded = KMostInfluentialResults(torch.tensor([[4, -1]]), torch.tensor([[1.0, float("nan")]]))
    assert merge_topk([padded], 2, True).indices.tolist() == [[4, -1]]  # NaN padding is fine
    bad = KMostInfluentialResults(torch.tensor([[4, 5]]), torch.tensor([[1.0, float("nan")]]))
    with pytest.raises(ValueError, match="non-finite"):
        merge_topk([bad], 2, True)


def _tracin(n_train, batch_size=4):
    config, params, buffers = small_conve(seed=4, num_entities=10, num_relations=3)
    ckpts = [Checkpoint(params, buffers, config, 0.5, epoch=1)]
    return TracIn(ckpts, random_triples(n_train, 10, 3, seed=5), batch_size=batch_size,
                  show_progress=False)


def test_tracin_ties_by_smaller_row_for_unsorted_candidates():
    tracin = _tracin(3)
    same = random_triples(1, 10, 3, seed=9).expand(3, 3)  # three copies: exact ties
    pro, opp = tracin.top_influences(random_triples(1, 10, 3, seed=8), 2, same,
                                     candidates=[torch.tensor([2, 0, 1])])
    assert pro.indices.tolist() == [[0, 1]] and opp.indices.tolist() == [[0, 1]]


def test_k_above_edges_same_shape_from_tracin_and_sharded():
    tracin = _tracin(5)
    test = random_triples(2, 10, 3, seed=8)
    single = tracin.top_influences(test, 8)
    local = ShardedTracIn(tracin, Context(0, 1, 0)).top_influences(test, 8)
    for a, b in zip(single, local, strict=True):
        assert a.indices.shape == b.indices.shape == (2, 8)
        assert torch.equal(a.indices, b.indices)
        assert (a.indices[:, 5:] == -1).all() and torch.isnan(a.influence_scores[:, 5:]).all()
