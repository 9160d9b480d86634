"""Explanations with names: JSON (the seed project's fields), CSV, pandas, and a text table.

An :class:`Explanation` holds one test triple's proponents and opponents (training edges with
their TracIn scores and self-influence). :func:`explain` computes them with a
:class:`~kgif.tracin.TracIn`; the writers attach entity and relation labels (ids such as CURIEs)
and display names from a :class:`~kgif.data.KnowledgeGraph`.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from kgif._io import atomic_write
from kgif.data import KnowledgeGraph
from kgif.tracin import KMostInfluentialResults, TracIn

__all__ = ["CSV_COLUMNS", "Explanation", "Influence", "explain", "format_explanation",
           "to_dataframe", "to_json", "write_csv", "write_json"]

#: CSV header: the seed project's 14 columns, then kgif's.
CSV_COLUMNS = (
    "TestHead", "TestHead_label", "TestRel", "TestRel_label", "TestTail", "TestTail_label",
    "TrainHead", "TrainHead_label", "TrainRel", "TrainRel_label", "TrainTail", "TrainTail_label",
    "TracInScore", "SelfInfluence", "Kind", "Rank", "TrainIndex", "TestSelfInfluence",
)


@dataclass
class Influence:
    """One training edge's influence on a test triple.

    Attributes:
        train_index: row of the training triples.
        triple: (head, relation, tail) ids (base relation id).
        influence: TracInCP score (units: learning rate x squared gradient norm).
        self_influence: the edge's own TracIn self-influence, or None if not computed.
        kind: ``"proponent"`` or ``"opponent"``.
        rank: 1-based rank within its kind.
    """

    train_index: int
    triple: tuple[int, int, int]
    influence: float
    self_influence: float | None
    kind: str
    rank: int


@dataclass
class Explanation:
    """Proponents and opponents of one test triple (ids, base relation ids)."""

    triple: tuple[int, int, int]
    self_influence: float | None
    proponents: list[Influence] = field(default_factory=list)
    opponents: list[Influence] = field(default_factory=list)

    @property
    def influences(self) -> list[Influence]:
        return self.proponents + self.opponents


def _influences(result: KMostInfluentialResults, row: int, train: Tensor, kind: str,
                self_inf: dict[int, float]) -> list[Influence]:
    out = []
    for rank, (i, score) in enumerate(zip(result.indices[row].tolist(),
                                          result.influence_scores[row].tolist(), strict=True), 1):
        if i < 0:  # padding: fewer candidates than k
            break
        out.append(Influence(int(i), tuple(train[i].tolist()), float(score), self_inf.get(i),
                             kind, rank))
    return out


def explain(tracin: TracIn, test_triples: Tensor, k: int = 10, *,
            train_triples: Tensor | None = None, candidates: Sequence[Tensor] | None = None,
            self_influence: bool = True) -> list[Explanation]:
    """Top-k proponents and opponents of each test triple, with self-influences.

    Args:
        tracin: the TracIn object (checkpoints, objectives, parameter subset).
        test_triples: (T, 3) int64 test triples (base relation ids).
        k: proponents and opponents per test triple.
        train_triples: (n, 3) training edges; default ``tracin.train_triples``.
        candidates: optional per-test-triple training-row ids (see :meth:`TracIn.influence`).
        self_influence: also compute the self-influence of the test triples and of every
            reported training edge (cost: one extra gradient per edge).

    Returns:
        One :class:`Explanation` per test triple, in input order.
    """
    test_triples = torch.as_tensor(test_triples, dtype=torch.long)
    train = tracin.training_edges(train_triples)
    pro, opp = tracin.top_influences(test_triples, k, train, candidates)
    self_inf: dict[int, float] = {}
    test_self = [None] * len(test_triples)
    if self_influence:
        rows = torch.unique(torch.cat([pro.indices.flatten(), opp.indices.flatten()]))
        rows = rows[rows >= 0]
        values = tracin.self_influence(train[rows]).tolist() if len(rows) else []
        self_inf = dict(zip(rows.tolist(), values, strict=True))
        test_self = tracin.test_self_influence(test_triples).tolist()
    return [
        Explanation(tuple(test_triples[j].tolist()), test_self[j],
                    _influences(pro, j, train, "proponent", self_inf),
                    _influences(opp, j, train, "opponent", self_inf))
        for j in range(len(test_triples))
    ]


# --------------------------------------------------------------------------- naming


def _named(kg: KnowledgeGraph, prefix: str, triple: tuple[int, int, int]) -> dict:
    h, r, t = triple
    return {
        f"{prefix}_head": h, f"{prefix}_relation": r, f"{prefix}_tail": t,
        f"{prefix}_head_label": kg.entity_label(h),
        f"{prefix}_relation_label": kg.relation_label(r),
        f"{prefix}_tail_label": kg.entity_label(t),
        f"{prefix}_head_name": kg.entity_name(h),
        f"{prefix}_relation_name": kg.relation_name(r),
        f"{prefix}_tail_name": kg.entity_name(t),
    }


def to_json(explanations: Sequence[Explanation], kg: KnowledgeGraph,
            metadata: dict | None = None) -> dict:
    """JSON-ready document: ``{"metadata": ..., "results": [one object per test triple]}``.

    Each result has the seed project's fields: ``test_head``, ``test_relation``,
    ``test_tail`` (ids), ``*_label`` (labels such as CURIEs), ``*_name`` (display names),
    ``self_influence`` and ``influences`` (a list of ``train_*`` fields, ``influence``,
    ``self_influence``, ``kind``, ``rank``, ``train_index``).
    """
    results = []
    for ex in explanations:
        item = _named(kg, "test", ex.triple)
        item["self_influence"] = ex.self_influence
        item["influences"] = [
            {**_named(kg, "train", inf.triple), "influence": inf.influence,
             "self_influence": inf.self_influence, "kind": inf.kind, "rank": inf.rank,
             "train_index": inf.train_index}
            for inf in ex.influences
        ]
        results.append(item)
    return {"metadata": dict(metadata or {}), "results": results}


def write_json(path: str | os.PathLike, explanations: Sequence[Explanation], kg: KnowledgeGraph,
               metadata: dict | None = None) -> None:
    """Write :func:`to_json` atomically (indent 2)."""
    document = to_json(explanations, kg, metadata)

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")

    atomic_write(path, write)


def _csv_rows(explanations: Sequence[Explanation], kg: KnowledgeGraph):
    for ex in explanations:
        h, r, t = ex.triple
        test = [kg.entity_label(h), kg.entity_name(h), kg.relation_label(r),
                kg.relation_name(r), kg.entity_label(t), kg.entity_name(t)]
        for inf in ex.influences:
            a, q, b = inf.triple
            yield test + [kg.entity_label(a), kg.entity_name(a), kg.relation_label(q),
                          kg.relation_name(q), kg.entity_label(b), kg.entity_name(b),
                          repr(inf.influence), _fmt(inf.self_influence), inf.kind, inf.rank,
                          inf.train_index, _fmt(ex.self_influence)]


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(value)


def write_csv(path: str | os.PathLike, explanations: Sequence[Explanation],
              kg: KnowledgeGraph) -> None:
    """One row per (test, train) pair with :data:`CSV_COLUMNS`; atomic."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(_csv_rows(explanations, kg))

    atomic_write(path, write)


def to_dataframe(explanations: Sequence[Explanation], kg: KnowledgeGraph):
    """A pandas DataFrame with :data:`CSV_COLUMNS` (needs ``pandas``).

    Raises:
        ImportError: if pandas is not installed (``pip install kgif[pandas]``).
    """
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("to_dataframe needs pandas: pip install 'kgif[pandas]'") from error
    frame = pd.DataFrame(list(_csv_rows(explanations, kg)), columns=list(CSV_COLUMNS))
    for column in ("TracInScore", "SelfInfluence", "TestSelfInfluence"):
        frame[column] = pd.to_numeric(frame[column])
    return frame


def format_explanation(ex: Explanation, kg: KnowledgeGraph, width: int = 100) -> str:
    """A readable text block: the test triple, then proponents and opponents with names."""
    h, r, t = ex.triple
    note = "" if ex.self_influence is None else f"   (self-influence {ex.self_influence:.4g})"
    lines = [f"{kg.entity_name(h)} --{kg.relation_name(r)}--> {kg.entity_name(t)}{note}"]
    for title, items in (("proponents", ex.proponents), ("opponents", ex.opponents)):
        lines.append(f"  {title}:")
        for inf in items:
            a, q, b = inf.triple
            edge = f"{kg.entity_name(a)} --{kg.relation_name(q)}--> {kg.entity_name(b)}"
            lines.append(f"    {inf.rank:>3}. {inf.influence:+.4e}  {edge}"[:width])
    return "\n".join(lines)
