"""Candidate filters: which training edges to score against a test triple.

TracIn over every training edge is the default; for whole-graph runs it is cheaper (and, for
mechanistic explanations, often more meaningful) to score each test triple ``(h, r, t)`` only
against the training edges *near* it. The seed project (james0032/TiePin, its proximity filters)
keeps the edges inside the **intersection** of the head's and the tail's k-hop neighbourhoods,
with the head and tail themselves always added to it, optionally restricted to edges that lie
on short head-tail paths and to edges between nodes of sufficient degree. This module computes
those sets with vectorised frontier expansion over an undirected CSR adjacency, so no Python
loop runs over nodes or edges.

Definitions (all on the **undirected multigraph** of the training triples; relations and edge
directions are ignored, parallel edges and self-loops are kept, each training row is one edge):

- ``dist(x, y)``: the number of edges on a shortest undirected path from x to y.
- ``N_k(x) = {y : dist(x, y) <= k}`` (x itself included).
- ``I = (N_k(h) ∩ N_k(t)) ∪ {h, t}``. An edge ``(u, v)`` is a k-hop candidate iff ``u ∈ I``
  and ``v ∈ I``. Adding h and t follows the seed's fix for distant test entities: with k = 1
  the set is then the edges among h, t and their common neighbours (every 2-path h-x-t), not
  only the edges among the common neighbours.
- ``min_degree = D``: additionally drop an edge when an endpoint other than h and t has degree
  below D. The degree counts incident training rows in the whole training graph, a self-loop
  counting twice (networkx ``MultiGraph.degree``).
- ``max_path_length = L``: additionally keep an edge only if it lies on a head-tail **walk** of
  length <= L, i.e. iff ``dist(h, u) + 1 + dist(v, t) <= L`` or ``dist(h, v) + 1 + dist(u, t)
  <= L``. Every edge on a *simple* h-t path of length <= L passes, but the converse fails from
  L = 3 on (a dead-end neighbour x of h passes via the walk h-x-h-t when h and t are adjacent)
  and for self-loops from L = 2. With ``k >= L`` the k-hop condition is implied by the path
  condition, so ``k = L`` gives the pure path filter.

All three conditions are computed on the full training graph and combined by logical AND.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from kgif._progress import progress
from kgif.data.validate import check_triples

logger = logging.getLogger(__name__)

__all__ = [
    "Adjacency",
    "bfs_distances",
    "k_hop_nodes",
    "candidate_edges",
    "candidate_edges_batch",
]


@dataclass(frozen=True)
class Adjacency:
    """Undirected CSR adjacency of a training multigraph, built once per training set.

    Every training row ``e = (h, r, t)`` contributes two entries: ``h -> t`` and ``t -> h``, both
    carrying edge id ``e`` (a self-loop contributes two entries in its own row).

    Attributes:
        indptr: (N + 1,) int64; row x's entries are ``indptr[x]:indptr[x + 1]``.
        indices: (2n,) int64 neighbour entity ids.
        edge_ids: (2n,) int64 row index into the training triples of each entry.
        heads: (n,) int64 head entity of each training edge (edge-list view).
        tails: (n,) int64 tail entity of each training edge.
    """

    indptr: Tensor
    indices: Tensor
    edge_ids: Tensor
    heads: Tensor
    tails: Tensor

    @property
    def num_edges(self) -> int:
        """n, the number of training edges."""
        return self.heads.numel()

    @property
    def num_entities(self) -> int:
        """N, the number of entities (rows of the CSR)."""
        return self.indptr.numel() - 1

    @property
    def degree(self) -> Tensor:
        """(N,) int64 multigraph degree (self-loops count twice)."""
        return self.indptr[1:] - self.indptr[:-1]

    @classmethod
    def from_triples(cls, triples, num_entities: int | None = None) -> Adjacency:
        """Build the adjacency from (n, 3) ``(head, relation, tail)`` training triples.

        Args:
            triples: (n, 3) integer tensor or array of entity/relation ids.
            num_entities: N; defaults to ``1 + max entity id`` (0 for no triples).

        Returns:
            The CSR adjacency on the CPU.

        Raises:
            ValueError: if ``triples`` is not (n, 3) integer, or an entity id lies outside
                ``[0, num_entities)``.
        """
        triples = _as_triples(triples, "Adjacency.from_triples")
        heads, tails = triples[:, 0], triples[:, 2]
        n = triples.shape[0]
        largest = int(torch.maximum(heads.max(), tails.max())) if n else -1
        if num_entities is None:
            num_entities = largest + 1
        num_entities = _check_int(num_entities, "num_entities", "Adjacency.from_triples", 0)
        if heads.numel() and (int(torch.minimum(heads.min(), tails.min())) < 0
                              or largest >= num_entities):
            raise ValueError(f"Adjacency.from_triples: entity ids must lie in [0, {num_entities})"
                             f", got range [{int(torch.minimum(heads.min(), tails.min()))}, "
                             f"{largest}]")
        src = torch.cat([heads, tails])  # (2n,)
        order = torch.argsort(src, stable=True)
        counts = torch.bincount(src, minlength=num_entities)
        indptr = torch.zeros(num_entities + 1, dtype=torch.int64)
        indptr[1:] = torch.cumsum(counts, 0)
        return cls(
            indptr=indptr,
            indices=torch.cat([tails, heads])[order],
            edge_ids=torch.arange(n).repeat(2)[order],
            heads=heads.clone(),
            tails=tails.clone(),
        )


def _as_triples(triples, where: str, num_entities: int | None = None) -> Tensor:
    """(n, 3) integer triples as a CPU int64 tensor (:func:`kgif.data.validate.check_triples`)."""
    name = "test_triples" if where == "candidate_edges_batch" else "triples"
    return check_triples(triples, where, name, num_entities=num_entities, device="cpu")


def _check_int(value, name: str, where: str, minimum: int) -> int:
    """Return ``value`` as int if it is an integer >= minimum, else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_entity(adj: Adjacency, value, name: str, where: str) -> int:
    """Return an entity id as int, raising ValueError if it is outside [0, N)."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value)
    value = _check_int(value, name, where, 0)
    if value >= adj.num_entities:
        raise ValueError(f"{where}: {name}={value} is not an entity id of this graph "
                         f"(N={adj.num_entities})")
    return value


def _row_entries(adj: Adjacency, nodes: Tensor) -> tuple[Tensor, Tensor]:
    """CSR entries of the rows ``nodes``.

    Args:
        adj: the adjacency.
        nodes: (S,) int64 entity ids (need not be unique).

    Returns:
        ``(owner, position)``, both (M,) int64 with M the summed degree of ``nodes``: entry j
        lies in row ``owner[j]`` at flat CSR position ``position[j]``.
    """
    starts = adj.indptr[nodes]  # (S,)
    counts = adj.indptr[nodes + 1] - starts  # (S,)
    ends = torch.cumsum(counts, 0)  # flat offset one past each row's last entry
    total = int(ends[-1]) if ends.numel() else 0
    row = torch.repeat_interleave(torch.arange(nodes.numel()), counts, output_size=total)  # (M,)
    position = torch.arange(total, dtype=torch.int64) + (starts - ends + counts)[row]
    return nodes[row], position


#: Gather CSR rows when the nodes' summed degree is below num_edges / this factor, else scan
#: the edge list (both O(work); crossover measured on FB15k-237, see docs/scaling.md).
_ROWS_FACTOR = 8


def _prefer_rows(adj: Adjacency, nodes: Tensor) -> bool:
    """Whether gathering the CSR rows of ``nodes`` ((N,) bool) beats scanning all edges."""
    return int(adj.degree[nodes].sum()) * _ROWS_FACTOR < adj.num_edges


def _neighbours_by_rows(adj: Adjacency, nodes: Tensor) -> Tensor:
    """(N,) bool neighbours of ``nodes`` ((N,) bool), from the CSR rows of ``nodes``."""
    _, position = _row_entries(adj, torch.nonzero(nodes).squeeze(1))
    reached = torch.zeros_like(nodes)
    reached[adj.indices[position]] = True
    return reached


def _neighbours_by_scan(adj: Adjacency, nodes: Tensor) -> Tensor:
    """(N,) bool neighbours of ``nodes`` ((N,) bool), by one pass over the edge list."""
    reached = torch.zeros_like(nodes)
    reached[adj.tails[nodes[adj.heads]]] = True
    reached[adj.heads[nodes[adj.tails]]] = True
    return reached


def bfs_distances(adj: Adjacency, seeds, max_depth: int) -> Tensor:
    """Undirected hop distance from the nearest seed, by level-synchronous BFS over the CSR.

    One vectorised frontier expansion per level (a Python loop over at most ``max_depth``
    levels, none over nodes): the frontier's CSR rows while it is small, else one pass over the
    edge list (switching by frontier size as direction-optimising BFS does, Beamer et al.,
    SC 2012).

    Args:
        adj: the adjacency.
        seeds: (S,) int64 entity ids (distance 0); an int is one seed.
        max_depth: stop after this many levels.

    Returns:
        (N,) int64 distances; -1 where the distance exceeds ``max_depth`` or is infinite.

    Raises:
        ValueError: on a negative ``max_depth`` or a seed outside ``[0, N)``.
    """
    max_depth = _check_int(max_depth, "max_depth", "bfs_distances", 0)
    seeds = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1).cpu()
    if seeds.numel() and (int(seeds.min()) < 0 or int(seeds.max()) >= adj.num_entities):
        raise ValueError(f"bfs_distances: seeds must lie in [0, {adj.num_entities}), got "
                         f"range [{int(seeds.min())}, {int(seeds.max())}]")
    dist = torch.full((adj.num_entities,), -1, dtype=torch.int64)
    dist[seeds] = 0
    frontier = dist == 0  # (N,) bool
    for level in range(1, max_depth + 1):
        expand = _neighbours_by_rows if _prefer_rows(adj, frontier) else _neighbours_by_scan
        frontier = expand(adj, frontier) & (dist < 0)  # (N,) bool, first reached at this level
        if not frontier.any():
            break
        dist[frontier] = level
    return dist


def k_hop_nodes(adj: Adjacency, seeds, k: int) -> Tensor:
    """Nodes within k undirected hops of any seed (the seeds included).

    Args:
        adj: the adjacency.
        seeds: (S,) int64 entity ids; an int is one seed.
        k: number of hops, >= 0.

    Returns:
        (N,) bool mask.

    Raises:
        ValueError: as :func:`bfs_distances`.
    """
    return bfs_distances(adj, seeds, k) >= 0


def _within(dist: Tensor, limit: int) -> Tensor:
    """(N,) bool: reached (dist >= 0) and dist <= limit."""
    return (dist >= 0) & (dist <= limit)


def _check_options(k, min_degree, max_path_length, where: str) -> None:
    """Validate the filter options shared by the single and batched entry points."""
    _check_int(k, "k", where, 0)
    if min_degree is not None:
        _check_int(min_degree, "min_degree", where, 0)
    if max_path_length is not None:
        _check_int(max_path_length, "max_path_length", where, 1)


def _select_by_rows(adj: Adjacency, allowed: Tensor, keep: Callable) -> Tensor:
    """Edge ids with both endpoints allowed and ``keep``, via the allowed nodes' CSR rows."""
    owner, position = _row_entries(adj, torch.nonzero(allowed).squeeze(1))
    v = adj.indices[position]  # (M,) every edge among allowed nodes, in both orientations
    mask = allowed[v] & keep(owner, v)
    return torch.unique(adj.edge_ids[position[mask]])  # sorted ascending


def _select_by_scan(adj: Adjacency, allowed: Tensor, keep: Callable) -> Tensor:
    """Edge ids with both endpoints allowed and ``keep``, by one pass over the edge list."""
    u, v = adj.heads, adj.tails
    ids = torch.nonzero(allowed[u] & allowed[v]).squeeze(1)  # (M,) sorted
    return ids[keep(u[ids], v[ids])]


def _select(adj: Adjacency, allowed: Tensor, keep: Callable) -> Tensor:
    """The cheaper of :func:`_select_by_rows` and :func:`_select_by_scan` (same result)."""
    strategy = _select_by_rows if _prefer_rows(adj, allowed) else _select_by_scan
    return strategy(adj, allowed, keep)


def _walk_filter(dist_h: Tensor, dist_t: Tensor, max_len: int | None) -> Callable:
    """``keep(u, v)``: edge (u, v) lies on a head-tail walk of <= max_len edges (any if None).

    The shortest such walk through the edge is h ~> u -> v ~> t or h ~> v -> u ~> t, of length
    dist(h, u) + 1 + dist(v, t) or dist(h, v) + 1 + dist(u, t).
    """
    if max_len is None:
        return lambda u, v: torch.ones(u.shape, dtype=torch.bool)
    far = max_len + 1  # unreached within the BFS depth, i.e. too far for any walk here
    dh = torch.where(dist_h < 0, far, dist_h)
    dt = torch.where(dist_t < 0, far, dist_t)
    return lambda u, v: (dh[u] + 1 + dt[v] <= max_len) | (dh[v] + 1 + dt[u] <= max_len)


def _candidates(adj: Adjacency, head: int, tail: int, k: int, min_degree: int | None,
                max_path_length: int | None) -> Tensor:
    """Candidate edge ids for validated inputs; see :func:`candidate_edges`."""
    depth = k if max_path_length is None else max(k, max_path_length - 1)
    dist_h = bfs_distances(adj, head, depth)  # (N,)
    dist_t = bfs_distances(adj, tail, depth)  # (N,)
    ends = torch.zeros(adj.num_entities, dtype=torch.bool)
    ends[[head, tail]] = True
    allowed = (_within(dist_h, k) & _within(dist_t, k)) | ends  # (N,) the node set I
    if min_degree is not None:
        allowed &= (adj.degree >= min_degree) | ends
    return _select(adj, allowed, _walk_filter(dist_h, dist_t, max_path_length))


def candidate_edges(adj: Adjacency, head: int, tail: int, k: int = 2,
                    min_degree: int | None = None,
                    max_path_length: int | None = None) -> Tensor:
    """Training edges near one test triple: the seed project's intersection filter.

    An edge ``(u, v)`` is kept iff both endpoints lie in ``N_k(head) ∩ N_k(tail)`` (undirected
    hop distance <= k from the head and from the tail) or are the head or tail, and, when set,
    every endpoint other than head and tail has degree >= ``min_degree``, and the edge lies on
    a head-tail walk of length <= ``max_path_length`` (see the module docstring for the exact
    definitions and how they relate to the seed's simple-path filter).

    Args:
        adj: adjacency of the training triples.
        head: test-triple head entity id.
        tail: test-triple tail entity id.
        k: hop radius, >= 0.
        min_degree: drop edges touching a non-test node of smaller degree; None keeps all.
        max_path_length: keep only edges on a head-tail walk of at most this many edges.

    Returns:
        (E,) int64 sorted unique row indices into the training triples.

    Raises:
        ValueError: on an entity id outside ``[0, N)`` or an invalid option.
    """
    where = "candidate_edges"
    _check_options(k, min_degree, max_path_length, where)
    head = _check_entity(adj, head, "head", where)
    tail = _check_entity(adj, tail, "tail", where)
    return _candidates(adj, head, tail, k, min_degree, max_path_length)


def candidate_edges_batch(adj: Adjacency, test_triples, k: int = 2,
                          min_degree: int | None = None, max_path_length: int | None = None,
                          show_progress: bool = False) -> list[Tensor]:
    """:func:`candidate_edges` for every row of ``test_triples``.

    Args:
        adj: adjacency of the training triples.
        test_triples: (T, 3) integer ``(head, relation, tail)``; the relation is ignored.
        k: hop radius, >= 0.
        min_degree: as :func:`candidate_edges`.
        max_path_length: as :func:`candidate_edges`.
        show_progress: show a tqdm bar over test triples.

    Returns:
        T tensors, the i-th (E_i,) int64 sorted training-edge ids for test triple i: the
        per-test-triple candidate sets that TracIn accepts.

    Raises:
        ValueError: on malformed ``test_triples`` (naming the offending row) or options.
    """
    where = "candidate_edges_batch"
    _check_options(k, min_degree, max_path_length, where)
    test_triples = _as_triples(test_triples, where, adj.num_entities)
    ends = test_triples[:, [0, 2]]
    out = []
    for head, tail in progress(ends.tolist(), show_progress, desc="candidate edges"):
        out.append(_candidates(adj, head, tail, k, min_degree, max_path_length))
    logger.debug("candidate_edges_batch: %d test triples, sizes %s", len(out),
                 [int(c.numel()) for c in out[:10]])
    return out
