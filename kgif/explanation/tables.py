"""Explanations and predictions with names: JSON (the seed project's fields), CSV, pandas, text.

The writers and readers of :class:`~kgif.explanation.explanation.Explanation` lists and of
prediction rows. They attach entity and relation labels (ids such as CURIEs), display names
and entity kinds from a :class:`~kgif.data.graph.KnowledgeGraph`; :func:`relation_summary`
splits the proponents by relation and by kinds. JSON goes through
:func:`kgif._io.atomic_write_json` (NaN refused), every file is written atomically.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence

from torch import Tensor

from kgif._io import atomic_write, atomic_write_json
from kgif.data.graph import KnowledgeGraph, check_same_graph
from kgif.data.validate import MAX_TEXT_BYTES, check_input_file
from kgif.evaluation.predict import PREDICTION_COLUMNS
from kgif.explanation.explanation import (
    Explanation,
    _summarise,
    check_graph,
    format_summary,
    relation_summary,
)

__all__ = ["CSV_COLUMNS", "SUMMARY_FIELDS", "format_explanation", "format_predictions",
           "read_predictions", "summary_fields",
           "to_dataframe", "to_json", "write_csv", "write_json", "write_predictions"]

#: CSV header, one row per (test triple, training edge). Column names follow the seed project's
#: (``TestHead``, ``TrainRel``, ``TracInScore``...) with one meaning per suffix across every kgif
#: output (JSON, CSV, DataFrame, predictions, networks): no suffix is the integer id, ``_label``
#: the entity or relation label (a CURIE such as ``DRUGBANK:DB00997``, or Hetionet's
#: ``Compound::DB00997``), ``_name`` the display name (the label when there is none), ``_kind``
#: the entity kind (empty without a node table). The seed project wrote display names under
#: ``*_label``; kgif does not (docs/outputs.md). The test triple's proponent summary
#: (:func:`relation_summary`) is repeated on each of its rows.
CSV_COLUMNS = (
    "TestHead", "TestHead_label", "TestHead_name", "TestHead_kind",
    "TestRel", "TestRel_label", "TestRel_name",
    "TestTail", "TestTail_label", "TestTail_name", "TestTail_kind",
    "TrainHead", "TrainHead_label", "TrainHead_name", "TrainHead_kind",
    "TrainRel", "TrainRel_label", "TrainRel_name",
    "TrainTail", "TrainTail_label", "TrainTail_name", "TrainTail_kind",
    "TracInScore", "SelfInfluence", "Kind", "Rank", "TrainIndex", "TestSelfInfluence",
    "ProponentRelations", "ProponentKinds",
)

#: Summary columns (batch-run ``summary.csv``) from :func:`summary_fields`.
SUMMARY_FIELDS = ("proponent_relations", "proponent_kinds")


# --------------------------------------------------------------------------- summary


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
    check_graph(explanations, kg, "to_json")
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
    return {"metadata": {**dict(metadata or {}), "graph_fingerprint": kg.fingerprint},
            "results": results}


def write_json(path: str | os.PathLike, explanations: Sequence[Explanation], kg: KnowledgeGraph,
               metadata: dict | None = None) -> None:
    """Write :func:`to_json` atomically (indent 2; :func:`kgif._io.atomic_write_json`).

    Raises:
        ValueError: a score is NaN or infinite (the key path is named; nothing is written).
    """
    atomic_write_json(path, to_json(explanations, kg, metadata))


def _columns(kg: KnowledgeGraph, triple: tuple[int, int, int]) -> list:
    """Id, label, name (and kind) of the head, relation and tail, in :data:`CSV_COLUMNS` order."""
    h, r, t = triple
    return [h, kg.entity_label(h), kg.entity_name(h), kg.entity_kind(h),
            r, kg.relation_label(r), kg.relation_name(r),
            t, kg.entity_label(t), kg.entity_name(t), kg.entity_kind(t)]


def _csv_rows(explanations: Sequence[Explanation], kg: KnowledgeGraph):
    for ex in explanations:
        test = _columns(kg, ex.triple)
        summary = relation_summary(ex, kg)
        tail = [format_summary(summary["by_relation"]), format_summary(summary["by_kinds"])]
        for inf in ex.influences:
            yield test + _columns(kg, inf.triple) + [
                repr(inf.influence), _fmt(inf.self_influence), inf.kind, inf.rank,
                inf.train_index, _fmt(ex.self_influence), *tail]


def _fmt(value: float | None) -> str:
    return "" if value is None else repr(value)


def write_csv(path: str | os.PathLike, explanations: Sequence[Explanation],
              kg: KnowledgeGraph) -> None:
    """One row per (test, train) pair with :data:`CSV_COLUMNS`; atomic."""
    check_graph(explanations, kg, "write_csv")

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
    check_graph(explanations, kg, "to_dataframe")
    try:
        import pandas as pd
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("to_dataframe needs pandas: pip install 'kgif[pandas]'") from error
    frame = pd.DataFrame(list(_csv_rows(explanations, kg)), columns=list(CSV_COLUMNS))
    for column in ("TracInScore", "SelfInfluence", "TestSelfInfluence"):
        frame[column] = pd.to_numeric(frame[column])
    return frame


def _entity(kg: KnowledgeGraph, i: int) -> str:
    """``"doxorubicin (DRUGBANK:DB00997) [biolink:SmallMolecule]"``: name, label when it differs
    from the name, kind when known."""
    name, label, kind = kg.entity_name(i), kg.entity_label(i), kg.entity_kind(i)
    text = name if label == name else f"{name} ({label})"
    return f"{text} [{kind}]" if kind else text


def format_explanation(ex: Explanation, kg: KnowledgeGraph) -> str:
    """A readable text block: the test triple, then proponents and opponents with names and
    kinds, then the proponents' split by relation and by kinds (:func:`relation_summary`).

    Nothing is cut: long names, labels and kinds are printed in full (a terminal wraps them).
    """
    check_graph([ex], kg, "format_explanation")
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
            lines.append(f"    {inf.rank:>3}. {inf.influence:+.4e}  {edge}")
    summary = relation_summary(ex, kg)
    if ex.proponents:
        lines.append(f"  proponents by relation: {format_summary(summary['by_relation'])}")
    if summary["by_kinds"]:
        lines.append(f"  proponents by kinds: {format_summary(summary['by_kinds'])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- predictions

#: Fields a predictions file must carry for :func:`read_predictions`.
_PREDICTION_KEYS = ("query", "rank", "head_label", "relation_label", "tail_label")


def _write_predictions_json(path: str | os.PathLike, rows: Sequence[dict],
                            metadata: dict | None) -> None:
    atomic_write_json(path, {"metadata": dict(metadata or {}), "predictions": list(rows)})


def _write_predictions_csv(path: str | os.PathLike, rows: Sequence[dict],
                           metadata: dict | None) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, PREDICTION_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    atomic_write(path, write)


#: File suffix -> predictions writer.
_PREDICTION_WRITERS = {".json": _write_predictions_json, ".csv": _write_predictions_csv}


def write_predictions(path: str | os.PathLike, rows: Sequence[dict],
                      metadata: dict | None = None) -> None:
    """Write :func:`kgif.evaluation.predict.predict_batch` rows atomically; the suffix picks
    the format.

    ``.json``: ``{"metadata": ..., "predictions": [rows]}``; ``.csv``: a header of
    :data:`kgif.evaluation.predict.PREDICTION_COLUMNS` and one row per prediction (no metadata).

    Raises:
        ValueError: another suffix, or a NaN or infinite value in a ``.json`` file.
    """
    suffix = os.path.splitext(str(path))[1].lower()
    if suffix not in _PREDICTION_WRITERS:
        raise ValueError(f"write_predictions: {path} must end in .json or .csv")
    _PREDICTION_WRITERS[suffix](path, rows, metadata)


def _parse_json(path: str) -> object:
    """The JSON document of ``path``, with every failure one line naming the file."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return json.load(handle)
    except UnicodeDecodeError as error:
        raise ValueError(f"read_predictions: {path} is not valid UTF-8 ({error.reason} at byte "
                         f"{error.start}); expected a JSON file written by kgif predict") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"read_predictions: {path} is not valid JSON (line {error.lineno}, "
                         f"column {error.colno}: {error.msg})") from None
    except RecursionError:
        raise ValueError(f"read_predictions: {path} nests JSON too deeply; expected a "
                         "predictions file written by kgif predict") from None


def _load_prediction_rows(path: str) -> tuple[list[dict], dict]:
    if path.lower().endswith(".json"):
        check_input_file(path, "read_predictions", MAX_TEXT_BYTES)
        document = _parse_json(path)
        if not isinstance(document, dict) or not isinstance(document.get("predictions"), list):
            raise ValueError(f"read_predictions: {path} has no 'predictions' list (write it "
                             "with `python -m kgif predict --output FILE.json`)")
        metadata = document.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ValueError(f"read_predictions: {path}: 'metadata' is a "
                             f"{type(metadata).__name__}; expected a JSON object")
        return document["predictions"], metadata
    if path.lower().endswith(".csv"):
        check_input_file(path, "read_predictions", MAX_TEXT_BYTES)
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                return list(csv.DictReader(handle)), {}
        except UnicodeDecodeError as error:
            raise ValueError(f"read_predictions: {path} is not valid UTF-8 ({error.reason} at "
                             f"byte {error.start})") from None
    raise ValueError(f"read_predictions: {path} must end in .json or .csv")


def _check_prediction_source(path: str, metadata: dict, kg: KnowledgeGraph) -> None:
    """Refuse a predictions file made on another graph (JSON files record theirs)."""
    n = metadata.get("num_entities")
    name = metadata.get("dataset")
    if metadata.get("graph_fingerprint") is not None:
        check_same_graph(metadata["graph_fingerprint"], kg, "read_predictions",
                         f"the predictions of {path}")
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
        if not isinstance(row, dict):
            raise ValueError(f"read_predictions: prediction {n} of {path} is a "
                             f"{type(row).__name__}; expected a JSON object with "
                             f"{list(_PREDICTION_KEYS)}")
        bad = next((k for k in _PREDICTION_KEYS if k.endswith("_label")
                    and row.get(k) is not None and not isinstance(row[k], str)), None)
        if bad is not None:
            raise ValueError(f"read_predictions: prediction {n} of {path} has {bad}="
                             f"{row[bad]!r:.60}; expected a label string")
        missing = [key for key in _PREDICTION_KEYS if row.get(key) in (None, "")]
        if missing:
            raise ValueError(f"read_predictions: prediction {n} of {path} lacks {missing}")
        try:
            rank = int(row["rank"])
            if isinstance(row["rank"], bool | float):
                raise ValueError
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
        name, label, kind = (row[f"{side}_{x}"] for x in ("name", "label", "kind"))
        text = name if label == name else f"{name} ({label})"
        return f"{text} [{kind}]" if kind else text

    rel = row["relation_name"]
    if row["side"] == "tail":
        return f"{entity('head')} --{rel}--> ?"
    return f"? --{rel}--> {entity('tail')}"


def _prediction_table(rows: Sequence[dict]) -> list[str]:
    """Header and lines of one query's rows; columns as wide as their longest entry."""
    kind_w = max([4, *(len(r["entity_kind"] or "-") for r in rows)]) + 2
    name_w = max([4, *(len(r["entity_name"]) for r in rows)]) + 2
    lines = [f"{'rank':>6} {'probability':>12} {'logit':>10}  {'kind':<{kind_w}}"
             f"{'name':<{name_w}}label"]
    for row in rows:
        known = "  (known)" if row["known"] else ""
        lines.append(f"{row['rank']:>6} {row['probability']:>12.6f} {row['logit']:>10.4f}  "
                     f"{row['entity_kind'] or '-':<{kind_w}}{row['entity_name']:<{name_w}}"
                     f"{row['entity_label']}{known}")
    return lines


def format_predictions(rows: Sequence[dict]) -> str:
    """A readable table per query: rank, sigmoid probability, logit, kind, name, label, and
    ``known`` for edges already in the graph (kept with ``filter_known=False``).

    Nothing is cut: columns are as wide as their longest name, kind or label.
    """
    blocks: list[list[dict]] = []
    for row in rows:
        if not blocks or blocks[-1][0]["query"] != row["query"]:
            blocks.append([])
        blocks[-1].append(row)
    lines: list[str] = []
    for block in blocks:
        if lines:
            lines.append("")
        lines.append(_query_title(block[0]))
        lines += _prediction_table(block)
    return "\n".join(lines)
