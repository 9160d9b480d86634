"""The mechanism view of an explanation: through which genes does this drug act on this disease?

Under TracIn a drug-repurposing prediction ``compound TREATS_CtD disease`` is dominated by other
``TREATS_CtD`` edges of the same drug or disease (collaborative filtering, and a relation the
training oversampled counts every visit; ``docs/hetionet.md``). A researcher asks for the
mechanism instead. The view built here from one test triple's TracIn scores over all training
edges (:meth:`kgif.influence.tracin.TracIn.influence`):

* **direct edges set apart**: training edges of the *direct relations* (by default the test
  relation and every relation joining the same kinds, e.g. ``TREATS_CtD`` and
  ``PALLIATES_CpD`` for a compound-disease test edge; :func:`direct_relations`) are listed on
  their own, and the **mechanism proponents** are the other edges of positive influence;
* **head-tail paths** of 2 to 3 edges (:func:`kgif.explanation.paths.enumerate_paths`) that use
  no direct edge, ranked by an aggregate of their edges' TracIn scores
  (:data:`kgif.explanation.paths.PATH_AGGREGATES`: sum, mean, minimum, geometric mean;
  default :data:`DEFAULT_AGGREGATE`, chosen on the DrugMechDB benchmark, ``docs/hetionet.md``);
* each path's **metapath** (:func:`metapath_label`): Hetionet's abbreviation such as ``CbGaD``
  (Compound-binds-Gene-associates-Disease) when every relation label ends in a metaedge
  abbreviation (``BINDS_CbG``), else a Cypher-like ``(Kind)-[relation]->(Kind)`` chain; and a
  **per-metapath summary**: how many paths of each metapath there are and where the best ranks.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgif._io import atomic_write, atomic_write_json
from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation, Influence
from kgif.explanation.paths import (
    DEFAULT_MAX_PATHS,
    HeadTailPaths,
    aggregate_paths,
    edge_score_table,
    enumerate_paths,
    path_text,
)
from kgif.influence.candidates import Adjacency

__all__ = ["DEFAULT_AGGREGATE", "MECHANISM_PATH_COLUMNS", "MechanismPath", "Mechanisms",
           "direct_relations", "explain_mechanisms", "format_mechanisms",
           "mechanism_explanation", "mechanism_paths", "mechanism_view",
           "mechanisms_to_json", "metapath_label", "nondirect_paths", "path_scores",
           "write_mechanisms_csv", "write_mechanisms_json"]

#: Default path aggregate (a key of :data:`kgif.explanation.paths.PATH_AGGREGATES`).
DEFAULT_AGGREGATE = "mean"

#: CSV header of :func:`write_mechanisms_csv` (one row per ranked path).
MECHANISM_PATH_COLUMNS = ("TestHead", "TestRel", "TestTail", "Rank", "Length", "Score",
                          "Aggregate", "Metapath", "Path", "TrainIndices", "EdgeScores",
                          "PathNames")

#: A Hetionet relation label: ``VERB_<source kind><edge abbreviation><target kind>``.
_METAEDGE = re.compile(r"_([A-Z]+)([a-z]+>?)([A-Z]+)$")


def direct_relations(kg: KnowledgeGraph, relation: int,
                     names: Sequence[str | int] | None = None) -> tuple[int, ...]:
    """The relations whose edges are set apart as *direct* evidence for a test relation.

    Args:
        kg: the graph.
        relation: the test relation (base id).
        names: explicit relation labels or ids (the test relation is always added); None: the
            test relation and every relation whose training heads have exactly the test
            relation's head kinds and whose tails have its tail kinds (Hetionet:
            ``TREATS_CtD`` -> ``TREATS_CtD``, ``PALLIATES_CpD``). Without entity kinds, only the
            test relation.

    Returns:
        Sorted base relation ids.

    Raises:
        ValueError: on an unknown relation name (via :meth:`KnowledgeGraph.resolve_relation`).
    """
    if names is not None:
        return tuple(sorted({relation, *(kg.resolve_relation(x) for x in names)}))
    domain, range_ = kg.relation_domain(relation), kg.relation_range(relation)
    if not domain and not range_:
        return (relation,)
    same = {r for r in range(kg.num_relations)
            if kg.relation_domain(r) == domain and kg.relation_range(r) == range_}
    return tuple(sorted(same | {relation}))


def _step_label(kg: KnowledgeGraph, triple: tuple[int, int, int], forward: bool,
                first: bool) -> str | None:
    """One step's metapath text (Hetionet abbreviation) or None if the label has none."""
    h, r, t = triple
    match = _METAEDGE.search(kg.relation_label(r))
    if match is None:
        return None
    source, edge, target = match.groups()
    if forward:
        return (source if first else "") + edge + target
    back = "<" + edge[:-1] if edge.endswith(">") else edge  # Gr>G walked backwards: G<rG
    return (target if first else "") + back + source


def _generic_step(kg: KnowledgeGraph, triple: tuple[int, int, int], forward: bool,
                  first: bool) -> str:
    h, r, t = triple
    start, end = (h, t) if forward else (t, h)
    head = f"({kg.entity_kind(start)})" if first else ""
    rel = kg.relation_label(r)
    arrow = f"-[{rel}]->" if forward else f"<-[{rel}]-"
    return head + arrow + f"({kg.entity_kind(end)})"


def metapath_label(kg: KnowledgeGraph, train: Tensor, nodes: Sequence[int],
                   edges: Sequence[int]) -> str:
    """The metapath of a path walked from ``nodes[0]``.

    Hetionet's own abbreviation (Himmelstein et al., eLife 2017; hetnetpy's metapath
    abbreviations) when every relation label ends in a metaedge abbreviation ``XeY`` (kind,
    edge, kind, e.g. ``BINDS_CbG``): a step along the edge appends ``eY``, a step against it
    ``eX`` (a directed edge ``r>`` becomes ``<r``), so Compound -BINDS_CbG-> Gene
    <-ASSOCIATES_DaG- Disease is ``CbGaD``. Otherwise a Cypher-like chain of kinds and relation
    labels, ``(Compound)-[binds]->(Gene)<-[associates]-(Disease)``.

    Args:
        kg: the graph (relation labels, entity kinds).
        train: (n, 3) training triples the ``edges`` index.
        nodes: the path's entity ids, ``len(edges) + 1`` of them.
        edges: the path's training rows in order.
    """
    steps = []
    for i, row in enumerate(edges):
        h, r, t = (int(x) for x in train[row].tolist())
        steps.append(((h, r, t), h == nodes[i] and t == nodes[i + 1]))
    parts = [_step_label(kg, tr, fwd, i == 0) for i, (tr, fwd) in enumerate(steps)]
    labels = [p for p in parts if p is not None]
    if len(labels) == len(parts):
        return "".join(labels)
    return "".join(_generic_step(kg, tr, fwd, i == 0) for i, (tr, fwd) in enumerate(steps))


def nondirect_paths(triple: Sequence[int], adj: Adjacency, train: Tensor, direct: Sequence[int],
                    *, max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS) -> HeadTailPaths:
    """Head-tail paths of 2..``max_length`` edges none of which has a direct relation.

    Args:
        triple: ``(head, relation, tail)``.
        adj: adjacency of ``train``.
        train: (n, 3) training triples.
        direct: base relation ids set apart (:func:`direct_relations`).
        max_length, max_paths: as :func:`kgif.explanation.paths.enumerate_paths`.

    Returns:
        The kept paths in enumeration order; ``total`` counts the enumerated paths (before the
        cap) less the dropped ones.
    """
    h, _, t = (int(x) for x in triple)
    paths = enumerate_paths(adj, h, t, min_length=2, max_length=max_length, max_paths=max_paths)
    is_direct = torch.isin(train[:, 1], torch.as_tensor(list(direct), dtype=torch.long))
    keep = ~(is_direct[paths.edges.clamp(min=0)] & (paths.edges >= 0)).any(1)
    return HeadTailPaths(paths.nodes[keep], paths.edges[keep], paths.lengths[keep],
                         paths.total - int((~keep).sum()))


def path_scores(paths: HeadTailPaths, scores: Tensor, aggregate: str = DEFAULT_AGGREGATE
                ) -> Tensor:
    """(P,) float64 path scores: ``aggregate`` (:data:`kgif.explanation.paths.PATH_AGGREGATES`)
    of the TracIn scores (``scores``: (n,), one per training edge) of each path's edges.

    Raises:
        ValueError: on an unknown aggregate.
    """
    ids = torch.unique(paths.edges[paths.edges >= 0])
    table = edge_score_table(paths, ids, scores.detach().double().cpu()[ids])
    return aggregate_paths(table, aggregate)


def mechanism_paths(scores: Tensor, triple: Sequence[int], adj: Adjacency, train: Tensor,
                    direct: Sequence[int], *, aggregate: str = DEFAULT_AGGREGATE,
                    max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS
                    ) -> tuple[HeadTailPaths, Tensor]:
    """:func:`nondirect_paths` and their :func:`path_scores`.

    Args:
        scores: (n,) TracIn scores of every training edge for this test triple.
        triple, adj, train, direct, max_length, max_paths: as :func:`nondirect_paths`.
        aggregate: a key of :data:`kgif.explanation.paths.PATH_AGGREGATES`.

    Returns:
        ``(paths, path_scores)``: the kept paths in enumeration order and (P,) float64 scores.

    Raises:
        ValueError: on ``scores`` of the wrong length or as
            :func:`kgif.explanation.paths.enumerate_paths` / ``aggregate_paths``.
    """
    if scores.shape != (len(train),):
        raise ValueError(f"mechanism_paths: scores has shape {tuple(scores.shape)}, expected "
                         f"({len(train)},), one per training edge")
    paths = nondirect_paths(triple, adj, train, direct, max_length=max_length,
                            max_paths=max_paths)
    return paths, path_scores(paths, scores, aggregate)


@dataclass(frozen=True)
class MechanismPath:
    """One ranked mechanism path: entity ids, training rows, edge scores, score, metapath."""

    rank: int
    nodes: tuple[int, ...]
    edges: tuple[int, ...]
    edge_scores: tuple[float, ...]
    score: float
    metapath: str


@dataclass
class Mechanisms:
    """The mechanism view of one test triple (see the module docstring).

    Attributes:
        triple: ``(head, relation, tail)`` ids.
        aggregate: the path aggregate used.
        direct_relations: base relation ids set apart.
        direct: the direct edges of positive influence, descending (at most k).
        proponents: the other edges of positive influence, descending (at most k).
        paths: the best paths, by descending score (ties: enumeration order).
        total_paths: paths kept before taking the best (after dropping those with a direct
            edge); ``truncated`` when the enumeration cap cut some.
        metapaths: per metapath ``{"metapath", "paths", "best_rank", "best_score",
            "in_top"}`` (in_top: among the reported ``paths``), by best rank.
    """

    triple: tuple[int, int, int]
    aggregate: str
    direct_relations: tuple[int, ...]
    direct: list[Influence] = field(default_factory=list)
    proponents: list[Influence] = field(default_factory=list)
    paths: list[MechanismPath] = field(default_factory=list)
    total_paths: int = 0
    truncated: bool = False
    metapaths: list[dict] = field(default_factory=list)


def _top_positive(scores: Tensor, rows: Tensor, train: Tensor, k: int) -> list[Influence]:
    """The k highest-scoring positive rows among ``rows`` (ties: smaller row first)."""
    values = scores[rows]
    rows, values = rows[values > 0], values[values > 0]
    order = torch.sort(values, descending=True, stable=True).indices[:k]  # rows ascending
    return [Influence(int(rows[i]), tuple(train[rows[i]].tolist()), float(values[i]), None,
                      "proponent", rank) for rank, i in enumerate(order.tolist(), 1)]


def _summary(labels: list[str], order: Tensor, path_scores: Tensor, top: int) -> list[dict]:
    stats: dict[str, dict] = {}
    for rank, p in enumerate(order.tolist(), 1):
        entry = stats.setdefault(labels[p], {"metapath": labels[p], "paths": 0,
                                             "best_rank": rank,
                                             "best_score": float(path_scores[p]), "in_top": 0})
        entry["paths"] += 1
        entry["in_top"] += rank <= top
    return sorted(stats.values(), key=lambda x: x["best_rank"])


def mechanism_view(scores: Tensor, triple: Sequence[int], kg: KnowledgeGraph,
                   adj: Adjacency | None = None, *, train: Tensor | None = None,
                   direct: Sequence[str | int] | None = None,
                   aggregate: str = DEFAULT_AGGREGATE, k: int = 10, top_paths: int = 10,
                   max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS) -> Mechanisms:
    """The mechanism view of one test triple from its TracIn scores over all training edges.

    Args:
        scores: (n,) TracIn scores (e.g. a row of :meth:`TracIn.influence`).
        triple: ``(head, relation, tail)`` ids.
        kg: the graph (names, kinds, relation labels).
        adj: adjacency of ``train`` (built when None; build it once for many triples).
        train: (n, 3) training triples; default ``kg.training``.
        direct: direct relation labels/ids (:func:`direct_relations`; None: by kinds).
        aggregate: path aggregate, a key of :data:`kgif.explanation.paths.PATH_AGGREGATES`.
        k: direct edges and mechanism proponents to report, each.
        top_paths: paths to report.
        max_length, max_paths: as :func:`kgif.explanation.paths.enumerate_paths`.

    Returns:
        The :class:`Mechanisms`.

    Raises:
        ValueError: as :func:`mechanism_paths` and :func:`direct_relations`.
    """
    train = kg.training if train is None else train
    adj = Adjacency.from_triples(train, kg.num_entities) if adj is None else adj
    h, r, t = (int(x) for x in triple)
    relations = direct_relations(kg, r, direct)
    scores = scores.detach().double().cpu()
    paths, scored = mechanism_paths(scores, (h, r, t), adj, train, relations,
                                    aggregate=aggregate, max_length=max_length,
                                    max_paths=max_paths)
    is_direct = torch.isin(train[:, 1], torch.tensor(relations, dtype=torch.long))
    order = torch.sort(scored, descending=True, stable=True).indices
    labels = [metapath_label(kg, train, paths.nodes[p, :n + 1].tolist(),
                             paths.edges[p, :n].tolist())
              for p, n in enumerate(paths.lengths.tolist())]
    ranked = []
    for rank, p in enumerate(order[:top_paths].tolist(), 1):
        n = int(paths.lengths[p])
        edges = tuple(paths.edges[p, :n].tolist())
        ranked.append(MechanismPath(rank, tuple(paths.nodes[p, :n + 1].tolist()), edges,
                                    tuple(float(scores[e]) for e in edges),
                                    float(scored[p]), labels[p]))
    rows = torch.arange(len(train))
    return Mechanisms((h, r, t), aggregate, relations,
                      _top_positive(scores, rows[is_direct], train, k),
                      _top_positive(scores, rows[~is_direct], train, k), ranked,
                      len(order), paths.truncated,
                      _summary(labels, order, scored, top_paths))


# --------------------------------------------------------------------------- output


def _edge(kg: KnowledgeGraph, inf: Influence) -> dict:
    a, q, b = inf.triple
    return {"train_index": inf.train_index, "rank": inf.rank, "influence": inf.influence,
            "head_label": kg.entity_label(a), "relation_label": kg.relation_label(q),
            "tail_label": kg.entity_label(b), "head_name": kg.entity_name(a),
            "tail_name": kg.entity_name(b)}


def mechanisms_to_json(views: Sequence[Mechanisms], kg: KnowledgeGraph, train: Tensor | None = None,
                       metadata: dict | None = None) -> dict:
    """JSON-ready ``{"metadata", "results": [one object per test triple]}`` with labels and
    names: ``direct_relations``, ``direct`` and ``proponents`` (edges), ``paths`` (rank, score,
    metapath, text, nodes, edges with their influence) and ``metapaths``."""
    train = kg.training if train is None else train
    results = []
    for view in views:
        h, r, t = view.triple
        results.append({
            "test_head_label": kg.entity_label(h), "test_relation_label": kg.relation_label(r),
            "test_tail_label": kg.entity_label(t), "test_head_name": kg.entity_name(h),
            "test_tail_name": kg.entity_name(t), "aggregate": view.aggregate,
            "direct_relations": [kg.relation_label(x) for x in view.direct_relations],
            "direct": [_edge(kg, x) for x in view.direct],
            "proponents": [_edge(kg, x) for x in view.proponents],
            "total_paths": view.total_paths, "truncated": view.truncated,
            "paths": [{"rank": p.rank, "score": p.score, "metapath": p.metapath,
                       "length": len(p.edges), "text": path_text(p, kg, train, names=False),
                       "text_names": path_text(p, kg, train, names=True),
                       "nodes": [kg.entity_label(n) for n in p.nodes],
                       "node_names": [kg.entity_name(n) for n in p.nodes],
                       "edges": [{"train_index": e, "influence": s,
                                  "relation_label": kg.relation_label(int(train[e, 1]))}
                                 for e, s in zip(p.edges, p.edge_scores, strict=True)]}
                      for p in view.paths],
            "metapaths": [dict(x) for x in view.metapaths]})
    return {"metadata": dict(metadata or {}), "results": results}


def write_mechanisms_json(path: str | os.PathLike, views: Sequence[Mechanisms],
                          kg: KnowledgeGraph, train: Tensor | None = None,
                          metadata: dict | None = None) -> None:
    """Write :func:`mechanisms_to_json` atomically."""
    atomic_write_json(path, mechanisms_to_json(views, kg, train, metadata))


def write_mechanisms_csv(path: str | os.PathLike, views: Sequence[Mechanisms],
                         kg: KnowledgeGraph, train: Tensor | None = None) -> None:
    """One row per ranked path with :data:`MECHANISM_PATH_COLUMNS`; atomic."""
    train = kg.training if train is None else train

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(MECHANISM_PATH_COLUMNS)
            for view in views:
                h, r, t = view.triple
                test = [kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)]
                writer.writerows(
                    [*test, p.rank, len(p.edges), repr(p.score), view.aggregate, p.metapath,
                            path_text(p, kg, train, names=False), ";".join(map(str, p.edges)),
                            ";".join(map(repr, p.edge_scores)),
                            path_text(p, kg, train, names=True)] for p in view.paths)

    atomic_write(path, write)


def _edge_line(kg: KnowledgeGraph, inf: Influence) -> str:
    a, q, b = inf.triple
    return (f"    {inf.rank:>3}. {inf.influence:+.4e}  {kg.entity_name(a)} "
            f"--{kg.relation_name(q)}--> {kg.entity_name(b)}")


def format_mechanisms(view: Mechanisms, kg: KnowledgeGraph,
                      train: Tensor | None = None) -> str:
    """A text block: direct edges (set apart), mechanism proponents, paths with metapaths and
    scores, and the per-metapath summary (every metapath of the view).

    Lines are never cut: every entity name is printed whole, however long the line.
    """
    train = kg.training if train is None else train
    h, r, t = view.triple
    rels = ", ".join(kg.relation_label(x) for x in view.direct_relations)
    lines = [f"mechanisms of {kg.entity_name(h)} --{kg.relation_name(r)}--> "
             f"{kg.entity_name(t)} (direct relations set apart: {rels})"]
    for title, items in (("direct edges (set apart)", view.direct),
                         ("mechanism proponents", view.proponents)):
        lines.append(f"  {title}:" if items else f"  {title}: none of positive influence")
        lines += [_edge_line(kg, x) for x in items]
    cut = ", enumeration capped" if view.truncated else ""
    lines.append(f"  paths (by {view.aggregate} of edge influences; best {len(view.paths)} of "
                 f"{view.total_paths}{cut}):")
    lines += [f"    {p.rank:>3}. {p.score:+.4e}  {p.metapath:<8} {path_text(p, kg, train)}"
              for p in view.paths]
    if view.metapaths:
        summary = ", ".join(f"{m['metapath']} {m['paths']} (best #{m['best_rank']})"
                            for m in view.metapaths)
        lines.append(f"  metapaths: {summary}")
    return "\n".join(lines)


def explain_mechanisms(tracin, test_triples: Tensor, kg: KnowledgeGraph, *,
                       direct: Sequence[str | int] | None = None,
                       aggregate: str = DEFAULT_AGGREGATE, k: int = 10, top_paths: int = 10,
                       max_length: int = 3, max_paths: int = DEFAULT_MAX_PATHS,
                       chunk_size: int = 16) -> list[Mechanisms]:
    """The :func:`mechanism_view` of each test triple, TracIn scores of every training edge.

    Args:
        tracin: a :class:`kgif.influence.tracin.TracIn` over ``kg.training``.
        test_triples: (T, 3) int64 test triples.
        kg: the graph.
        direct, aggregate, k, top_paths, max_length, max_paths: as :func:`mechanism_view`.
        chunk_size: test triples scored per pass over the training edges (memory:
            ``chunk_size x n`` scores).

    Returns:
        One :class:`Mechanisms` per test triple, in input order.
    """
    test_triples = torch.as_tensor(test_triples, dtype=torch.long).reshape(-1, 3)
    train = tracin.training_edges()
    adj = Adjacency.from_triples(train, kg.num_entities)
    views = []
    for start in range(0, len(test_triples), chunk_size):
        chunk = test_triples[start:start + chunk_size]
        scores = tracin.influence(chunk, train)
        views += [mechanism_view(scores[j], chunk[j].tolist(), kg, adj, train=train,
                                 direct=direct, aggregate=aggregate, k=k, top_paths=top_paths,
                                 max_length=max_length, max_paths=max_paths)
                  for j in range(len(chunk))]
    return views


def mechanism_explanation(view: Mechanisms):
    """The view as a :class:`kgif.explanation.explanation.Explanation` (mechanism proponents,
    no opponents) for :func:`kgif.explanation.plot.plot_explanation`, with ``view.paths`` as its
    paths."""
    return Explanation(view.triple, None, list(view.proponents), [])
