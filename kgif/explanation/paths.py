"""Head-tail paths of a test triple in the training graph, ranked by TracIn influence.

A test triple ``(h, r, t)`` is often explained better by a chain of training edges than by
single edges (the seed project, james0032/TiePin, enumerates such paths for its mechanistic
explanations). This module enumerates the **simple paths** of 1 to 3 edges between h and t in
the undirected, relation-labelled training multigraph (the graph of
:class:`kgif.influence.candidates.Adjacency`: every training row is one edge, directions
ignored, parallel edges give different paths), scores each path by an aggregate of the TracIn
scores of its edges (:data:`PATH_AGGREGATES`: sum, mean, minimum, geometric mean) and ranks them.

* Simple: the nodes along a path are distinct (so no self-loops and h != t; a test triple
  with h == t has no paths).
* Enumeration is vectorised: 2-edge paths join the CSR rows of h and t on the middle node;
  3-edge paths take every training edge (x, y), in both orientations, with x a neighbour of h
  and y a neighbour of t, and join it with the rows of h and t (one pass over the edge list,
  two sorted joins, no Python loop over nodes or edges).
* Cap: hub entities can have millions of 3-edge paths. :func:`enumerate_paths` counts them
  first and materialises at most ``max_paths`` (default :data:`DEFAULT_MAX_PATHS`): the
  shorter lengths first, then the first ones in enumeration order (middle edge id, forward
  orientation before reverse, then the CSR order of h's and t's rows). ``total`` and
  ``truncated`` tell when the cap cut paths, so the ranking is over the kept ones only.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from kgif._io import atomic_write, atomic_write_json
from kgif.data.graph import KnowledgeGraph
from kgif.data.validate import check_triples
from kgif.influence.candidates import Adjacency

__all__ = ["DEFAULT_MAX_PATHS", "PATH_AGGREGATES", "HeadTailPaths", "PathScore", "RankedPaths",
           "aggregate_paths", "edge_score_table", "enumerate_paths", "format_paths",
           "paths_to_json", "rank_paths", "score_paths", "write_paths_csv", "write_paths_json"]

logger = logging.getLogger(__name__)

#: Default cap on the paths materialised per test triple (about 1 MB of int64 per 10^4 paths).
DEFAULT_MAX_PATHS = 100_000

#: CSV header of :func:`write_paths_csv`.
PATH_COLUMNS = ("TestHead_label", "TestRel_label", "TestTail_label", "Rank", "Length",
                "SumScore", "MeanScore", "Path", "TrainIndices", "EdgeScores", "PathNames")


@dataclass(frozen=True)
class HeadTailPaths:
    """Simple paths between a head and a tail.

    Attributes:
        nodes: (P, 4) int64 entity ids along each path from head to tail, padded with -1.
        edges: (P, 3) int64 training rows of the path's edges in order, padded with -1.
        lengths: (P,) int64 number of edges (1 to 3).
        total: number of paths before the ``max_paths`` cap (>= P).
    """

    nodes: Tensor
    edges: Tensor
    lengths: Tensor
    total: int

    @property
    def truncated(self) -> bool:
        return self.total > len(self.lengths)


def _join(left: Tensor, right: Tensor, n: int, budget: int) -> tuple[Tensor, Tensor, int]:
    """Pairs (i, j) with ``left[i] == right[j]`` (keys in [0, n)), ordered by i then by j's
    position, truncated to the first ``budget``.

    Returns:
        ``(i, j, total)``: (M,) int64 positions in ``left`` and ``right``, M <= budget, and the
        number of pairs before truncation.
    """
    order = torch.argsort(right, stable=True)
    counts = torch.bincount(right, minlength=n)  # (n,)
    starts = torch.cumsum(counts, 0) - counts
    per_left = counts[left]  # (L,) matches of each left entry
    total = int(per_left.sum())
    keep = torch.cumsum(per_left, 0) - per_left < budget  # left entries that start in budget
    kept = torch.nonzero(keep).squeeze(1)
    c = per_left[kept]
    i = torch.repeat_interleave(kept, c)
    offset = torch.arange(len(i)) - (torch.cumsum(c, 0) - c).repeat_interleave(c)
    j = order[starts[left[i]] + offset]
    return i[:budget], j[:budget], total


def _pack(node_cols: list[Tensor], edge_cols: list[Tensor]) -> tuple[Tensor, Tensor]:
    p = len(edge_cols[0])
    nodes = torch.full((p, 4), -1, dtype=torch.long)
    edges = torch.full((p, 3), -1, dtype=torch.long)
    for c, col in enumerate(node_cols):
        nodes[:, c] = col
    for c, col in enumerate(edge_cols):
        edges[:, c] = col
    return nodes, edges


def _one_edge(adj, h, t, nh, eh, budget):
    hit = torch.nonzero(nh == t).squeeze(1)
    e = eh[hit][:budget]
    return _pack([torch.full_like(e, h), torch.full_like(e, t)], [e]), len(hit)


def _two_edges(adj, h, t, nh, eh, nt, et, budget):
    ok_h = (nh != h) & (nh != t)
    ok_t = (nt != h) & (nt != t)
    nh, eh, nt, et = nh[ok_h], eh[ok_h], nt[ok_t], et[ok_t]
    i, j, total = _join(nh, nt, adj.num_entities, budget)
    x = nh[i]
    return _pack([torch.full_like(x, h), x, torch.full_like(x, t)], [eh[i], et[j]]), total


def _three_edges(adj, h, t, nh, eh, nt, et, budget):
    near_h = torch.zeros(adj.num_entities, dtype=torch.bool)
    near_t = torch.zeros(adj.num_entities, dtype=torch.bool)
    near_h[nh] = True
    near_t[nt] = True
    near_h[[h, t]] = False
    near_t[[h, t]] = False
    ids = torch.arange(adj.num_edges)
    x = torch.cat([adj.heads, adj.tails])  # (2n,) both orientations of every edge
    y = torch.cat([adj.tails, adj.heads])
    e2 = torch.cat([ids, ids])
    mid = torch.nonzero(near_h[x] & near_t[y] & (x != y)).squeeze(1)
    x, y, e2 = x[mid], y[mid], e2[mid]
    ok_h = (nh != h) & (nh != t)
    ok_t = (nt != h) & (nt != t)
    nh, eh, nt, et = nh[ok_h], eh[ok_h], nt[ok_t], et[ok_t]
    mi, hi, _ = _join(x, nh, adj.num_entities, len(x) * max(len(nh), 1))  # all (middle, e1)
    ti_left = y[mi]
    k, ti, total = _join(ti_left, nt, adj.num_entities, budget)
    mi, hi = mi[k], hi[k]
    cols = [torch.full_like(mi, h), x[mi], y[mi], torch.full_like(mi, t)]
    return _pack(cols, [eh[hi], e2[mi], et[ti]]), total


def enumerate_paths(adj: Adjacency, head: int, tail: int, *, min_length: int = 2,
                    max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS) -> HeadTailPaths:
    """Simple undirected paths of ``min_length`` to ``max_length`` edges from head to tail.

    Args:
        adj: adjacency of the training triples.
        head: head entity id.
        tail: tail entity id.
        min_length: shortest path length to list, 1 to 3 (default 2: a direct edge between
            head and tail is usually the test triple's own evidence, not a path).
        max_length: longest, ``min_length`` to 3.
        max_paths: materialise at most this many paths (see the module docstring).

    Returns:
        The paths, ordered by length and then by enumeration order.

    Raises:
        ValueError: on lengths outside 1..3, ``max_paths < 1``, or an entity id outside
            ``[0, N)``.
    """
    if not 1 <= min_length <= max_length <= 3:
        raise ValueError(f"enumerate_paths: need 1 <= min_length={min_length} <= "
                         f"max_length={max_length} <= 3")
    if max_paths < 1:
        raise ValueError(f"enumerate_paths: max_paths={max_paths} must be positive")
    for name, value in (("head", head), ("tail", tail)):
        if not 0 <= int(value) < adj.num_entities:
            raise ValueError(f"enumerate_paths: {name}={value} is not an entity id of this "
                             f"graph (N={adj.num_entities})")
    h, t = int(head), int(tail)
    empty = _pack([], [torch.empty(0, dtype=torch.long)])
    if h == t:
        return HeadTailPaths(*empty, torch.empty(0, dtype=torch.long), 0)
    ph = slice(int(adj.indptr[h]), int(adj.indptr[h + 1]))  # CSR row of h
    pt = slice(int(adj.indptr[t]), int(adj.indptr[t + 1]))
    nh, eh, nt, et = adj.indices[ph], adj.edge_ids[ph], adj.indices[pt], adj.edge_ids[pt]
    parts: list[tuple[Tensor, ...]] = []
    lengths: list[Tensor] = []
    total = 0
    for length in range(min_length, max_length + 1):
        budget = max(max_paths - sum(len(p[1]) for p in parts), 0)
        if length == 1:
            packed, count = _one_edge(adj, h, t, nh, eh, budget)
        elif length == 2:
            packed, count = _two_edges(adj, h, t, nh, eh, nt, et, budget)
        else:
            packed, count = _three_edges(adj, h, t, nh, eh, nt, et, budget)
        parts.append(packed)
        lengths.append(torch.full((len(packed[1]),), length, dtype=torch.long))
        total += count
    if total > max_paths:
        logger.warning("enumerate_paths: %d paths between %d and %d, kept the first %d "
                       "(max_paths)", total, h, t, max_paths)
    return HeadTailPaths(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]),
                         torch.cat(lengths), total)


def edge_score_table(paths: HeadTailPaths, edge_ids: Tensor, edge_scores: Tensor) -> Tensor:
    """The TracIn score of every edge of every path.

    Args:
        paths: the paths.
        edge_ids: (E,) int64 training rows whose scores are given (every edge on a path).
        edge_scores: (E,) float scores of those rows.

    Returns:
        (P, 3) scores in the dtype of ``edge_scores``, NaN where a path is shorter than 3.

    Raises:
        ValueError: if a path edge has no score.
    """
    ids, order = torch.sort(edge_ids.cpu())
    values = edge_scores.detach().cpu()[order]
    valid = paths.edges >= 0
    flat = paths.edges[valid]
    pos = torch.searchsorted(ids, flat).clamp(max=max(len(ids) - 1, 0))
    if len(flat) and (not len(ids) or (ids[pos] != flat).any()):
        raise ValueError("score_paths: some path edges have no score in edge_ids")
    table = torch.full(paths.edges.shape, float("nan"), dtype=values.dtype)
    table[valid] = values[pos]
    return table


def _sum(table: Tensor) -> Tensor:
    return table.nan_to_num(0.0).sum(1)


def _mean(table: Tensor) -> Tensor:
    return _sum(table) / (~table.isnan()).sum(1).clamp(min=1).to(table.dtype)


def _min(table: Tensor) -> Tensor:
    return table.nan_to_num(float("inf")).min(1).values


def _geomean(table: Tensor) -> Tensor:
    """exp(mean(log s)) over the edges; 0 when an edge has score <= 0 (not a chain of
    proponents)."""
    n = (~table.isnan()).sum(1).clamp(min=1).to(table.dtype)
    logs = table.nan_to_num(1.0).clamp(min=0).log()  # -inf for s <= 0 -> exp gives 0
    return torch.exp(logs.sum(1) / n)


#: Path score from its edges' TracIn scores: name -> ((P, 3) table, NaN-padded) -> (P,).
#: ``sum`` and ``mean`` (the seed project's path scores), ``min`` (the weakest link) and
#: ``geomean`` (geometric mean of the edges' scores; 0 when an edge has score <= 0).
PATH_AGGREGATES: dict[str, Callable[[Tensor], Tensor]] = {
    "sum": _sum, "mean": _mean, "min": _min, "geomean": _geomean}


def aggregate_paths(table: Tensor, aggregate: str) -> Tensor:
    """(P,) path scores of a :func:`edge_score_table` by one of :data:`PATH_AGGREGATES`.

    Raises:
        ValueError: on an unknown ``aggregate``.
    """
    if aggregate not in PATH_AGGREGATES:
        raise ValueError(f"aggregate_paths: aggregate={aggregate!r}, expected one of "
                         f"{sorted(PATH_AGGREGATES)}")
    return PATH_AGGREGATES[aggregate](table)


def score_paths(paths: HeadTailPaths, edge_ids: Tensor,
                edge_scores: Tensor) -> tuple[Tensor, Tensor]:
    """Sum and mean of the TracIn scores of each path's edges.

    Args:
        paths: the paths.
        edge_ids: (E,) int64 training rows whose scores are given (every edge on a path).
        edge_scores: (E,) float scores of those rows.

    Returns:
        ``(sums, means)``, each (P,) in the dtype of ``edge_scores``.

    Raises:
        ValueError: if a path edge has no score.
    """
    table = edge_score_table(paths, edge_ids, edge_scores)
    return _sum(table), _mean(table)


@dataclass(frozen=True)
class PathScore:
    """One ranked path: entity ids, training rows, their scores, and the path's sum and mean."""

    rank: int
    nodes: tuple[int, ...]
    edges: tuple[int, ...]
    edge_scores: tuple[float, ...]
    sum: float
    mean: float


@dataclass(frozen=True)
class RankedPaths:
    """Ranked paths of one test triple; ``total`` counts the paths before the cap."""

    triple: tuple[int, int, int]
    paths: list[PathScore]
    total: int
    truncated: bool
    by: str


def _one_triple(tracin, test_triple) -> Tensor:
    """``test_triple`` as a (3,) int64 triple checked against ``tracin``'s model."""
    row = test_triple if isinstance(test_triple, Tensor) else np.asarray(test_triple)
    if row.ndim == 1:
        row = row.reshape(1, -1)
    if row.ndim == 2 and row.shape[0] != 1:
        raise ValueError(f"rank_paths: test_triple has shape {tuple(row.shape)}; expected one "
                         "triple, shape (3,)")
    return check_triples(row, "rank_paths", "test_triple", num_entities=tracin.num_entities,
                         num_relations=tracin.num_relations, device="cpu").reshape(3)


def rank_paths(tracin, test_triple, adj: Adjacency, *, min_length: int = 2,
               max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS, top: int | None = None,
               by: str = "sum") -> RankedPaths:
    """Enumerate the head-tail paths of a test triple and rank them by TracIn score.

    Each path is scored by the TracInCP scores (Pruthi et al. 2020) of its edges for the test
    triple, computed with ``tracin.candidate_influence`` on exactly the edges that lie on a path.

    Args:
        tracin: a :class:`kgif.influence.tracin.TracIn` whose training triples built ``adj``.
        test_triple: (3,) int64 ``(head, relation, tail)``.
        adj: adjacency of ``tracin.training_edges()``.
        min_length, max_length, max_paths: as :func:`enumerate_paths`.
        top: keep the best ``top`` paths (None: all).
        by: ``"sum"`` or ``"mean"``, the ranking key (descending; ties keep enumeration order).

    Returns:
        The ranked paths.

    Raises:
        ValueError: on an unknown ``by``, a ``test_triple`` that is not one ``(3,)`` integer
            triple in range of the model (:func:`kgif.data.validate.check_triples`), or as
            :func:`enumerate_paths`.
    """
    if by not in ("sum", "mean"):
        raise ValueError(f"rank_paths: by={by!r}, expected 'sum' or 'mean'")
    triple = _one_triple(tracin, test_triple)
    h, r, t = triple.tolist()
    paths = enumerate_paths(adj, h, t, min_length=min_length, max_length=max_length,
                            max_paths=max_paths)
    ids = torch.unique(paths.edges[paths.edges >= 0])
    scores = (tracin.candidate_influence(triple[None], [ids])[0] if len(ids)
              else torch.zeros(0, dtype=torch.float64))
    sums, means = score_paths(paths, ids, scores)
    key = sums if by == "sum" else means
    order = torch.sort(key, descending=True, stable=True).indices[:top]
    lookup = dict(zip(ids.tolist(), scores.detach().cpu().tolist(), strict=True))
    ranked = []
    for rank, p in enumerate(order.tolist(), 1):
        n = int(paths.lengths[p])
        edges = tuple(paths.edges[p, :n].tolist())
        ranked.append(PathScore(rank, tuple(paths.nodes[p, :n + 1].tolist()), edges,
                                tuple(lookup[e] for e in edges), float(sums[p]),
                                float(means[p])))
    return RankedPaths((h, r, t), ranked, paths.total, paths.truncated, by)


# --------------------------------------------------------------------------- output


def _hop(kg: KnowledgeGraph, train: Tensor, edge: int, start: int, label) -> str:
    """``--rel-->`` when the training edge runs from ``start`` onwards, else ``<--rel--``."""
    h, r, _ = train[edge].tolist()
    rel = label(kg.relation_label, kg.relation_name)(r)
    return f" --{rel}--> " if h == start else f" <--{rel}-- "


class _Walk(Protocol):
    """What :func:`path_text` reads of a path (:class:`PathScore`, a mechanism path)."""

    @property
    def nodes(self) -> tuple[int, ...]: ...

    @property
    def edges(self) -> tuple[int, ...]: ...


def path_text(path: _Walk, kg: KnowledgeGraph, train: Tensor, names: bool = True) -> str:
    """``A --r--> B <--q-- C``: entities and relations (display names or labels), with the
    direction of each training edge."""

    def label(by_label, by_name):
        return by_name if names else by_label

    ent = label(kg.entity_label, kg.entity_name)
    text = ent(path.nodes[0])
    for i, edge in enumerate(path.edges):
        text += _hop(kg, train, edge, path.nodes[i], label) + ent(path.nodes[i + 1])
    return text


def paths_to_json(ranked: RankedPaths, kg: KnowledgeGraph, train: Tensor,
                  metadata: dict | None = None) -> dict:
    """JSON-ready document of one test triple's ranked paths, with labels and names."""
    h, r, t = ranked.triple
    return {
        "metadata": dict(metadata or {}),
        "test": {"head": h, "relation": r, "tail": t, "head_label": kg.entity_label(h),
                 "relation_label": kg.relation_label(r), "tail_label": kg.entity_label(t),
                 "head_name": kg.entity_name(h), "relation_name": kg.relation_name(r),
                 "tail_name": kg.entity_name(t)},
        "total_paths": ranked.total, "truncated": ranked.truncated, "ranked_by": ranked.by,
        "paths": [{
            "rank": p.rank, "length": len(p.edges), "sum": p.sum, "mean": p.mean,
            "text": path_text(p, kg, train, names=False),
            "text_names": path_text(p, kg, train, names=True),
            "nodes": [{"id": n, "label": kg.entity_label(n), "name": kg.entity_name(n)}
                      for n in p.nodes],
            "edges": [{"train_index": e, "head_label": kg.entity_label(a),
                       "relation_label": kg.relation_label(q), "tail_label": kg.entity_label(b),
                       "influence": s}
                      for e, s in zip(p.edges, p.edge_scores, strict=True)
                      for a, q, b in [train[e].tolist()]],
        } for p in ranked.paths],
    }


def write_paths_json(path: str | os.PathLike, ranked: RankedPaths, kg: KnowledgeGraph,
                     train: Tensor, metadata: dict | None = None) -> None:
    """Write :func:`paths_to_json` atomically (indent 2; :func:`kgif._io.atomic_write_json`).

    Raises:
        ValueError: a score is NaN or infinite (the key path is named; nothing is written).
    """
    atomic_write_json(path, paths_to_json(ranked, kg, train, metadata))


def write_paths_csv(path: str | os.PathLike, ranked: Sequence[RankedPaths] | RankedPaths,
                    kg: KnowledgeGraph, train: Tensor) -> None:
    """One row per path with :data:`PATH_COLUMNS` (``Path`` with labels, ``PathNames`` with
    display names; ``;``-joined rows and scores)."""
    ranked = [ranked] if isinstance(ranked, RankedPaths) else list(ranked)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(PATH_COLUMNS)
            for item in ranked:
                h, r, t = item.triple
                test = [kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)]
                writer.writerows(
                    test + [p.rank, len(p.edges), repr(p.sum), repr(p.mean),
                            path_text(p, kg, train, names=False),
                            ";".join(map(str, p.edges)), ";".join(map(repr, p.edge_scores)),
                            path_text(p, kg, train, names=True)]
                    for p in item.paths)

    atomic_write(path, write)


def format_paths(ranked: RankedPaths, kg: KnowledgeGraph, train: Tensor) -> str:
    """A text table: rank, sum, mean, and the path with display names (nothing cut)."""
    h, r, t = ranked.triple
    note = f", first {len(ranked.paths)} kept of" if ranked.truncated else " of"
    lines = [f"paths {kg.entity_name(h)} ~ {kg.entity_name(t)} (ranked by {ranked.by}"
             f"{note} {ranked.total}):",
             f"  {'rank':>4}  {'sum':>11}  {'mean':>11}  path"]
    for p in ranked.paths:
        row = f"  {p.rank:>4}  {p.sum:+.4e}  {p.mean:+.4e}  {path_text(p, kg, train)}"
        lines.append(row)
    return "\n".join(lines)
