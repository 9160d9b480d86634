"""KGX graphs (Biolink Model node and edge files, TSV or JSON Lines) and in-memory tables.

KGX (the Biolink Model's exchange format; spec: github.com/biolink/kgx, ``kgx_format.md``) writes
a graph as a node file and an edge file:

- ``nodes.tsv`` (or ``<name>_nodes.tsv``): a header line, then ``id<TAB>category<TAB>name...``;
- ``edges.tsv`` (or ``<name>_edges.tsv``): ``subject<TAB>predicate<TAB>object...`` plus
  provenance columns (``primary_knowledge_source``, ``knowledge_level``, ``publications``...);
- or the same records as JSON Lines (``nodes.jsonl``, ``edges.jsonl``, one object per line);
- each optionally gzip-compressed (``.gz``). In TSV, multi-valued fields are ``|``-separated; in
  JSON Lines they are lists.

:func:`read_kgx_dataset` reads such a folder into a :class:`~kgif.data.graph.KnowledgeGraph`:
node ``id`` CURIEs become entity labels, ``name`` display names, the most specific Biolink
``category`` the kind (:func:`kgif.data.biolink.most_specific_category`; all categories are kept in
``kg.entity_categories``), ``predicate`` the relation label. Columns other than these are
ignored and counted in a log line. An edge whose subject or object is not a node, a repeated
node id, a missing or multi-valued ``subject``/``predicate``/``object`` is refused naming the file
and line. Nodes without an edge are left out (counted in the log). KGX has no train/valid/test
split: the graph is all-training (logged), and :func:`kgif.data.split.split` holds edges out.

:func:`from_dataframe` builds the same graph from in-memory edge (and node) tables, e.g. pandas
DataFrames, with the same rules (rows named instead of lines).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgif.data.biolink import most_specific_category
from kgif.data.graph import KnowledgeGraph
from kgif.data.tsv import iter_label_rows

__all__ = ["EDGE_COLUMNS", "KGX_SUFFIXES", "NODE_COLUMNS", "KgxNodes", "find_kgx_files",
           "from_dataframe", "is_kgx_folder", "read_kgx_dataset", "read_kgx_nodes"]

logger = logging.getLogger(__name__)

#: Node fields kgif uses; other columns are ignored (and counted).
NODE_COLUMNS = ("id", "category", "name")
#: Edge fields kgif uses; other columns (provenance, qualifiers, ``id``) are ignored.
EDGE_COLUMNS = ("subject", "predicate", "object")
#: Separator of multi-valued fields in KGX TSV.
MULTI_VALUE_SEPARATOR = "|"

#: A record: ``(where, fields)``; ``where`` names the file and line (or table and row) for
#: messages, ``fields`` maps a column to its values (empty tuple: no value).
Record = tuple[str, dict[str, tuple[str, ...]]]


# --------------------------------------------------------------------------- records


def _split_multi(text: str) -> tuple[str, ...]:
    """``"a|b"`` -> ``("a", "b")``; empty parts dropped, ``""`` -> ``()``."""
    if MULTI_VALUE_SEPARATOR not in text:  # the common case, without a generator
        text = text.strip()
        return (text,) if text else ()
    return tuple(x.strip() for x in text.split(MULTI_VALUE_SEPARATOR) if x.strip())


def _tsv_records(path: Path, who: str) -> Iterator[Record]:
    """Rows of a KGX TSV after its header line (BOM removed, gzip by suffix, UTF-8 checked)."""
    rows = iter_label_rows(path, -1, who, allow_empty=True)
    first = next(rows, None)
    if first is None:
        raise ValueError(f"{who}: {path} is empty; expected a header line")
    header = [c.strip() for c in first[1]]
    for lineno, fields in rows:
        if len(fields) != len(header):
            raise ValueError(f"{who}: line {lineno} of {path} has {len(fields)} columns, the "
                             f"header has {len(header)}")
        yield (f"line {lineno} of {path}",
               {c: _split_multi(v) for c, v in zip(header, fields, strict=True)})


def _json_values(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(x).strip() for x in value if x is not None and str(x).strip())
    text = str(value).strip()
    return (text,) if text else ()


def _jsonl_records(path: Path, who: str) -> Iterator[Record]:
    """Objects of a JSON Lines file, one per non-blank line (lists are multi-valued fields)."""
    for lineno, fields in iter_label_rows(path, -1, who, allow_empty=True):
        text = "\t".join(fields)  # iter_label_rows split on tabs; JSON may hold them
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{who}: line {lineno} of {path} is not valid JSON "
                             f"({err.msg} at column {err.colno})") from err
        if not isinstance(obj, dict):
            raise ValueError(f"{who}: line {lineno} of {path} is a JSON "
                             f"{type(obj).__name__}, expected an object")
        yield f"line {lineno} of {path}", {str(k): _json_values(v) for k, v in obj.items()}


#: File suffix -> record reader.
KGX_SUFFIXES: dict[str, Callable[[Path, str], Iterator[Record]]] = {
    ".tsv": _tsv_records, ".tsv.gz": _tsv_records,
    ".jsonl": _jsonl_records, ".jsonl.gz": _jsonl_records,
}


def _records(path: Path, who: str) -> Iterator[Record]:
    suffix = next(s for s in sorted(KGX_SUFFIXES, key=len, reverse=True)
                  if path.name.endswith(s))
    return KGX_SUFFIXES[suffix](path, who)


# --------------------------------------------------------------------------- files


def _kgx_pattern(kind: str) -> re.Pattern[str]:
    suffixes = "|".join(re.escape(s) for s in KGX_SUFFIXES)
    return re.compile(rf"^(?:.*[_.\-])?{kind}(?:{suffixes})$")


def _matching(folder: Path, kind: str) -> list[Path]:
    pattern = _kgx_pattern(kind)
    return sorted(p for p in folder.iterdir() if p.is_file() and pattern.match(p.name))


def find_kgx_files(folder: str | os.PathLike[str]) -> tuple[Path, Path] | None:
    """The node and edge files of a KGX folder, or None if it has none.

    Names: ``nodes.tsv``/``edges.tsv`` or ``<name>_nodes.tsv``/``<name>_edges.tsv`` (also
    ``-``/``.`` before ``nodes``), each ``.tsv``, ``.tsv.gz``, ``.jsonl`` or ``.jsonl.gz``.

    Raises:
        ValueError: Several node or edge files, or one without the other (all named).
    """
    folder = Path(folder)
    nodes, edges = _matching(folder, "nodes"), _matching(folder, "edges")
    if not nodes and not edges:
        return None
    if len(nodes) != 1 or len(edges) != 1:
        raise ValueError(f"read_kgx_dataset: {folder} must hold exactly one KGX node file and "
                         f"one edge file, found nodes {[p.name for p in nodes]} and edges "
                         f"{[p.name for p in edges]}")
    return nodes[0], edges[0]


def is_kgx_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a KGX node or edge file (see :func:`find_kgx_files`)."""
    folder = Path(folder)
    return bool(_matching(folder, "nodes") or _matching(folder, "edges"))


# --------------------------------------------------------------------------- nodes


@dataclass
class KgxNodes:
    """The nodes of a KGX graph, by CURIE.

    Attributes:
        where: Where each id was defined (``"line 3 of nodes.tsv"``), for messages.
        names: Display names (``name``) of the nodes that have one.
        categories: All Biolink categories of each node that has any, as listed.
        ignored: Ignored column -> number of non-empty values.
    """

    where: dict[str, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    ignored: dict[str, int] = field(default_factory=dict)


def _count_ignored(ignored: dict[str, int], fields: dict[str, tuple[str, ...]],
                   used: tuple[str, ...]) -> None:
    for column, values in fields.items():
        if column not in used:
            ignored[column] = ignored.get(column, 0) + bool(values)


def _single(who: str, where: str, fields: dict[str, tuple[str, ...]], column: str) -> str:
    """The one value of a required single-valued field, else a ``ValueError`` naming ``where``."""
    values = fields.get(column, ())
    if len(values) != 1:
        what = "no value" if not values else f"{len(values)} values {list(values)}"
        raise ValueError(f"{who}: {where}: {column!r} has {what}, expected exactly one")
    return values[0]


def _nodes_from_records(records: Iterable[Record], who: str) -> KgxNodes:
    nodes = KgxNodes()
    for where, fields in records:
        curie = _single(who, where, fields, "id")
        if curie in nodes.where:
            raise ValueError(f"{who}: {where} repeats node id {curie!r} (first at "
                             f"{nodes.where[curie]})")
        nodes.where[curie] = where
        if fields.get("name"):
            nodes.names[curie] = MULTI_VALUE_SEPARATOR.join(fields["name"])
        if fields.get("category"):
            nodes.categories[curie] = fields["category"]
        _count_ignored(nodes.ignored, fields, NODE_COLUMNS)
    return nodes


def read_kgx_nodes(path: str | os.PathLike[str]) -> KgxNodes:
    """Read a KGX node file (TSV with a header, or JSON Lines; plain or ``.gz``).

    Raises:
        ValueError: A row without exactly one ``id``, a repeated id, a row with another column
            count than the header, invalid JSON, UTF-8 or gzip (file and line named).
    """
    who = "read_kgx_nodes"
    return _nodes_from_records(_records(Path(path), who), who)


# --------------------------------------------------------------------------- edges


def _edges_from_records(records: Iterable[Record], nodes: KgxNodes, who: str,
                        source: str) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """``(subject, predicate, object)`` rows, every id checked against ``nodes``."""
    triples: list[tuple[str, str, str]] = []
    ignored: dict[str, int] = {}
    for where, fields in records:
        s, p, o = (_single(who, where, fields, c) for c in EDGE_COLUMNS)
        for column, curie in (("subject", s), ("object", o)):
            if curie not in nodes.where:
                raise ValueError(f"{who}: {where}: {column} {curie!r} is not a node of "
                                 f"{source} (a dangling edge)")
        triples.append((s, p, o))
        _count_ignored(ignored, fields, EDGE_COLUMNS)
    return triples, ignored


def _describe_ignored(ignored: dict[str, int]) -> str:
    if not ignored:
        return "none"
    return ", ".join(f"{c} ({n} values)" for c, n in sorted(ignored.items()))


# --------------------------------------------------------------------------- the graph


def _attach_nodes(kg: KnowledgeGraph, nodes: KgxNodes) -> None:
    """Names, kinds (most specific category) and all categories by entity id."""
    for curie, i in kg.entity_to_id.items():
        if curie in nodes.names:
            kg.entity_names[i] = nodes.names[curie]
        categories = nodes.categories.get(curie)
        if categories:
            kg.entity_categories[i] = categories
            kg.entity_kinds[i] = most_specific_category(categories)


def _build(who: str, triples: list[tuple[str, str, str]], nodes: KgxNodes, name: str,
           duplicates: str) -> KnowledgeGraph:
    from kgif.data.build import from_label_triples

    if not triples:
        raise ValueError(f"{who}: {name or 'the graph'} has no edges")
    kg = from_label_triples(triples, duplicates=duplicates, name=name)
    _attach_nodes(kg, nodes)
    isolated = len(nodes.where) - kg.num_entities
    if isolated:
        logger.info("%s: %d of %d nodes have no edge and are left out", who, isolated,
                    len(nodes.where))
    logger.warning("%s: %s: %d edges read as all-training (KGX has no valid/test split); hold "
                   "out edges with `python -m kgif split` or kgif.split(...) for validation and "
                   "test metrics", who, name or "graph", len(kg.training))
    return kg


def read_kgx_dataset(folder: str | os.PathLike[str], *, unseen: str = "drop",
                     duplicates: str = "drop") -> KnowledgeGraph:
    """Read a KGX folder (node and edge file, TSV or JSON Lines) as an all-training graph.

    See the module docstring for the files and the rules.

    Args:
        folder: The folder (:func:`find_kgx_files` names the files it accepts).
        unseen: Unused (a KGX graph has no valid/test triples); accepted so that
            :func:`kgif.data.datasets.load_dataset` passes its policies to every reader.
        duplicates: Policy for repeated ``(subject, predicate, object)`` edges, e.g. one per
            knowledge source: ``"drop"`` (default; keeps the first, as PyKEEN's
            ``TriplesFactory`` keeps each triple once), ``"keep"`` or ``"error"``.

    Returns:
        The graph: CURIE labels, names, kinds and ``entity_categories``; no valid/test.

    Raises:
        FileNotFoundError: No KGX node and edge file in ``folder``.
        ValueError: A dangling edge, a repeated node id, a missing or multi-valued required
            field, a malformed line (file and line named).
    """
    del unseen
    who = "read_kgx_dataset"
    folder = Path(folder)
    files = find_kgx_files(folder)
    if files is None:
        raise FileNotFoundError(f"{who}: no KGX nodes.tsv/edges.tsv (or .jsonl) in {folder}")
    node_file, edge_file = files
    nodes = _nodes_from_records(_records(node_file, who), who)
    triples, ignored = _edges_from_records(_records(edge_file, who), nodes, who, node_file.name)
    logger.info("%s: %s: %d nodes, %d edges; ignored node columns: %s; ignored edge "
                "columns: %s", who, folder, len(nodes.where), len(triples),
                _describe_ignored(nodes.ignored), _describe_ignored(ignored))
    return _build(who, triples, nodes, folder.name, duplicates)


# --------------------------------------------------------------------------- data frames


def _frame_value(value: Any) -> tuple[str, ...]:
    """A cell: None/NaN -> ``()``, list-like -> its items, text -> ``|``-split values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ()
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return tuple(str(x).strip() for x in value if str(x).strip())
    return _split_multi(str(value))


def _columns(table: Any) -> list[str]:
    return [str(c) for c in (table.columns if hasattr(table, "columns") else table)]


def _frame_records(table: Any, what: str) -> Iterator[Record]:
    """Rows of a DataFrame (or a mapping of equal-length columns) as records."""
    columns = _columns(table)
    data = [list(table[c]) for c in columns]
    lengths = {len(col) for col in data}
    if len(lengths) > 1:
        raise ValueError(f"from_dataframe: the columns of {what} differ in length: "
                         f"{dict(zip(columns, map(len, data), strict=True))}")
    for i, row in enumerate(zip(*data, strict=True)):
        yield f"row {i} of {what}", {c: _frame_value(v) for c, v in zip(columns, row,
                                                                         strict=True)}


def _implicit_nodes(records: list[Record]) -> KgxNodes:
    """Every subject and object of the edges as a node without name or category."""
    nodes = KgxNodes()
    for where, fields in records:
        for curie in (*fields.get("subject", ()), *fields.get("object", ())):
            nodes.where.setdefault(curie, where)
    return nodes


def from_dataframe(edges: Any, nodes: Any = None, *, subject: str = "subject",
                   predicate: str = "predicate", object: str = "object",  # noqa: A002
                   duplicates: str = "drop", name: str = "") -> KnowledgeGraph:
    """An all-training graph from in-memory tables, with the KGX rules of this module.

    pandas is optional: any object whose ``columns`` (or keys) index equal-length columns
    works, e.g. ``{"subject": [...], "predicate": [...], "object": [...]}``.

    Args:
        edges: One row per edge; columns ``subject``, ``predicate``, ``object`` (or the names
            given below); other columns are ignored (counted in the log).
        nodes: Optional node table with ``id`` and optional ``name`` and ``category``
            (``|``-separated text or lists). With it, every edge end must be a node.
        subject: The edges' subject (head) column.
        predicate: The edges' predicate (relation) column.
        object: The edges' object (tail) column.
        duplicates: Policy for repeated edges; see :func:`read_kgx_dataset`.
        name: The graph's name.

    Returns:
        The graph, all-training (split it with :func:`kgif.data.split.split`).

    Raises:
        ValueError: A missing column, an empty or multi-valued field, a dangling edge, a
            repeated node id (row named), or no edges.
    """
    who = "from_dataframe"
    rename = {subject: "subject", predicate: "predicate", object: "object"}
    missing = [c for c in rename if c not in _columns(edges)]
    if missing:
        raise ValueError(f"{who}: edges lack columns {missing}; they have {_columns(edges)}")
    records = [(where, {rename.get(c, c): v for c, v in fields.items()})
               for where, fields in _frame_records(edges, "the edges")]
    table = (_implicit_nodes(records) if nodes is None
             else _nodes_from_records(_frame_records(nodes, "the nodes"), who))
    triples, ignored = _edges_from_records(records, table, who, "the nodes")
    logger.info("%s: ignored edge columns: %s", who, _describe_ignored(ignored))
    return _build(who, triples, table, name, duplicates)
