"""DrugMechDB benchmark metrics against hand-computed cases."""

from __future__ import annotations

import itertools

import pytest
import torch

from kgif.data.drugmechdb import Mechanism
from kgif.explanation.paths import HeadTailPaths
from kgif.studies.drugmechdb import (
    EDGE_RANKINGS,
    Pair,
    dmdb_path_mask,
    edge_report,
    path_metrics,
    random_path_metrics,
    summarize,
    tier_ranks,
)


def test_tier_ranks_hand_computed():
    tiers = torch.tensor([0, 1, 1, 0, 2, 1])
    scores = torch.tensor([9.0, 1.0, 3.0, 5.0, -1.0, 3.0])
    # order: row 4 (tier 2); tier 1: row 2 (3.0), row 5 (3.0, larger row), row 1; tier 0: 0, 3
    assert tier_ranks(tiers, scores, torch.tensor([0, 1, 4, 5])).tolist() == [1, 3, 4, 5]
    assert tier_ranks(torch.zeros(3, dtype=torch.long), torch.tensor([1.0, 2.0, 2.0]),
                      torch.tensor([2, 0])).tolist() == [2, 3]
    with pytest.raises(ValueError, match="non-finite"):
        tier_ranks(tiers, scores.clone().fill_(float("nan")), torch.tensor([0]))


def _paths():
    # 4 paths: edges per path, -1 padded
    edges = torch.tensor([[0, 1, -1], [2, 3, -1], [0, 4, 5], [2, 1, -1]])
    nodes = torch.zeros(4, 4, dtype=torch.long)
    lengths = torch.tensor([2, 2, 3, 2])
    return HeadTailPaths(nodes, edges, lengths, 4)


def test_dmdb_path_mask_needs_all_edges_in_one_path():
    mech = Mechanism((0, 0, 1), "test", torch.tensor([0, 1, 2, 4]),
                     {"P1": torch.tensor([0, 1]), "P2": torch.tensor([2, 4])})
    # path 0 = {0,1} in P1: yes; path 1 has edge 3: no; path 2 = {0,4,5}: no; path 3 = {2,1}:
    # edges in the union but not in one path: no
    assert dmdb_path_mask(_paths(), mech).tolist() == [True, False, False, False]


def test_path_metrics_hand_computed():
    good = torch.tensor([False, True, False, True])
    scores = torch.tensor([4.0, 1.0, 3.0, 2.0])  # order 0, 2, 3, 1: first good at rank 3
    assert path_metrics(scores, good, top=2) == {"path_rr": pytest.approx(1 / 3),
                                                 "path_hits@2": 0.0}
    assert path_metrics(scores, good, top=3)["path_hits@3"] == 1.0
    assert path_metrics(scores, torch.zeros(4, dtype=torch.bool)) == {"path_rr": 0.0,
                                                                      "path_hits@10": 0.0}


def test_random_path_metrics_match_enumeration():
    p, m, top = 6, 2, 2
    rr = hits = 0.0
    orders = list(itertools.permutations(range(p)))
    for order in orders:  # good paths are 0 and 1
        first = min(order.index(0), order.index(1)) + 1
        rr += 1 / first
        hits += first <= top
    got = random_path_metrics(p, m, top)
    assert got["path_rr"] == pytest.approx(rr / len(orders), rel=1e-12)
    assert got["path_hits@2"] == pytest.approx(hits / len(orders), rel=1e-12)
    assert got["path_hits@2"] == pytest.approx(1 - (4 * 3) / (6 * 5), rel=1e-12)


def test_edge_report_mechanism_ranking_hand_computed():
    # 7 edges; paths as in _paths (edges 0..5); edge 6 is direct
    train = torch.tensor([[0, 1, 2], [2, 1, 1], [0, 1, 3], [3, 1, 1], [0, 1, 4], [4, 1, 1],
                          [0, 0, 1]])
    scores = torch.tensor([1.0, 2.0, 0.5, -1.0, 3.0, 0.2, 10.0], dtype=torch.float64)
    mech = Mechanism((0, 0, 1), "test", torch.tensor([0, 1]), {"P1": torch.tensor([0, 1])})
    direct = torch.tensor([False] * 6 + [True])
    pair = Pair(mech, {"tracin": scores}, torch.tensor([0, 1, 2, 3, 4, 5, 6]), direct,
                _paths(), torch.ones(5, dtype=torch.long), torch.ones(7, dtype=torch.float64),
                train)
    report = edge_report(pair, ["tracin", "mechanism_sum", "mechanism_min"], draws=10)
    # plain TracIn order: 6, 4, 1, 0, 2, 5, 3 -> supporting 0 and 1 at ranks 4 and 3
    assert report["tracin"]["rr"] == pytest.approx(1 / 3)
    assert report["tracin"]["ap"] == pytest.approx((1 / 3 + 2 / 4) / 2)
    # sums: path0 = 3.0, path1 = -0.5, path2 = 1+3+0.2 = 4.2, path3 = 2.5; best per edge:
    # e0 4.2, e1 3.0, e2 2.5, e3 -0.5, e4 4.2, e5 4.2; ties by row: 0, 4, 5, 1, 2, 3, 6
    assert report["mechanism_sum"]["rr"] == 1.0
    assert report["mechanism_sum"]["ap"] == pytest.approx((1 / 1 + 2 / 4) / 2)
    assert report["mechanism_sum"]["path_rr"] == pytest.approx(1 / 2)  # path0 ranks 2nd
    # mins: path0 1.0, path1 -1.0, path2 0.2, path3 0.5 -> path0 first
    assert report["mechanism_min"]["path_rr"] == 1.0
    assert report["random"]["path_rr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)
    assert set(EDGE_RANKINGS) >= {"tracin", "degree", "path_count", "similarity"}


def test_summarize_pairs_and_reference():
    per = [{"a": {"rr": 1.0}, "b": {"rr": 0.5}}, {"a": {"rr": 0.5}, "b": {"rr": 0.5}}]
    out = summarize(per, "a", n_boot=200)
    assert out["overall"]["a"]["rr"]["mean"] == pytest.approx(0.75)
    assert out["versus"]["b"]["rr"]["diff"] == pytest.approx(0.25)
    assert "a" not in out["versus"]


def test_path_count_rankings_hand_computed():
    """path_count, path_count_tracin and supported_path_count on _paths() (p0 = {0, 1},
    p1 = {2, 3}, p2 = {0, 4, 5}, p3 = {2, 1}; edge 6 is direct and on no path)."""
    train = torch.tensor([[0, 1, 2], [2, 1, 1], [0, 1, 3], [3, 1, 1], [0, 1, 4], [4, 1, 1],
                          [0, 0, 1]])
    scores = torch.tensor([1.0, -2.0, 0.5, -1.0, 3.0, 0.2, 10.0], dtype=torch.float64)
    mech = Mechanism((0, 0, 1), "test", torch.tensor([4, 5]), {"P1": torch.tensor([4, 5])})
    pair = Pair(mech, {"tracin": scores}, torch.arange(7), torch.tensor([False] * 6 + [True]),
                _paths(), torch.ones(5, dtype=torch.long), torch.ones(7, dtype=torch.float64),
                train)
    report = edge_report(pair, ["path_count", "path_count_tracin", "supported_path_count"],
                         draws=10)
    # path counts 2, 2, 2, 1, 1, 1, 0: order 0, 1, 2, 3, 4, 5, 6 -> edges 4, 5 at ranks 5, 6
    assert report["path_count"]["rr"] == pytest.approx(1 / 5)
    assert report["path_count"]["ap"] == pytest.approx((1 / 5 + 2 / 6) / 2)
    # ties by TracIn: count 2: 0 (1.0), 2 (0.5), 1 (-2.0); count 1: 4 (3.0), 5 (0.2), 3 (-1.0)
    assert report["path_count_tracin"]["rr"] == pytest.approx(1 / 4)
    assert report["path_count_tracin"]["ap"] == pytest.approx((1 / 4 + 2 / 5) / 2)
    # path minima: p0 -2, p1 -1, p2 0.2, p3 -2: only p2 is all proponents -> supported
    # counts 1, 0, 0, 0, 1, 1, 0; order 0, 4, 5 (by count, then TracIn), then 2, 1, 3, then 6
    assert report["supported_path_count"]["rr"] == pytest.approx(1 / 2)
    assert report["supported_path_count"]["ap"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_order_positions_and_rank_fusion_hand_computed():
    from kgif.studies.drugmechdb import RRF_K, order_positions

    tiers = torch.tensor([0, 1, 1, 0, 2, 1])
    scores = torch.tensor([9.0, 1.0, 3.0, 5.0, -1.0, 3.0], dtype=torch.float64)
    # order: 4; 2, 5 (tie: smaller row), 1; 0, 3 -> positions of rows 0..5
    assert order_positions(tiers, scores).tolist() == [4, 3, 1, 5, 0, 2]
    train = torch.tensor([[0, 1, 2], [2, 1, 1], [0, 1, 3], [3, 1, 1], [0, 1, 4], [4, 1, 1],
                          [0, 0, 1]])
    tracin = torch.tensor([1.0, -2.0, 0.5, -1.0, 3.0, 0.2, 10.0], dtype=torch.float64)
    pair = Pair(Mechanism((0, 0, 1), "test", torch.tensor([3]), {"P1": torch.tensor([3])}),
                {"tracin": tracin}, torch.arange(7), torch.tensor([False] * 6 + [True]),
                _paths(), torch.ones(5, dtype=torch.long), torch.ones(7, dtype=torch.float64),
                train)
    # path count order 0, 1, 2, 3, 4, 5, 6; TracIn, 1-hop non-direct first: 4, 0, 2, 5, 3, 1, 6
    # edge 3: positions 3 and 4 -> 1/64 + 1/65; edge 0: 0 and 1 -> 1/61 + 1/62 (first)
    _, fused = EDGE_RANKINGS["fusion_path_count_tracin"](pair)
    assert float(fused[3]) == pytest.approx(1 / (RRF_K + 4) + 1 / (RRF_K + 5), rel=1e-12)
    assert float(fused[0]) == pytest.approx(1 / (RRF_K + 1) + 1 / (RRF_K + 2), rel=1e-12)
    report = edge_report(pair, ["fusion_path_count_tracin"], draws=10)
    # fused order: 0 (1/61+1/62), 4 (1/65+1/61), 2 (1/63+1/63), 1 (1/62+1/66), then 3, 5, 6
    assert report["fusion_path_count_tracin"]["rr"] == pytest.approx(1 / 5)
