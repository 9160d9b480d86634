"""Ground-truth explanation metrics: do a domain source's supporting edges rank high?

Given, per test triple, a set of training edges a domain source says explain it, these
functions rank *all* training edges by an attribution score and report where the supporting
edges land: reciprocal rank of the first one (MRR over test triples), average precision (MAP),
Hits@k (a supporting edge in the top k) and Recall@k (the fraction of them in the top k),
against random rankings and the k-hop candidate filter of :mod:`kgif.influence.candidates`.

For Hetionet, :func:`metapath_edges` is the generator a user would write: for a held-out
``compound TREATS_CtD disease`` the supporting edges are the training edges on the metapaths
Himmelstein et al. found most predictive of treatment (Compound-binds-Gene-associates-Disease,
Compound-resembles-Compound-treats-Disease, Compound-treats-Disease-resembles-Disease;
"Systematic integration of biomedical knowledge prioritizes drugs for repurposing", eLife
2017, figure 4).

Ranking convention: descending score, ties broken by the smaller training row (the rule of
:mod:`kgif.influence.topk`), so a ranking is a strict order and every metric is deterministic.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from kgif._io import atomic_write
from kgif.data.graph import KnowledgeGraph

__all__ = ["HETIONET_METAPATHS", "KS", "candidate_first_ranks", "explanation_metrics",
           "ground_truth_report",
           "metapath_edges", "random_metrics", "ranks_of", "read_ground_truth",
           "write_ground_truth"]

#: Metapaths of length 2 by abbreviation: (relation from the head, relation into the tail);
#: each step matches its relation in either direction.
HETIONET_METAPATHS: dict[str, tuple[str, str]] = {
    "CbGaD": ("BINDS_CbG", "ASSOCIATES_DaG"),
    "CrCtD": ("RESEMBLES_CrC", "TREATS_CtD"),
    "CtDrD": ("TREATS_CtD", "RESEMBLES_DrD"),
}

#: Cut-offs of Hits@k and Recall@k.
KS = (10, 100, 1000)

COLUMNS = ("test_head", "test_relation", "test_tail", "edge_head", "edge_relation", "edge_tail")


# --------------------------------------------------------------------------- generator


def _relation_id(kg: KnowledgeGraph, name: str) -> int:
    if name not in kg.relation_to_id:
        raise ValueError(f"metapath_edges: relation {name!r} is not in the graph; relations: "
                         f"{sorted(kg.relation_to_id)}")
    return kg.relation_to_id[name]


def _step(train: Tensor, rows: Tensor, node: int) -> tuple[Tensor, Tensor]:
    """Rows among ``rows`` touching ``node`` and their other endpoints."""
    sub = train[rows]
    at_head, at_tail = sub[:, 0] == node, sub[:, 2] == node
    keep = at_head | at_tail
    other = torch.where(at_head, sub[:, 2], sub[:, 0])
    return rows[keep], other[keep]


def metapath_edges(kg: KnowledgeGraph, test_triples: Tensor,
                   metapaths: Mapping[str, tuple[str, str]] = HETIONET_METAPATHS
                   ) -> list[Tensor]:
    """Training edges on the length-2 metapaths from each test triple's head to its tail.

    For a test triple (c, r, d) and a metapath (R1, R2), an edge is supporting iff it lies on
    a path c -R1- x -R2- d of training edges with x not in {c, d}, each step matching its
    relation in either direction (node kinds follow from the relations).

    Args:
        kg: the graph; its training split holds the candidate edges.
        test_triples: (T, 3) int64 test triples.
        metapaths: name -> (first relation, second relation), relation names of ``kg``
            (default :data:`HETIONET_METAPATHS`).

    Returns:
        T tensors (m_j,) int64 of sorted unique rows of ``kg.training``.

    Raises:
        ValueError: on a relation name not in ``kg`` or a metapath not of length 2.
    """
    train = kg.training
    by_relation: dict[int, Tensor] = {}
    steps = []
    for name, path in metapaths.items():
        if len(path) != 2:
            raise ValueError(f"metapath_edges: metapath {name!r} = {path} must have 2 relations")
        ids = tuple(_relation_id(kg, rel) for rel in path)
        for rid in ids:
            by_relation.setdefault(rid, torch.nonzero(train[:, 1] == rid)[:, 0])
        steps.append(ids)
    out = []
    for h, _, t in torch.as_tensor(test_triples, dtype=torch.long).reshape(-1, 3).tolist():
        found = []
        for r1, r2 in steps:
            rows_a, x_a = _step(train, by_relation[r1], h)
            rows_b, x_b = _step(train, by_relation[r2], t)
            middle = x_a[torch.isin(x_a, x_b)]
            middle = middle[(middle != h) & (middle != t)]
            found += [rows_a[torch.isin(x_a, middle)], rows_b[torch.isin(x_b, middle)]]
        out.append(torch.unique(torch.cat(found)) if found else torch.zeros(0, dtype=torch.long))
    return out


# --------------------------------------------------------------------------- files


def write_ground_truth(path: str | os.PathLike, kg: KnowledgeGraph, test_triples: Tensor,
                       edges: Sequence[Tensor]) -> None:
    """Write a ground-truth TSV atomically (:func:`kgif._io.atomic_write`): a header, then one
    line (test triple, supporting edge) of labels per supporting edge."""
    ent = {i: e for e, i in kg.entity_to_id.items()}
    rel = {i: r for r, i in kg.relation_to_id.items()}

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, delimiter="\t", lineterminator="\n")
            writer.writerow(COLUMNS)
            for (h, r, t), rows in zip(torch.as_tensor(test_triples).tolist(), edges,
                                       strict=True):
                for eh, er, et in kg.training[rows].tolist():
                    writer.writerow([ent[h], rel[r], ent[t], ent[eh], rel[er], ent[et]])

    atomic_write(path, write)


def read_ground_truth(path: str | os.PathLike, kg: KnowledgeGraph
                      ) -> tuple[Tensor, list[Tensor]]:
    """Read a ground-truth TSV (see :func:`write_ground_truth`; the header is optional).

    Returns:
        ``(test_triples (T, 3) int64 in order of first appearance, T tensors of sorted unique
        rows of kg.training)``.

    Raises:
        ValueError: on a line without 6 columns, an unknown label, or a supporting edge that
            is not a training edge; the message names the file and line.
    """
    ent, rel = kg.entity_to_id, kg.relation_to_id
    n_ent, n_rel = kg.num_entities, kg.num_relations
    code = (kg.training[:, 0] * n_rel + kg.training[:, 1]) * n_ent + kg.training[:, 2]
    first_row = {int(c): i for i, c in reversed(list(enumerate(code.tolist())))}
    tests: dict[tuple[int, int, int], list[int]] = {}
    with Path(path).open(newline="") as f:
        for number, fields in enumerate(csv.reader(f, delimiter="\t"), start=1):
            if number == 1 and tuple(fields) == COLUMNS:
                continue
            if len(fields) != 6:
                raise ValueError(f"read_ground_truth: line {number} of {path} has {len(fields)} "
                                 "columns, expected 6")
            try:
                ids = [ent[fields[0]], rel[fields[1]], ent[fields[2]], ent[fields[3]],
                       rel[fields[4]], ent[fields[5]]]
            except KeyError as error:
                raise ValueError(f"read_ground_truth: line {number} of {path}: unknown label "
                                 f"{error.args[0]!r}") from None
            row = first_row.get((ids[3] * n_rel + ids[4]) * n_ent + ids[5])
            if row is None:
                raise ValueError(f"read_ground_truth: line {number} of {path}: edge "
                                 f"{fields[3:]} is not a training edge")
            tests.setdefault((ids[0], ids[1], ids[2]), []).append(row)
    triples = torch.tensor(list(tests), dtype=torch.long).reshape(-1, 3)
    return triples, [torch.unique(torch.tensor(rows, dtype=torch.long)) for rows in tests.values()]


# --------------------------------------------------------------------------- metrics


def ranks_of(scores: Tensor, relevant: Tensor) -> Tensor:
    """1-based ranks of the ``relevant`` rows in the descending order of ``scores`` (ties: the
    smaller row first).

    Args:
        scores: (n,) finite scores of all training edges.
        relevant: (m,) int64 rows.

    Returns:
        (m,) int64 ranks, sorted ascending.

    Raises:
        ValueError: on non-finite scores.
    """
    if not bool(torch.isfinite(scores).all()):
        raise ValueError("ranks_of: non-finite scores; refusing to rank them")
    order = torch.sort(scores, descending=True, stable=True).indices
    position = torch.empty_like(order)
    position[order] = torch.arange(1, len(order) + 1)
    return position[torch.as_tensor(relevant, dtype=torch.long)].sort().values


def candidate_first_ranks(scores: Tensor, relevant: Tensor, candidates: Tensor) -> Tensor:
    """Ranks as :func:`ranks_of` when the ``candidates`` rows (e.g. a k-hop filter's) come
    first, each block in descending score."""
    first = torch.zeros(len(scores), dtype=torch.bool)
    first[torch.as_tensor(candidates, dtype=torch.long)] = True
    span = (scores.max() - scores.min()).double() + 1.0
    shifted = scores.double() + first.double() * (span + scores.abs().max().double())
    return ranks_of(shifted, relevant)


def explanation_metrics(ranks: Tensor, ks: Sequence[int] = KS) -> dict[str, float]:
    """RR, AP, Hits@k and Recall@k of one test triple from its supporting edges' ranks.

    RR = 1 / rank of the first supporting edge; AP = (1/m) sum_i i / rank_i over the sorted
    ranks (Manning et al., "Introduction to Information Retrieval", 2008, section 8.4);
    Hits@k = 1 if some rank <= k; Recall@k = fraction of ranks <= k.

    Raises:
        ValueError: on no ranks (a test triple without supporting edges has no metrics).
    """
    ranks = torch.as_tensor(ranks, dtype=torch.float64).sort().values
    if len(ranks) == 0:
        raise ValueError("explanation_metrics: no supporting edges")
    i = torch.arange(1, len(ranks) + 1, dtype=torch.float64)
    out = {"rr": float(1 / ranks[0]), "ap": float((i / ranks).mean())}
    for k in ks:
        out[f"hits@{k}"] = float((ranks[0] <= k).double())
        out[f"recall@{k}"] = float((ranks <= k).double().mean())
    return out


def random_metrics(n: int, m: int, draws: int = 100, seed: int = 0, ks: Sequence[int] = KS,
                   first: int = 0, m_first: int = 0) -> dict[str, float]:
    """Mean :func:`explanation_metrics` of ``m`` supporting edges under ``draws`` uniformly
    random rankings of ``n`` edges.

    With ``first = c > 0`` the ranking is the k-hop filter's: the c candidate edges in random
    order first, then the others in random order; ``m_first`` of the m supporting edges are
    candidates.
    """
    rng = np.random.default_rng(seed)
    total: dict[str, float] = {}
    for _ in range(draws):
        inside = (rng.choice(first, size=m_first, replace=False) + 1 if m_first
                  else np.empty(0, dtype=np.int64))
        outside = rng.choice(n - first, size=m - m_first, replace=False) + first + 1
        ranks = torch.as_tensor(np.concatenate([np.asarray(inside, dtype=np.int64), outside]))
        for key, value in explanation_metrics(ranks, ks).items():
            total[key] = total.get(key, 0.0) + value
    return {key: value / draws for key, value in total.items()}


# --------------------------------------------------------------------------- report


def ground_truth_report(scores: Tensor, edges: Sequence[Tensor],
                        candidates: Sequence[Tensor] | None = None, *, draws: int = 100,
                        seed: int = 0, ks: Sequence[int] = KS, n_boot: int = 2000) -> dict:
    """Ground-truth metrics of an attribution's rankings against the baselines.

    Methods: ``tracin`` (``scores`` over all training edges), ``random`` (uniform random
    rankings, mean of ``draws``) and, when ``candidates`` are given, ``khop`` (the candidate
    filter's ranking: candidates first in random order, mean of ``draws``) and
    ``tracin_khop`` (candidates first, each block by ``scores``). Test triples without
    supporting edges are skipped (counted in ``skipped``).

    Args:
        scores: (T, n) attribution scores of all training edges per test triple.
        edges: T tensors of supporting rows (:func:`metapath_edges`, :func:`read_ground_truth`).
        candidates: optional T tensors of candidate rows (:mod:`kgif.influence.candidates`).

    Returns:
        ``{"per_triple": [{"index", "supporting", "candidates", method: metrics}],
        "overall": {method: {metric: {"mean", "low", "high"}}}, "versus": {baseline:
        {metric: {"diff", "low", "high", "p"}}} (tracin minus baseline, paired over test
        triples: bootstrap interval and sign-flip p-value), "skipped": int}``.

    Raises:
        ValueError: on mismatched lengths or non-finite scores.
    """
    from kgif.studies.faithfulness import bootstrap_ci, sign_flip_test

    if len(edges) != len(scores) or (candidates is not None and len(candidates) != len(scores)):
        raise ValueError(f"ground_truth_report: {len(scores)} score rows, {len(edges)} "
                         "ground-truth sets" + ("" if candidates is None else
                                                f", {len(candidates)} candidate sets"))
    per: list[dict[str, Any]] = []
    skipped = 0
    n = scores.shape[1]
    for j, rows in enumerate(edges):
        rows = torch.as_tensor(rows, dtype=torch.long)
        if len(rows) == 0:
            skipped += 1
            continue
        entry: dict[str, Any] = {
            "index": j, "supporting": len(rows),
            "tracin": explanation_metrics(ranks_of(scores[j], rows), ks),
            "random": random_metrics(n, len(rows), draws, seed + j, ks)}
        if candidates is not None:
            cand = torch.as_tensor(candidates[j], dtype=torch.long)
            inside = int(torch.isin(rows, cand).sum())
            entry |= {"candidates": len(cand), "supporting_in_candidates": inside,
                      "khop": random_metrics(n, len(rows), draws, seed + j, ks, len(cand),
                                             inside),
                      "tracin_khop": explanation_metrics(
                          candidate_first_ranks(scores[j], rows, cand), ks)}
        per.append(entry)
    methods = [m for m in ("tracin", "tracin_khop", "khop", "random") if per and m in per[0]]
    metrics = list(per[0]["tracin"]) if per else []
    overall: dict[str, dict] = {}
    versus: dict[str, dict] = {}
    for m in methods:
        overall[m] = {}
        for key in metrics:
            mean, low, high = bootstrap_ci(torch.tensor([p[m][key] for p in per]), n_boot)
            overall[m][key] = {"mean": mean, "low": low, "high": high}
    for base in (b for b in ("random", "khop") if b in methods):
        versus[base] = {}
        for key in metrics:
            diff = torch.tensor([p["tracin"][key] - p[base][key] for p in per])
            mean, low, high = bootstrap_ci(diff, n_boot)
            versus[base][key] = {"diff": mean, "low": low, "high": high,
                                 "p": sign_flip_test(diff)}
    return {"per_triple": per, "overall": overall, "versus": versus, "skipped": skipped}
