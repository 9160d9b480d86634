"""Candidate filters against independent networkx references on random small multigraphs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from kgif.data.datasets import load_dataset
from kgif.influence import candidates as filters
from kgif.influence.candidates import (
    Adjacency,
    bfs_distances,
    candidate_edges,
    candidate_edges_batch,
    k_hop_nodes,
)

nx = pytest.importorskip("networkx")


def random_multigraph(seed: int, num_entities: int = 12, num_edges: int = 22) -> torch.Tensor:
    """(n, 3) int64 triples with forced self-loops and duplicate (h, t) pairs, 3 relations."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(num_entities, (num_edges,), generator=gen)
    t = torch.randint(num_entities, (num_edges,), generator=gen)
    r = torch.randint(3, (num_edges,), generator=gen)
    triples = torch.stack([h, r, t], dim=1)
    loop = torch.tensor([[h[0], 1, h[0]]])
    duplicate = triples[1:3].clone()
    duplicate[:, 1] = (duplicate[:, 1] + 1) % 3
    reversed_pair = triples[3:4][:, [2, 1, 0]]
    return torch.cat([triples, loop, duplicate, reversed_pair])


def to_networkx(triples: torch.Tensor, num_entities: int):
    """Undirected multigraph with one edge per training row, keyed by its row index."""
    graph = nx.MultiGraph()
    graph.add_nodes_from(range(num_entities))
    for e, (h, _, t) in enumerate(triples.tolist()):
        graph.add_edge(h, t, key=e)
    return graph


def walk_edges(graph, head: int, tail: int, max_len: int) -> set[int]:
    """Keys of edges on some head-tail walk of <= max_len edges, by explicit enumeration."""
    found: set[int] = set()

    def extend(node, used, length):
        if node == tail:
            found.update(used)
        if length == max_len:
            return
        for _, nbr, key in graph.edges(node, keys=True):
            extend(nbr, used + (key,), length + 1)

    extend(head, (), 0)
    return found


def reference_candidates(graph, head, tail, k, min_degree=None, max_path_length=None):
    """Independent reference for candidate_edges with networkx ego graphs and degrees."""
    inside = set(nx.ego_graph(graph, head, radius=k)) & set(nx.ego_graph(graph, tail, radius=k))
    inside |= {head, tail}
    keep = {e for u, v, e in graph.edges(keys=True) if u in inside and v in inside}
    if min_degree is not None:
        def ok(x):
            return x in (head, tail) or graph.degree(x) >= min_degree
        keep = {e for u, v, e in graph.edges(keys=True) if e in keep and ok(u) and ok(v)}
    if max_path_length is not None:
        keep &= walk_edges(graph, head, tail, max_path_length)
    return sorted(keep)


@pytest.fixture(params=["rows", "scan"])
def strategy(request, monkeypatch):
    """Force one edge-selection strategy: CSR row gathering or an edge-list scan."""
    monkeypatch.setattr(filters, "_ROWS_FACTOR", 0 if request.param == "rows" else 10**9)
    return request.param


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_bfs_and_k_hop_match_networkx(seed, k, strategy):
    triples = random_multigraph(seed)
    num_entities = 14  # two isolated entities
    adj = Adjacency.from_triples(triples, num_entities)
    graph = to_networkx(triples, num_entities)
    seeds = torch.tensor([seed % num_entities, (3 * seed + 5) % num_entities])
    lengths = nx.multi_source_dijkstra_path_length(graph, set(seeds.tolist()))
    expected = torch.tensor([lengths[x] if lengths.get(x, k + 1) <= k else -1
                             for x in range(num_entities)])
    assert torch.equal(bfs_distances(adj, seeds, k), expected)
    ego = set(nx.ego_graph(graph, int(seeds[0]), radius=k))
    assert k_hop_nodes(adj, seeds[:1], k).nonzero().squeeze(1).tolist() == sorted(ego)


def test_degree_matches_networkx():
    triples = random_multigraph(7)
    adj = Adjacency.from_triples(triples, 13)
    graph = to_networkx(triples, 13)
    assert adj.degree.tolist() == [graph.degree(x) for x in range(13)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("min_degree", [None, 4])
@pytest.mark.parametrize("max_path_length", [None, 1, 2, 3, 4])
def test_candidate_edges_match_networkx(seed, k, min_degree, max_path_length, strategy):
    triples = random_multigraph(seed)
    adj = Adjacency.from_triples(triples, 12)
    graph = to_networkx(triples, 12)
    gen = np.random.default_rng(seed)
    for head, tail in gen.integers(12, size=(4, 2)).tolist() + [[0, 0]]:
        got = candidate_edges(adj, head, tail, k=k, min_degree=min_degree,
                              max_path_length=max_path_length)
        assert got.dtype == torch.int64
        assert got.tolist() == reference_candidates(graph, head, tail, k, min_degree,
                                                    max_path_length), (head, tail)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("max_path_length", [1, 2, 3, 4])
def test_walk_filter_contains_simple_path_edges(seed, max_path_length):
    """Every edge on a simple path of length <= L passes; equality for L <= 2 without loops."""
    triples = random_multigraph(seed)
    adj = Adjacency.from_triples(triples, 12)
    graph = to_networkx(triples, 12)
    loops = {e for e, (h, _, t) in enumerate(triples.tolist()) if h == t}
    gen = np.random.default_rng(100 + seed)
    for head, tail in gen.integers(12, size=(5, 2)).tolist():
        if head == tail:
            continue
        simple = {key for path in nx.all_simple_edge_paths(graph, head, tail,
                                                           cutoff=max_path_length)
                  for _, _, key in path}
        got = set(candidate_edges(adj, head, tail, k=max_path_length,
                                  max_path_length=max_path_length).tolist())
        assert simple <= got
        if max_path_length <= 2:
            assert got - loops == simple


def test_hand_computed_example():
    """h=0, t=1 adjacent; 2 is a dead end at h; 0-3-4-1 is a 3-path; 5 hangs off 4."""
    triples = torch.tensor([[0, 0, 1], [0, 0, 2], [0, 1, 3], [3, 0, 4], [4, 0, 1],
                            [4, 1, 5], [1, 2, 1]])
    adj = Adjacency.from_triples(triples)
    # N_1(0) = {0,1,2,3}, N_1(1) = {0,1,4}: intersection {0,1}
    assert candidate_edges(adj, 0, 1, k=1).tolist() == [0, 6]
    # N_2(0) = {0,1,2,3,4}, N_2(1) = {0,1,2,3,4,5}: 5 is out
    assert candidate_edges(adj, 0, 1, k=2).tolist() == [0, 1, 2, 3, 4, 6]
    # walks of length <= 2: 0-1 and the loop walk 0-1-1
    assert candidate_edges(adj, 0, 1, k=2, max_path_length=2).tolist() == [0, 6]
    # length 3 adds 0-3-4-1 and the dead-end walk 0-2-0-1 (not a simple path)
    assert candidate_edges(adj, 0, 1, k=3, max_path_length=3).tolist() == [0, 1, 2, 3, 4, 6]
    # degrees: 0:3, 1:4 (the loop counts twice), 2:1, 3:2, 4:3, 5:1
    assert candidate_edges(adj, 0, 1, k=2, min_degree=3).tolist() == [0, 4, 6]
    assert candidate_edges(adj, 0, 1, k=2, min_degree=4).tolist() == [0, 6]
    # h=2, t=1: N_1(2) ∩ N_1(1) = {0}; with h and t added, the 2-path 2-0-1 and the loop at 1
    assert candidate_edges(adj, 2, 1, k=1).tolist() == [0, 1, 6]
    # h=5, t=2 are 4 apart: I = {1, 3} ∪ {5, 2} at k=2; the edges at h and t leave I, the loop
    # at 1 stays
    assert candidate_edges(adj, 5, 2, k=2).tolist() == [6]
    assert candidate_edges(adj, 0, 1, k=2, min_degree=2).tolist() == [0, 2, 3, 4, 6]


def test_batch_matches_single():
    triples = random_multigraph(3, num_entities=30, num_edges=60)
    adj = Adjacency.from_triples(triples)
    test = random_multigraph(4, num_entities=30, num_edges=8)
    batch = candidate_edges_batch(adj, test, k=2, min_degree=2, max_path_length=3)
    assert len(batch) == test.shape[0]
    for (h, _, t), got in zip(test.tolist(), batch, strict=True):
        assert torch.equal(got, candidate_edges(adj, h, t, k=2, min_degree=2,
                                                max_path_length=3))


def test_umls_sanity():
    kg = load_dataset("umls")  # bundled: present on every machine
    triples = kg.training
    adj = Adjacency.from_triples(triples, kg.num_entities)
    graph = to_networkx(triples, adj.num_entities)
    pairs = kg.testing[:5]
    batch = candidate_edges_batch(adj, pairs, k=1, min_degree=20)
    for (h, _, t), got in zip(pairs.tolist(), batch, strict=True):
        assert 0 < got.numel() < len(triples)
        assert got.tolist() == reference_candidates(graph, h, t, 1, min_degree=20)
    everything = candidate_edges(adj, int(pairs[0, 0]), int(pairs[0, 2]), k=10)
    assert everything.numel() == len(triples)  # UMLS is connected, diameter < 10


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a: candidate_edges(a, 5, 0), "head=5"),
        (lambda a: candidate_edges(a, 0, -1), "tail must be"),
        (lambda a: candidate_edges(a, 0, 1, k=-1), "k must be"),
        (lambda a: candidate_edges(a, 0, 1, k=True), "k must be"),
        (lambda a: candidate_edges(a, 0, 1, max_path_length=0), "max_path_length"),
        (lambda a: candidate_edges(a, 0, 1, min_degree=1.5), "min_degree"),
        (lambda a: candidate_edges_batch(a, torch.tensor([[0, 0, 1], [0, 0, 9]])), "row 1"),
        (lambda a: candidate_edges_batch(a, torch.zeros(2, 2, dtype=torch.int64)), "shape"),
        (lambda a: bfs_distances(a, [7], 1), "seeds"),
    ],
)
def test_invalid_input(call, message):
    adj = Adjacency.from_triples(torch.tensor([[0, 0, 1], [1, 0, 2], [3, 0, 4]]))
    with pytest.raises(ValueError, match=message):
        call(adj)


def test_from_triples_validation():
    with pytest.raises(ValueError, match="integer ids"):
        Adjacency.from_triples(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        Adjacency.from_triples(torch.tensor([[0, 0, 3]]), num_entities=3)
    empty = Adjacency.from_triples(np.zeros((0, 3), dtype=np.int64), num_entities=4)
    assert candidate_edges(empty, 0, 3).numel() == 0
    assert list(itertools.chain(*candidate_edges_batch(empty, np.zeros((1, 3), np.int64)))) == []
