"""DrugMechDB benchmark: do kgif's explanations point at the curated mechanism?

For each held-out ``compound TREATS_CtD disease`` edge with DrugMechDB supporting edges
(:func:`kgif.data.drugmechdb.read_drugmechdb`), every training edge is ranked by a method and
the supporting edges' ranks give the **edge-level** metrics of
:func:`kgif.studies.groundtruth.explanation_metrics` (RR, AP, Hits@k, Recall@k). At the **path
level**, the head-tail paths without direct edges (:func:`kgif.explanation.mechanisms.
nondirect_paths`) are ranked by an aggregate of their edges' TracIn scores, and a path counts
as a DrugMechDB path when all its edges are supporting edges of one DrugMechDB path of the pair:
reported are the reciprocal rank of the first such path (0 if none ranks) and whether one is in
the top 10.

Rankings (:data:`EDGE_RANKINGS`) are *tiered*: each method gives every edge a tier (higher
first) and a score (higher first within a tier); ties go to the smaller training row, the rule
of :mod:`kgif.influence.topk`, so every ranking is a strict order. The random and 1-hop-filter
baselines are expectations over random orders (:func:`kgif.studies.groundtruth.random_metrics`
and the exact expectations of :func:`random_path_metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgif.data.drugmechdb import Mechanism
from kgif.explanation.mechanisms import path_scores
from kgif.explanation.paths import HeadTailPaths
from kgif.studies.groundtruth import explanation_metrics, random_metrics

__all__ = ["EDGE_RANKINGS", "KS", "PATH_TOP", "Pair", "dmdb_path_mask", "edge_report",
           "path_metrics", "random_path_metrics", "summarize", "tier_ranks"]

#: Cut-offs of Hits@k and Recall@k at the edge level.
KS = (10, 100)
#: A DrugMechDB path "in the top" means among this many paths.
PATH_TOP = 10


def tier_ranks(tiers: Tensor, scores: Tensor, relevant: Tensor) -> Tensor:
    """1-based ranks of the ``relevant`` rows when rows are ordered by tier (descending), then
    score (descending), then row (ascending).

    Args:
        tiers: (n,) integer tiers.
        scores: (n,) finite float scores.
        relevant: (m,) int64 rows.

    Returns:
        (m,) int64 ranks, sorted ascending.

    Raises:
        ValueError: on non-finite scores or mismatched lengths.
    """
    if tiers.shape != scores.shape:
        raise ValueError(f"tier_ranks: tiers {tuple(tiers.shape)} and scores "
                         f"{tuple(scores.shape)} differ")
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("tier_ranks: non-finite scores; refusing to rank them")
    relevant = torch.as_tensor(relevant, dtype=torch.long)
    rows = torch.arange(len(scores))
    ti, si = tiers[relevant, None], scores[relevant, None]  # (m, 1)
    before = (tiers[None] > ti) | ((tiers[None] == ti) & (
        (scores[None] > si) | ((scores[None] == si) & (rows[None] < relevant[:, None]))))
    return (before.sum(1) + 1).sort().values


@dataclass
class Pair:
    """Everything one test pair's rankings need.

    Attributes:
        mechanism: its DrugMechDB supporting edges.
        scores: method name -> (n,) attribution scores over all training edges.
        khop: (c,) int64 rows of the 1-hop candidate edges.
        direct: (n,) bool, the edge has a direct relation.
        paths: the head-tail paths without direct edges.
        degree: (N,) entity degrees in the training graph.
        repeats: (n,) visits per epoch of each edge's relation (1 without oversampling).
        train: (n, 3) training triples.
        local: optional (n,) bool, the rows whose attribution scores were computed (the
            pair's local candidates); rankings that use attribution scores put them first and
            the other rows after, in row order.
    """

    mechanism: Mechanism
    scores: dict[str, Tensor]
    khop: Tensor
    direct: Tensor
    paths: HeadTailPaths
    degree: Tensor
    repeats: Tensor
    train: Tensor
    local: Tensor | None = None
    cache: dict = field(default_factory=dict)

    def in_khop(self) -> Tensor:
        if "khop" not in self.cache:
            mask = torch.zeros(len(self.direct), dtype=torch.bool)
            mask[self.khop] = True
            self.cache["khop"] = mask
        return self.cache["khop"]

    def path_counts(self) -> Tensor:
        """(n,) number of kept head-tail paths through each edge."""
        if "counts" not in self.cache:
            edges = self.paths.edges[self.paths.edges >= 0]
            self.cache["counts"] = torch.bincount(edges, minlength=len(self.direct))
        return self.cache["counts"]


def _best_path_score(pair: Pair, scores: Tensor, aggregate: str) -> Tensor:
    """(n,) best aggregate score of a kept path through each edge, -inf on no path."""
    values = path_scores(pair.paths, scores, aggregate)
    best = torch.full((len(pair.direct),), float("-inf"), dtype=torch.float64)
    valid = pair.paths.edges >= 0
    per = values[:, None].expand_as(pair.paths.edges)[valid]
    return best.scatter_reduce_(0, pair.paths.edges[valid], per, "amax")


def _total_path_score(pair: Pair, scores: Tensor, aggregate: str) -> Tensor:
    """(n,) sum over the kept paths through each edge of max(path score, 0): a path count
    weighted by the paths' TracIn support; 0 on no path."""
    values = path_scores(pair.paths, scores, aggregate).clamp(min=0)
    total = torch.zeros(len(pair.direct), dtype=torch.float64)
    valid = pair.paths.edges >= 0
    per = values[:, None].expand_as(pair.paths.edges)[valid]
    return total.index_add_(0, pair.paths.edges[valid], per)


def _plain(name: str) -> Callable[[Pair], tuple[Tensor, Tensor]]:
    def rank(pair: Pair) -> tuple[Tensor, Tensor]:
        scores = pair.scores[name]
        return torch.zeros(len(scores), dtype=torch.long), scores

    return rank


def _per_visit(pair: Pair) -> tuple[Tensor, Tensor]:
    """TracIn divided by the relation's visits per epoch (one visit's influence)."""
    return torch.zeros(len(pair.direct), dtype=torch.long), pair.scores["tracin"] / pair.repeats


def _khop(pair: Pair) -> tuple[Tensor, Tensor]:
    return pair.in_khop().long(), pair.scores["tracin"]


def _direct_apart(pair: Pair) -> tuple[Tensor, Tensor]:
    return (~pair.direct).long(), pair.scores["tracin"]


def _direct_apart_khop(pair: Pair) -> tuple[Tensor, Tensor]:
    return (pair.in_khop() & ~pair.direct).long(), pair.scores["tracin"]


def _mechanism(aggregate: str, source: str = "tracin", edge_score: str = "best"
               ) -> Callable[[Pair], tuple[Tensor, Tensor]]:
    """Edges on kept paths first (by their best path's score, or with ``edge_score="total"``
    by the summed positive scores of their paths), then 1-hop non-direct edges, then other
    non-direct edges (by TracIn), direct edges last."""

    def rank(pair: Pair) -> tuple[Tensor, Tensor]:
        scores = pair.scores[source].double()
        best = _best_path_score(pair, scores, aggregate)
        on_path = torch.isfinite(best)
        if edge_score == "total":
            best = _total_path_score(pair, scores, aggregate)
        tiers = 1 + (~pair.direct).long() + (pair.in_khop() & ~pair.direct).long()
        tiers = torch.where(on_path, 3, tiers)
        tiers = torch.where(pair.direct, 0, tiers)
        return tiers, torch.where(on_path, best, scores)

    return rank


def _degree(pair: Pair) -> tuple[Tensor, Tensor]:
    """1-hop candidates first, by the degree of their endpoints (popular nodes first)."""
    deg = pair.degree.double()
    score = deg[pair.train[:, 0]] + deg[pair.train[:, 2]]
    return pair.in_khop().long(), score


def _path_count(pair: Pair) -> tuple[Tensor, Tensor]:
    """Edges on head-tail paths (without direct edges) first, by how many paths use them."""
    counts = pair.path_counts()
    tiers = (counts > 0).long() * 2 + pair.in_khop().long()
    return tiers, counts.double()


def _lexicographic(primary: Tensor, secondary: Tensor) -> Tensor:
    """(n,) float64 scores ordering by ``primary`` (integer counts), then by ``secondary``:
    the secondary's rank among all edges, scaled into [0, 1), is added to the count."""
    order = secondary.double().argsort(stable=True)
    fraction = torch.empty(len(order), dtype=torch.float64)
    fraction[order] = torch.arange(len(order), dtype=torch.float64) / len(order)
    return primary.double() + fraction


def _path_count_tracin(pair: Pair) -> tuple[Tensor, Tensor]:
    """Path count, ties broken by TracIn (path count decides, the model's influence orders
    the edges that lie on equally many paths)."""
    tiers, counts = _path_count(pair)
    return tiers, _lexicographic(counts, pair.scores["tracin"])


def _supported_count(pair: Pair) -> tuple[Tensor, Tensor]:
    """Edges on head-tail paths first, by how many of their paths are **all proponents**
    (every edge's TracIn > 0: the paths the model's training supports end to end), then by
    how many paths use them, then by TracIn."""
    tiers, counts = _path_count(pair)
    supported = path_scores(pair.paths, pair.scores["tracin"].double(), "min") > 0  # (P,)
    valid = pair.paths.edges >= 0
    per = supported[:, None].expand_as(pair.paths.edges)[valid].long()
    n_supported = torch.zeros(len(pair.direct), dtype=torch.long).index_add_(
        0, pair.paths.edges[valid], per)
    tie = _lexicographic(counts, pair.scores["tracin"]) / (counts.max().double() + 2)
    return tiers, n_supported.double() + tie


def order_positions(tiers: Tensor, scores: Tensor) -> Tensor:
    """(n,) int64 0-based position of every row in the order of :func:`tier_ranks` (tier
    descending, then score descending, then row ascending)."""
    order = torch.arange(len(scores))
    order = order[scores[order].argsort(descending=True, stable=True)]
    order = order[tiers[order].argsort(descending=True, stable=True)]
    positions = torch.empty_like(order)
    positions[order] = torch.arange(len(order))
    return positions


#: The constant of reciprocal rank fusion (Cormack, Clarke and Buettcher, SIGIR 2009).
RRF_K = 60


def _fusion(first: str, second: str) -> Callable[[Pair], tuple[Tensor, Tensor]]:
    """Reciprocal rank fusion of two rankings: sum over both of 1 / (60 + position)."""

    def rank(pair: Pair) -> tuple[Tensor, Tensor]:
        fused = torch.zeros(len(pair.direct), dtype=torch.float64)
        for name in (first, second):
            tiers, scores = EDGE_RANKINGS[name](pair)
            fused += 1.0 / (RRF_K + 1 + order_positions(tiers, scores.double()).double())
        return torch.zeros(len(fused), dtype=torch.long), fused

    return rank


#: Method name -> ranking (pair -> (tiers, scores)); a method needs its source scores.
EDGE_RANKINGS: dict[str, Callable[[Pair], tuple[Tensor, Tensor]]] = {
    "tracin": _plain("tracin"),
    "tracin_per_visit": _per_visit,
    "tracin_khop": _khop,
    "tracin_direct_apart": _direct_apart,
    "tracin_direct_apart_khop": _direct_apart_khop,
    **{f"mechanism_{a}": _mechanism(a) for a in ("sum", "mean", "min", "geomean")},
    **{f"mechanism_total_{a}": _mechanism(a, edge_score="total")
       for a in ("sum", "mean", "min", "geomean")},
    "cosine": _plain("cosine"),
    "relatif": _plain("relatif"),
    "embeddings": _plain("embeddings"),
    "mechanism_sum_relatif": _mechanism("sum", "relatif"),
    "mechanism_sum_embeddings": _mechanism("sum", "embeddings"),
    "degree": _degree,
    "path_count": _path_count,
    "path_count_tracin": _path_count_tracin,
    "supported_path_count": _supported_count,
    "fusion_path_count_tracin": _fusion("path_count", "tracin_direct_apart_khop"),
    "similarity": _plain("similarity"),
}

#: Which score a ranking needs (rankings whose source is missing are skipped).
SOURCES = {name: ("similarity" if name == "similarity" else
                  "cosine" if name == "cosine" else
                  "relatif" if "relatif" in name else
                  "embeddings" if "embeddings" in name else
                  None if name in ("degree", "path_count") else "tracin")
           for name in EDGE_RANKINGS}


def dmdb_path_mask(paths: HeadTailPaths, mechanism: Mechanism) -> Tensor:
    """(P,) bool: every edge of the path is a supporting edge of one DrugMechDB path."""
    hit = torch.zeros(len(paths.lengths), dtype=torch.bool)
    valid = paths.edges >= 0
    for rows in mechanism.paths.values():
        inside = torch.isin(paths.edges, rows) | ~valid
        hit |= inside.all(1)
    return hit


def path_metrics(scores: Tensor, good: Tensor, top: int = PATH_TOP) -> dict[str, float]:
    """Path-level RR (1 / rank of the first DrugMechDB path, 0 if none) and top-``top`` hit,
    paths ordered by descending score, ties by enumeration order."""
    if not bool(good.any()):
        return {"path_rr": 0.0, f"path_hits@{top}": 0.0}
    order = torch.sort(scores, descending=True, stable=True).indices
    first = int(torch.nonzero(good[order])[0, 0]) + 1
    return {"path_rr": 1.0 / first, f"path_hits@{top}": float(first <= top)}


def random_path_metrics(n_paths: int, n_good: int, top: int = PATH_TOP) -> dict[str, float]:
    """Exact expectations of :func:`path_metrics` under a uniformly random order of ``n_paths``
    paths of which ``n_good`` are DrugMechDB paths: P(first = i) = C(P - i, m - 1) / C(P, m)."""
    if n_good == 0:
        return {"path_rr": 0.0, f"path_hits@{top}": 0.0}
    p, m = n_paths, n_good
    log_total = math.lgamma(p + 1) - math.lgamma(m + 1) - math.lgamma(p - m + 1)
    rr = hits = 0.0
    for i in range(1, p - m + 2):
        k = p - i
        prob = math.exp(math.lgamma(k + 1) - math.lgamma(m) - math.lgamma(k - m + 2)
                        - log_total)
        rr += prob / i
        hits += prob if i <= top else 0.0
    return {"path_rr": rr, f"path_hits@{top}": hits}


def edge_report(pair: Pair, methods: Sequence[str], draws: int = 100, seed: int = 0
                ) -> dict[str, dict[str, float]]:
    """Edge-level metrics of every method (and the random and 1-hop baselines) for one pair,
    plus the path-level metrics of the ``mechanism_*`` methods and random path order."""
    rows = pair.mechanism.supporting
    n = len(pair.direct)
    out = {"random": random_metrics(n, len(rows), draws, seed, KS),
           "khop_random": random_metrics(n, len(rows), draws, seed, KS, len(pair.khop),
                                         int(torch.isin(rows, pair.khop).sum()))}
    good = dmdb_path_mask(pair.paths, pair.mechanism)
    for name in methods:
        tiers, scores = EDGE_RANKINGS[name](pair)
        if pair.local is not None and SOURCES[name] not in (None, "similarity"):
            tiers = tiers + 10 * pair.local.long()
            scores = torch.where(pair.local, scores.double(), 0.0)
        out[name] = explanation_metrics(tier_ranks(tiers, scores.double(), rows), KS)
        if name.startswith("mechanism_"):
            aggregate, source = (name.replace("total_", "").split("_") + ["tracin"])[1:3]
            values = path_scores(pair.paths, pair.scores[source], aggregate)
            out[name] |= path_metrics(values, good)
    out["random"] |= random_path_metrics(len(pair.paths.lengths), int(good.sum()))
    out["khop_random"] |= random_path_metrics(len(pair.paths.lengths), int(good.sum()))
    return out


def summarize(per_pair: Sequence[dict], reference: str, n_boot: int = 2000) -> dict:
    """Means with bootstrap intervals of every method's metrics, and ``reference`` minus every
    other method paired over pairs (bootstrap interval, sign-flip p;
    :func:`kgif.studies.faithfulness.bootstrap_ci`, :func:`~kgif.studies.faithfulness.
    sign_flip_test`).

    Returns:
        ``{"overall": {method: {metric: {"mean", "low", "high"}}}, "versus": {method:
        {metric: {"diff", "low", "high", "p"}}}}``.
    """
    from kgif.studies.faithfulness import bootstrap_ci, sign_flip_test

    methods = list(per_pair[0])
    overall: dict[str, dict[str, dict[str, float]]] = {}
    versus: dict[str, dict[str, dict[str, float]]] = {}
    for m in methods:
        overall[m] = {}
        for key in per_pair[0][m]:
            mean, low, high = bootstrap_ci(torch.tensor([p[m][key] for p in per_pair]), n_boot)
            overall[m][key] = {"mean": mean, "low": low, "high": high}
    for m in methods:
        if m == reference:
            continue
        versus[m] = {}
        for key in per_pair[0][reference]:
            if key not in per_pair[0][m]:
                continue
            diff = torch.tensor([p[reference][key] - p[m][key] for p in per_pair])
            mean, low, high = bootstrap_ci(diff, n_boot)
            versus[m][key] = {"diff": mean, "low": low, "high": high, "p": sign_flip_test(diff)}
    return {"overall": overall, "versus": versus}
