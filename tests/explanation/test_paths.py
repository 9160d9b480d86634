"""Head-tail paths: vectorised enumeration vs a brute-force DFS, scoring vs TracIn."""

from __future__ import annotations

import csv
import dataclasses
import json

import pytest
import torch
from helpers import small_conve
from tolerances import ATOL64, RTOL64

from kgif.data.graph import KnowledgeGraph
from kgif.explanation.paths import (
    enumerate_paths,
    format_paths,
    paths_to_json,
    rank_paths,
    score_paths,
    write_paths_csv,
)
from kgif.influence.candidates import Adjacency
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint


def _random_graph(seed: int, n_ent: int = 9, n_edges: int = 30) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(n_ent, (n_edges,), generator=gen)
    t = torch.randint(n_ent, (n_edges,), generator=gen)
    r = torch.randint(3, (n_edges,), generator=gen)
    triples = torch.stack([h, r, t], 1)
    return torch.cat([triples, triples[:4]])  # parallel duplicates too


def _brute_force(triples: torch.Tensor, head: int, tail: int, lengths) -> set:
    """Every simple path as (nodes, edges) by depth-first search over an edge list."""
    edges = triples.tolist()
    found = set()

    def walk(nodes, used):
        if len(used) in lengths and nodes[-1] == tail:
            found.add((tuple(nodes), tuple(used)))
        if len(used) == max(lengths) or nodes[-1] == tail:
            return
        for e, (a, _, b) in enumerate(edges):
            for u, v in ((a, b), (b, a)):
                if u == nodes[-1] and v not in nodes:
                    walk(nodes + [v], used + [e])
                    break  # a self-loop is excluded by `v not in nodes`; one orientation each

    if head != tail:
        walk([head], [])
    return found


def _as_set(paths) -> set:
    out = set()
    for nodes, edges, n in zip(paths.nodes.tolist(), paths.edges.tolist(),
                               paths.lengths.tolist(), strict=True):
        out.add((tuple(nodes[:n + 1]), tuple(edges[:n])))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_enumeration_matches_brute_force(seed):
    triples = _random_graph(seed)
    adj = Adjacency.from_triples(triples, 9)
    gen = torch.Generator().manual_seed(100 + seed)
    pairs = torch.randint(9, (6, 2), generator=gen).tolist() + [[0, 0]]
    for head, tail in pairs:
        for lo, hi in ((1, 3), (2, 3), (2, 2), (3, 3)):
            paths = enumerate_paths(adj, head, tail, min_length=lo, max_length=hi)
            expected = _brute_force(triples, head, tail, range(lo, hi + 1))
            got = _as_set(paths)
            assert got == expected and len(paths.lengths) == len(expected)
            assert paths.total == len(expected) and not paths.truncated
            assert paths.lengths.tolist() == sorted(paths.lengths.tolist())


def test_cap_keeps_a_prefix_and_counts_all():
    triples = _random_graph(7, n_ent=6, n_edges=60)
    adj = Adjacency.from_triples(triples, 6)
    full = enumerate_paths(adj, 0, 1, min_length=1)
    assert full.total > 20
    for cap in (1, 5, 20, 100, 400):
        capped = enumerate_paths(adj, 0, 1, min_length=1, max_paths=cap)
        assert capped.total == full.total and capped.truncated
        assert torch.equal(capped.edges, full.edges[:cap])
        assert torch.equal(capped.nodes, full.nodes[:cap])


def test_bad_arguments():
    adj = Adjacency.from_triples(_random_graph(0), 9)
    with pytest.raises(ValueError, match="min_length"):
        enumerate_paths(adj, 0, 1, min_length=0)
    with pytest.raises(ValueError, match="max_length"):
        enumerate_paths(adj, 0, 1, max_length=4)
    with pytest.raises(ValueError, match="tail=9"):
        enumerate_paths(adj, 0, 9)
    with pytest.raises(ValueError, match="max_paths"):
        enumerate_paths(adj, 0, 1, max_paths=0)


def _kg(triples: torch.Tensor, n_ent: int) -> KnowledgeGraph:
    ents = {f"e{i}": i for i in range(n_ent)}
    rels = {f"r{i}": i for i in range(3)}
    return KnowledgeGraph(ents, rels, triples, name="toy")


def test_rank_paths_scores_are_tracin_sums(tmp_path):
    n_ent = 9
    triples = _random_graph(3)
    kg = _kg(triples, n_ent)
    config, params, buffers = small_conve(seed=2, num_entities=n_ent, num_relations=3)
    tracin = TracIn([Checkpoint(params, buffers, config, 0.3, epoch=1)], triples, batch_size=7)
    adj = Adjacency.from_triples(triples, n_ent)
    test = torch.tensor([1, 0, 2])
    ranked = rank_paths(tracin, test, adj, min_length=1)
    full = tracin.influence(test[None])[0]  # (n,) reference scores of every edge
    assert len(ranked.paths) == ranked.total == len(_brute_force(triples, 1, 2, (1, 2, 3)))
    sums = torch.tensor([p.sum for p in ranked.paths], dtype=torch.float64)
    expected = torch.stack([full[list(p.edges)].sum() for p in ranked.paths])
    torch.testing.assert_close(sums, expected, rtol=RTOL64, atol=ATOL64)
    assert torch.all(sums[:-1] >= sums[1:])
    by_mean = rank_paths(tracin, test, adj, by="mean", top=3)
    means = [p.mean for p in by_mean.paths]
    assert means == sorted(means, reverse=True) and len(means) == 3
    for p in by_mean.paths:
        assert p.mean == pytest.approx(sum(p.edge_scores) / len(p.edges), rel=1e-12)
    document = json.loads(json.dumps(paths_to_json(ranked, kg, triples)))
    first = document["paths"][0]
    assert first["nodes"][0]["label"] == "e1" and first["nodes"][-1]["label"] == "e2"
    assert first["text"].startswith("e1 ") and first["text"].endswith(" e2")
    named = dataclasses.replace(kg, entity_names={i: f"N{i}" for i in range(kg.num_entities)})
    with_names = paths_to_json(ranked, named, triples)["paths"][0]
    assert with_names["text_names"].startswith(f"N{kg.entity_to_id['e1']} ")
    assert with_names["text"] == first["text"]  # labels unchanged
    write_paths_csv(tmp_path / "p.csv", ranked, named, triples)
    rows = list(csv.DictReader((tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0]["PathNames"] == with_names["text_names"] and rows[0]["Path"] == first["text"]
    assert "paths" in format_paths(ranked, kg, triples)


def test_score_paths_needs_every_edge(tmp_path):
    triples = _random_graph(1)
    adj = Adjacency.from_triples(triples, 9)
    paths = enumerate_paths(adj, 0, 1, min_length=1)
    ids = torch.unique(paths.edges[paths.edges >= 0])
    scores = torch.randn(len(ids), dtype=torch.float64)
    sums, means = score_paths(paths, ids.flip(0), scores.flip(0))  # any order of ids
    lookup = dict(zip(ids.tolist(), scores.tolist(), strict=True))
    for p in range(len(paths.lengths)):
        n = int(paths.lengths[p])
        want = sum(lookup[e] for e in paths.edges[p, :n].tolist())
        assert float(sums[p]) == pytest.approx(want, rel=1e-12)
        assert float(means[p]) == pytest.approx(want / n, rel=1e-12)
    if len(ids):
        with pytest.raises(ValueError, match="no score"):
            score_paths(paths, ids[1:], scores[1:])
    kg = _kg(triples, 9)
    write_paths_csv(tmp_path / "p.csv", [], kg, triples)
    assert (tmp_path / "p.csv").read_text().startswith("TestHead_label,")
