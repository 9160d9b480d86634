"""Explanations and predictions with names: JSON (the seed project's fields), CSV, pandas, text.

An :class:`Explanation` holds one test triple's proponents and opponents (training edges with
their TracIn scores and self-influence). A **proponent** has a positive TracIn score (its
training steps pushed the test triple's score up), an **opponent** a negative one; an edge of
score 0 is neither. Where fewer than k edges of a sign exist, fewer are returned (the k
largest and k smallest scores whatever their sign, Captum's selection, are
:meth:`kgif.influence.tracin.TracIn.top_influences`). :func:`explain` computes them with a
:class:`~kgif.influence.tracin.TracIn`; the writers attach entity and relation labels (ids
such as CURIEs) and display names from a :class:`~kgif.data.graph.KnowledgeGraph`.
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
from kgif.data.graph import KnowledgeGraph
from kgif.evaluation.predict import PREDICTION_COLUMNS
from kgif.influence.topk import KMostInfluentialResults, signed_topk
from kgif.influence.tracin import TracIn

__all__ = ["CSV_COLUMNS", "SUMMARY_FIELDS", "Explanation", "Influence", "explain",
           "format_explanation", "format_predictions", "format_summary", "read_predictions",
           "relation_summary", "summary_fields", "to_dataframe", "to_json", "write_csv",
           "write_json", "write_predictions"]

#: CSV header: the seed project's 14 columns (``TestHead`` is the label, ``TestHead_label`` the
#: display name, as the seed project wrote them), then kgif's: the influence fields, explicit
#: ``*_name`` and ``*_kind`` columns of the heads and tails (kind empty without a node table) and
#: the test triple's proponent summary (:func:`relation_summary`), repeated on each of its rows.
CSV_COLUMNS = (
    "TestHead", "TestHead_label", "TestRel", "TestRel_label", "TestTail", "TestTail_label",
    "TrainHead", "TrainHead_label", "TrainRel", "TrainRel_label", "TrainTail", "TrainTail_label",
    "TracInScore", "SelfInfluence", "Kind", "Rank", "TrainIndex", "TestSelfInfluence",
    "TestHead_name", "TestHead_kind", "TestTail_name", "TestTail_kind",
    "TrainHead_name", "TrainHead_kind", "TrainTail_name", "TrainTail_kind",
    "ProponentRelations", "ProponentKinds",
)

#: Summary columns (batch-run ``summary.csv``) from :func:`summary_fields`.
SUMMARY_FIELDS = ("proponent_relations", "proponent_kinds")


@dataclass
class Influence:
    """One training edge's influence on a test triple.

    Attributes:
        train_index: row of the training triples.
        triple: (head, relation, tail) ids (base relation id).
        influence: TracInCP score (units: learning rate x squared gradient norm).
        self_influence: the edge's own TracIn self-influence, or None if not computed.
        kind: ``"proponent"`` (influence > 0) or ``"opponent"`` (influence < 0).
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
    """Proponents (influence > 0, descending) and opponents (influence < 0, ascending) of one
    test triple (ids, base relation ids); each list holds at most k edges, fewer when fewer
    edges of that sign exist."""

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
        if i < 0:  # padding: fewer candidates (or edges of this sign) than k
            break
        out.append(Influence(int(i), tuple(train[i].tolist()), float(score), self_inf.get(i),
                             kind, rank))
    return out


def explain(tracin: TracIn, test_triples: Tensor, k: int = 10, *,
            train_triples: Tensor | None = None, candidates: Sequence[Tensor] | None = None,
            self_influence: bool = True) -> list[Explanation]:
    """Top-k proponents and opponents of each test triple, with self-influences.

    Proponents are the (at most) k edges of largest positive TracIn score, opponents the (at
    most) k of most negative score (:func:`kgif.influence.topk.signed_topk`); an explanation
    has fewer than k of a side when fewer edges have that sign.

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
    pro, opp = signed_topk(pro, largest=True), signed_topk(opp, largest=False)
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


# --------------------------------------------------------------------------- summary


def _count(keys: list[str]) -> list[dict]:
    """``[{"key": k, "count": n}, ...]`` by decreasing count, ties by key (deterministic)."""
    counts: dict[str, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return [{"key": k, "count": n} for k, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]


def _summarise(edges: list[tuple[str, str, str]]) -> dict:
    """Split ``(relation label, head kind, tail kind)`` edges by relation and by kind pair."""
    by_kinds = [f"{a}->{b}" for _, a, b in edges if a or b]
    return {"by_relation": _count([r for r, _, _ in edges]), "by_kinds": _count(by_kinds)}


def relation_summary(ex: Explanation, kg: KnowledgeGraph) -> dict:
    """How the proponents of ``ex`` split by relation and by (head kind, tail kind).

    Returns:
        ``{"by_relation": [{"key": relation label, "count": n}, ...], "by_kinds":
        [{"key": "HeadKind->TailKind", "count": n}, ...]}``, each by decreasing count, ties
        by key. ``by_kinds`` is empty when the graph has no entity kinds.
    """
    return _summarise([(kg.relation_label(q), kg.entity_kind(a), kg.entity_kind(b))
                       for a, q, b in (inf.triple for inf in ex.proponents)])


def format_summary(part: list[dict]) -> str:
    """``"BINDS_CbG 6, ASSOCIATES_DaG 3"`` from one list of :func:`relation_summary`."""
    return ", ".join(f"{x['key']} {x['count']}" for x in part)


def summary_fields(result: dict) -> dict[str, str]:
    """:data:`SUMMARY_FIELDS` of one :func:`to_json` result (a batch run's summary row)."""
    edges = [(x["train_relation_label"], x.get("train_head_kind", ""),
              x.get("train_tail_kind", ""))
             for x in result["influences"] if x["kind"] == "proponent"]
    summary = _summarise(edges)
    return {"proponent_relations": format_summary(summary["by_relation"]),
            "proponent_kinds": format_summary(summary["by_kinds"])}


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
        f"{prefix}_head_kind": kg.entity_kind(h),
        f"{prefix}_tail_kind": kg.entity_kind(t),
    }


def to_json(explanations: Sequence[Explanation], kg: KnowledgeGraph,
            metadata: dict | None = None) -> dict:
    """JSON-ready document: ``{"metadata": ..., "results": [one object per test triple]}``.

    Each result has the seed project's fields: ``test_head``, ``test_relation``,
    ``test_tail`` (ids), ``*_label`` (labels such as CURIEs), ``*_name`` (display names),
    ``self_influence`` and ``influences`` (a list of ``train_*`` fields, ``influence``,
    ``self_influence``, ``kind``, ``rank``, ``train_index``); and kgif's ``*_kind`` (entity
    kinds, ``""`` without a node table) and ``proponent_summary`` (:func:`relation_summary`).
    """
    results = []
    for ex in explanations:
        item = _named(kg, "test", ex.triple)
        item["self_influence"] = ex.self_influence
        item["proponent_summary"] = relation_summary(ex, kg)
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


def _name_kind(kg: KnowledgeGraph, i: int) -> list[str]:
    return [kg.entity_name(i), kg.entity_kind(i)]


def _csv_rows(explanations: Sequence[Explanation], kg: KnowledgeGraph):
    for ex in explanations:
        h, r, t = ex.triple
        test = [kg.entity_label(h), kg.entity_name(h), kg.relation_label(r),
                kg.relation_name(r), kg.entity_label(t), kg.entity_name(t)]
        summary = relation_summary(ex, kg)
        tail = [format_summary(summary["by_relation"]), format_summary(summary["by_kinds"])]
        for inf in ex.influences:
            a, q, b = inf.triple
            yield test + [kg.entity_label(a), kg.entity_name(a), kg.relation_label(q),
                          kg.relation_name(q), kg.entity_label(b), kg.entity_name(b),
                          repr(inf.influence), _fmt(inf.self_influence), inf.kind, inf.rank,
                          inf.train_index, _fmt(ex.self_influence),
                          *_name_kind(kg, h), *_name_kind(kg, t), *_name_kind(kg, a),
                          *_name_kind(kg, b), *tail]


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


def _entity(kg: KnowledgeGraph, i: int) -> str:
    kind = kg.entity_kind(i)
    return f"{kg.entity_name(i)} [{kind}]" if kind else kg.entity_name(i)


def format_explanation(ex: Explanation, kg: KnowledgeGraph, width: int = 100) -> str:
    """A readable text block: the test triple, then proponents and opponents with names and
    kinds, then the proponents' split by relation and by kinds (:func:`relation_summary`)."""
    h, r, t = ex.triple
    note = "" if ex.self_influence is None else f"   (self-influence {ex.self_influence:.4g})"
    lines = [f"{_entity(kg, h)} --{kg.relation_name(r)}--> {_entity(kg, t)}{note}"]
    for title, items, sign in (("proponents", ex.proponents, "positive"),
                               ("opponents", ex.opponents, "negative")):
        lines.append(f"  {title}:" if items else
                     f"  {title}: none (no candidate edge has {sign} influence)")
        for inf in items:
            a, q, b = inf.triple
            edge = f"{_entity(kg, a)} --{kg.relation_name(q)}--> {_entity(kg, b)}"
            lines.append(f"    {inf.rank:>3}. {inf.influence:+.4e}  {edge}"[:width])
    summary = relation_summary(ex, kg)
    if ex.proponents:
        lines.append(f"  proponents by relation: {format_summary(summary['by_relation'])}")
    if summary["by_kinds"]:
        lines.append(f"  proponents by kinds: {format_summary(summary['by_kinds'])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- predictions

#: Fields a predictions file must carry for :func:`read_predictions`.
_PREDICTION_KEYS = ("query", "rank", "head_label", "relation_label", "tail_label")


def write_predictions(path: str | os.PathLike, rows: Sequence[dict],
                      metadata: dict | None = None) -> None:
    """Write :func:`kgif.evaluation.predict.predict_batch` rows atomically; the suffix picks
    the format.

    ``.json``: ``{"metadata": ..., "predictions": [rows]}``; ``.csv``: a header of
    :data:`kgif.evaluation.predict.PREDICTION_COLUMNS` and one row per prediction (no metadata).

    Raises:
        ValueError: another suffix.
    """
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix == ".json":
        document = {"metadata": dict(metadata or {}), "predictions": list(rows)}

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(document, handle, indent=2)
                handle.write("\n")
    elif suffix == ".csv":
        def write(tmp: str) -> None:
            with open(tmp, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, PREDICTION_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
    else:
        raise ValueError(f"write_predictions: {path} must end in .json or .csv")
    atomic_write(path, write)


def _load_prediction_rows(path: str) -> tuple[list[dict], dict]:
    if path.lower().endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
        if not isinstance(document, dict) or not isinstance(document.get("predictions"), list):
            raise ValueError(f"read_predictions: {path} has no 'predictions' list (write it "
                             "with `python -m kgif predict --output FILE.json`)")
        return document["predictions"], document.get("metadata") or {}
    if path.lower().endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle)), {}
    raise ValueError(f"read_predictions: {path} must end in .json or .csv")


def _check_prediction_source(path: str, metadata: dict, kg: KnowledgeGraph) -> None:
    """Refuse a predictions file made on another graph (JSON files record theirs)."""
    n = metadata.get("num_entities")
    name = metadata.get("dataset")
    if (n is not None and n != kg.num_entities) or (name and kg.name and name != kg.name):
        raise ValueError(f"read_predictions: {path} was made on dataset {name!r} ({n} "
                         f"entities), not on {kg.name!r} ({kg.num_entities} entities)")


def read_predictions(path: str | os.PathLike, kg: KnowledgeGraph, limit: int | None = None
                     ) -> Tensor:
    """The predicted triples of a :func:`write_predictions` file, as test triples.

    Args:
        path: a ``.json`` or ``.csv`` file written by ``python -m kgif predict --output``.
        kg: the graph to resolve the ``*_label`` fields in.
        limit: keep the predictions of rank ``<= limit`` of each query (None: all).

    Returns:
        ``(n, 3)`` int64 ``(head, relation, tail)`` ids, in file order.

    Raises:
        ValueError: bad suffix, a missing field (row named), a ``limit`` below 1, a JSON file
            whose recorded dataset differs from ``kg``, or no prediction left.
        KeyError: a label unknown to ``kg`` (row named).
    """
    path = str(path)
    if limit is not None and limit < 1:
        raise ValueError(f"read_predictions: limit must be >= 1, got {limit}")
    rows, metadata = _load_prediction_rows(path)
    _check_prediction_source(path, metadata, kg)
    triples = []
    for n, row in enumerate(rows, 1):
        missing = [key for key in _PREDICTION_KEYS if row.get(key) in (None, "")]
        if missing:
            raise ValueError(f"read_predictions: prediction {n} of {path} lacks {missing}")
        try:
            rank = int(row["rank"])
        except (TypeError, ValueError):
            raise ValueError(f"read_predictions: prediction {n} of {path} has rank "
                             f"{row['rank']!r}, not an integer") from None
        if limit is None or rank <= limit:
            triples.append((row["head_label"], row["relation_label"], row["tail_label"]))
    if not triples:
        raise ValueError(f"read_predictions: no prediction in {path}")
    try:
        return kg.resolve_triples(triples)
    except KeyError as error:
        raise KeyError(f"read_predictions: {path}: {error.args[0]}") from error


def _query_title(row: dict) -> str:
    def entity(side: str) -> str:
        kind = row[f"{side}_kind"]
        return f"{row[f'{side}_name']} [{kind}]" if kind else row[f"{side}_name"]

    rel = row["relation_name"]
    if row["side"] == "tail":
        return f"{entity('head')} --{rel}--> ?"
    return f"? --{rel}--> {entity('tail')}"


def format_predictions(rows: Sequence[dict], width: int = 110) -> str:
    """A readable table per query: rank, sigmoid probability, logit, kind, name, label, and
    ``known`` for edges already in the graph (kept with ``filter_known=False``)."""
    lines: list[str] = []
    query = None
    for row in rows:
        if row["query"] != query:
            query = row["query"]
            if lines:
                lines.append("")
            lines.append(_query_title(row))
            lines.append(f"{'rank':>6} {'probability':>12} {'logit':>10}  {'kind':<14}"
                         f"{'name':<36}label")
        known = "  (known)" if row["known"] else ""
        line = (f"{row['rank']:>6} {row['probability']:>12.6f} {row['logit']:>10.4f}  "
                f"{row['entity_kind'] or '-':<14}{row['entity_name'][:35]:<36}"
                f"{row['entity_label']}{known}")
        lines.append(line[:width])
    return "\n".join(lines)
