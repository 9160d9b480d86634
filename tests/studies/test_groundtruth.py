"""Ground-truth explanation metrics against brute force and hand-computed cases."""

from __future__ import annotations

import itertools

import pytest
import torch

from kgif.data.graph import KnowledgeGraph
from kgif.studies.groundtruth import (
    HETIONET_METAPATHS,
    candidate_first_ranks,
    explanation_metrics,
    ground_truth_report,
    metapath_edges,
    random_metrics,
    ranks_of,
    read_ground_truth,
    write_ground_truth,
)

RELATIONS = ("BINDS_CbG", "ASSOCIATES_DaG", "RESEMBLES_CrC", "TREATS_CtD", "RESEMBLES_DrD",
             "INTERACTS_GiG")


def _toy_hetionet(seed: int = 0) -> KnowledgeGraph:
    """Compounds 0-5, diseases 6-10, genes 11-19; random typed edges of each relation."""
    gen = torch.Generator().manual_seed(seed)
    kinds = {"BINDS_CbG": (range(0, 6), range(11, 20)),
             "ASSOCIATES_DaG": (range(6, 11), range(11, 20)),
             "RESEMBLES_CrC": (range(0, 6), range(0, 6)),
             "TREATS_CtD": (range(0, 6), range(6, 11)),
             "RESEMBLES_DrD": (range(6, 11), range(6, 11)),
             "INTERACTS_GiG": (range(11, 20), range(11, 20))}
    rows = []
    for r, (heads, tails) in enumerate(kinds.values()):
        for _ in range(14):
            h = list(heads)[int(torch.randint(len(heads), (1,), generator=gen))]
            t = list(tails)[int(torch.randint(len(tails), (1,), generator=gen))]
            if h != t:
                rows.append((h, r, t))
    triples = torch.unique(torch.tensor(rows), dim=0)
    treats = triples[triples[:, 1] == 3]
    test, rest = treats[:4], torch.cat([triples[triples[:, 1] != 3], treats[4:]])
    return KnowledgeGraph({f"n{i}": i for i in range(20)},
                          {r: i for i, r in enumerate(RELATIONS)}, training=rest, testing=test)


def _brute_metapath(kg, h, t):
    """Every training edge on some path h -R1- x -R2- t (either direction), x not in {h, t}."""
    rel = kg.relation_to_id
    edges = kg.training.tolist()
    out = set()
    for r1, r2 in HETIONET_METAPATHS.values():
        for (i, a), (j, b) in itertools.product(enumerate(edges), repeat=2):
            if a[1] != rel[r1] or b[1] != rel[r2] or h not in (a[0], a[2]) or \
                    t not in (b[0], b[2]):
                continue
            x = a[2] if a[0] == h else a[0]
            y = b[2] if b[0] == t else b[0]
            if x == y and x not in (h, t):
                out |= {i, j}
    return sorted(out)


def test_metapath_edges_against_brute_force():
    for seed in range(3):
        kg = _toy_hetionet(seed)
        got = metapath_edges(kg, kg.testing)
        want = [_brute_metapath(kg, h, t) for h, _, t in kg.testing.tolist()]
        assert [g.tolist() for g in got] == want
        assert any(want)  # the toy graph has paths


def test_metapath_edges_refuses_unknown_relation_and_long_paths():
    kg = _toy_hetionet()
    with pytest.raises(ValueError, match="relation 'BINDS_CbX'"):
        metapath_edges(kg, kg.testing, {"x": ("BINDS_CbX", "TREATS_CtD")})
    with pytest.raises(ValueError, match="must have 2 relations"):
        metapath_edges(kg, kg.testing, {"x": ("BINDS_CbG",)})


def test_ranks_of_against_brute_force_with_ties():
    gen = torch.Generator().manual_seed(1)
    scores = torch.randint(5, (30,), generator=gen).double()  # many ties
    relevant = torch.tensor([3, 17, 0, 29])
    got = ranks_of(scores, relevant)
    want = sorted(1 + sum(1 for j in range(30) if scores[j] > scores[i]
                          or (scores[j] == scores[i] and j < i)) for i in relevant.tolist())
    assert got.tolist() == want
    with pytest.raises(ValueError, match="non-finite"):
        ranks_of(torch.tensor([1.0, float("nan")]), torch.tensor([0]))


def test_candidate_first_ranks_against_brute_force():
    scores = torch.tensor([5.0, -1.0, 3.0, 3.0, 0.5, 9.0])
    candidates = torch.tensor([1, 3, 4])
    order = sorted(range(6), key=lambda i: (i not in candidates.tolist(), -scores[i], i))
    # order: candidates 3 (3.0), 4 (0.5), 1 (-1.0), then 5, 0, 2
    assert order == [3, 4, 1, 5, 0, 2]
    got = candidate_first_ranks(scores, torch.tensor([1, 5]), candidates)
    assert got.tolist() == [order.index(1) + 1, order.index(5) + 1]


def test_explanation_metrics_hand_computed():
    got = explanation_metrics(torch.tensor([3, 1, 10]), ks=(1, 5))
    assert got["rr"] == 1.0
    assert got["ap"] == pytest.approx((1 / 1 + 2 / 3 + 3 / 10) / 3)
    assert got["hits@1"] == 1.0 and got["recall@1"] == pytest.approx(1 / 3)
    assert got["hits@5"] == 1.0 and got["recall@5"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="no supporting edges"):
        explanation_metrics(torch.tensor([], dtype=torch.long))


def test_random_metrics_match_exact_expectations():
    got = random_metrics(4, 1, draws=20000, seed=2, ks=(1,))
    assert got["rr"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4, abs=0.01)
    assert got["hits@1"] == pytest.approx(0.25, abs=0.01)
    # 2 of 5 relevant: exact E[AP] and E[RR] by enumerating all 10 placements
    aps, rrs = [], []
    for pair in itertools.combinations(range(1, 6), 2):
        m = explanation_metrics(torch.tensor(pair), ks=(1,))
        aps.append(m["ap"])
        rrs.append(m["rr"])
    got = random_metrics(5, 2, draws=20000, seed=3, ks=(1,))
    assert got["ap"] == pytest.approx(sum(aps) / 10, abs=0.01)
    assert got["rr"] == pytest.approx(sum(rrs) / 10, abs=0.01)
    # filter ranking with every relevant edge inside 2 candidates: ranks {1, 2} always
    assert random_metrics(50, 2, draws=10, first=2, m_first=2, ks=(1,))["ap"] == 1.0


def test_ground_truth_file_round_trip_and_errors(tmp_path):
    kg = _toy_hetionet()
    edges = metapath_edges(kg, kg.testing)
    keep = [j for j, e in enumerate(edges) if len(e)]
    path = tmp_path / "gt.tsv"
    write_ground_truth(path, kg, kg.testing[keep], [edges[j] for j in keep])
    triples, rows = read_ground_truth(path, kg)
    assert torch.equal(triples, kg.testing[keep])
    assert [r.tolist() for r in rows] == [edges[j].tolist() for j in keep]
    bad = tmp_path / "bad.tsv"
    bad.write_text("n0\tTREATS_CtD\tn6\tn0\tBINDS_CbG\n")
    with pytest.raises(ValueError, match="line 1 .* 5 columns"):
        read_ground_truth(bad, kg)
    bad.write_text("n0\tTREATS_CtD\tn6\tn0\tBINDS_CbG\tnope\n")
    with pytest.raises(ValueError, match="unknown label 'nope'"):
        read_ground_truth(bad, kg)
    bad.write_text("n0\tTREATS_CtD\tn6\tn0\tTREATS_CtD\tn6\n")
    with pytest.raises(ValueError, match="not a training edge"):
        read_ground_truth(bad, kg)


def test_report_perfect_scores_beat_random_and_skip_empty():
    n = 40
    edges = [torch.tensor([2, 5]), torch.tensor([], dtype=torch.long), torch.tensor([7])]
    scores = torch.zeros(3, n)
    for j, rows in enumerate(edges):
        scores[j, rows] = 1.0  # supporting edges ranked first
    candidates = [torch.tensor([2, 5, 9]), torch.tensor([0]), torch.tensor([1, 7])]
    report = ground_truth_report(scores, edges, candidates, draws=50)
    assert report["skipped"] == 1 and len(report["per_triple"]) == 2
    assert report["overall"]["tracin"]["rr"]["mean"] == 1.0
    assert report["overall"]["tracin"]["ap"]["mean"] == 1.0
    assert report["overall"]["random"]["rr"]["mean"] < 0.5
    assert report["per_triple"][0]["supporting_in_candidates"] == 2
    assert report["versus"]["random"]["rr"]["diff"] > 0
    with pytest.raises(ValueError, match="3 score rows, 2 ground-truth sets"):
        ground_truth_report(scores, edges[:2])
