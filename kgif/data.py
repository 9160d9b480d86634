"""Knowledge graphs as id maps plus mapped triples: the graph, reciprocal ids and dataset loading.

A :class:`KnowledgeGraph` holds entity and relation id maps and three ``(n, 3)`` int64 tensors of
``(head, relation, tail)`` ids with **base** relation ids ``0..R-1``. Reciprocal (inverse)
relations follow PyKEEN's numbering and are added only on demand by :func:`with_reciprocals`:
base relation ``k`` becomes forward id ``2k`` and inverse id ``2k + 1``.

Graphs are built from label triples (:func:`from_label_triples`, with a policy for valid/test
triples unseen in training) or read from a folder:

- label TSV splits (``train.txt`` and optional ``valid.txt``/``test.txt``, plain or ``.gz``):
  :func:`read_tsv_dataset`;
- the seed project's layout (``node_dict.txt``, ``rel_dict.txt``, optional ``edge_map.json`` and
  ``node_name_dict.txt``): :func:`read_seed_dataset`;
- PyKEEN's ``TriplesFactory.to_path_binary`` folder: :func:`read_pykeen_dataset`.

:func:`load_dataset` picks the right reader for a folder or a known dataset name. The file
formats themselves live in :mod:`kgif.formats` (label TSV, PyKEEN) and :mod:`kgif.seed`; their
public readers and writers are re-exported here.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from kgif.formats import (
    PYKEEN_BASE_FILE,
    PYKEEN_ENTITY_FILE,
    PYKEEN_RELATION_FILE,
    PYKEEN_TRIPLES_FILE,
    LabelTriple,
    _as_triples,
    _empty_triples,
    _find_split,
    _is_index,
    _iter_rows,
    _open_text,
    _require_train,
    read_label_triples,
    read_pykeen_triples,
    write_label_triples,
    write_pykeen_triples,
)
from kgif.seed import is_seed_folder, read_seed_dicts, read_seed_names, read_seed_split

__all__ = [
    "KNOWN_DATASETS",
    "PYKEEN_BASE_FILE",
    "PYKEEN_BUNDLED",
    "PYKEEN_ENTITY_FILE",
    "PYKEEN_RELATION_FILE",
    "PYKEEN_TRIPLES_FILE",
    "SPLITS",
    "UNSEEN_POLICIES",
    "KnowledgeGraph",
    "LabelTriple",
    "base_relation",
    "data_dir",
    "forward_relation",
    "from_label_triples",
    "inverse_of",
    "is_inverse",
    "load_dataset",
    "read_label_triples",
    "read_node_table",
    "read_pykeen_dataset",
    "read_pykeen_triples",
    "read_seed_dataset",
    "read_tsv_dataset",
    "with_reciprocals",
    "write_label_triples",
    "write_pykeen_triples",
]

logger = logging.getLogger(__name__)

UNSEEN_POLICIES = ("drop", "keep", "error")
KNOWN_DATASETS = ("umls", "kinships", "nations", "hetionet", "wn18rr", "fb15k237")
PYKEEN_BUNDLED = ("umls", "kinships", "nations")  # shipped inside the pykeen wheel
SPLITS = ("train", "valid", "test")
_SPLIT_NAMES = {"train": "training", "valid": "validation", "test": "test"}
_NUM_CLOSE_MATCHES = 3


# --------------------------------------------------------------------------- KnowledgeGraph


@dataclass(eq=False, repr=False)
class KnowledgeGraph:
    """Entity and relation id maps plus mapped ``(head, relation, tail)`` triples.

    Relation ids are base ids ``0..R-1`` (no inverses); see :func:`with_reciprocals`.

    Attributes:
        entity_to_id: Entity label -> id, ids contiguous ``0..N-1``.
        relation_to_id: Base relation label -> id, ids contiguous ``0..R-1``.
        training: ``(n_train, 3)`` int64 ``(head, relation, tail)`` ids.
        validation: ``(n_valid, 3)`` int64, possibly ``(0, 3)``.
        testing: ``(n_test, 3)`` int64, possibly ``(0, 3)``.
        entity_names: Optional display names by entity id (e.g. from ``node_name_dict.txt``).
        relation_names: Optional display names by base relation id (e.g. from ``edge_map.json``).
        entity_kinds: Optional entity kinds (types) by entity id, e.g. ``"Compound"`` from a
            node table ``entities.tsv``; they define each relation's domain and range
            (:meth:`relation_domain`, :meth:`relation_range`, :meth:`type_mask`).
        name: Dataset name used in summaries.

    Raises:
        ValueError: If an id map is not contiguous or a triple tensor has the wrong shape,
            dtype or out-of-range ids (checked in ``__post_init__``).
    """

    entity_to_id: dict[str, int]
    relation_to_id: dict[str, int]
    training: torch.Tensor
    validation: torch.Tensor = field(default_factory=_empty_triples)
    testing: torch.Tensor = field(default_factory=_empty_triples)
    entity_names: dict[int, str] = field(default_factory=dict)
    relation_names: dict[int, str] = field(default_factory=dict)
    name: str = ""
    entity_kinds: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_contiguous("entity_to_id", self.entity_to_id)
        _check_contiguous("relation_to_id", self.relation_to_id)
        for split in ("training", "validation", "testing"):
            triples = _as_triples(f"KnowledgeGraph.{split}", getattr(self, split))
            _check_id_range(f"KnowledgeGraph.{split}", triples, self.num_entities,
                            self.num_relations)
            setattr(self, split, triples)

    def __repr__(self) -> str:
        return f"KnowledgeGraph({self.summary()})"

    @property
    def num_entities(self) -> int:
        """Number of entities N."""
        return len(self.entity_to_id)

    @property
    def num_relations(self) -> int:
        """Number of base relations R (without inverses)."""
        return len(self.relation_to_id)

    @cached_property
    def id_to_entity(self) -> list[str]:
        """Entity labels indexed by id (cached; do not mutate ``entity_to_id`` afterwards)."""
        return _invert(self.entity_to_id)

    @cached_property
    def id_to_relation(self) -> list[str]:
        """Base relation labels indexed by id (cached)."""
        return _invert(self.relation_to_id)

    def entity_label(self, i: int) -> str:
        """Label of entity ``i``."""
        return self.id_to_entity[i]

    def relation_label(self, i: int) -> str:
        """Label of base relation ``i``."""
        return self.id_to_relation[i]

    def entity_name(self, i: int) -> str:
        """Display name of entity ``i``, falling back to its label."""
        return self.entity_names.get(i) or self.entity_label(i)

    def relation_name(self, i: int) -> str:
        """Display name of base relation ``i``, falling back to its label."""
        return self.relation_names.get(i) or self.relation_label(i)

    def entity_kind(self, i: int) -> str:
        """Kind (type) of entity ``i``, ``""`` when the graph has no node table."""
        return self.entity_kinds.get(i, "")

    @property
    def kinds(self) -> list[str]:
        """The distinct entity kinds, sorted (empty without a node table)."""
        return sorted(set(self.entity_kinds.values()))

    @cached_property
    def _kind_ids(self) -> torch.Tensor:
        """``(N,)`` int64 index into :attr:`kinds` per entity, ``-1`` where unknown (cached)."""
        index = {k: i for i, k in enumerate(self.kinds)}
        ids = torch.full((self.num_entities,), -1, dtype=torch.long)
        for e, kind in self.entity_kinds.items():
            ids[e] = index[kind]
        return ids

    @cached_property
    def _domain_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(R, K)`` bool each: kinds seen as heads (domain) and tails (range) per relation."""
        n_k = len(self.kinds)
        masks = []
        for col in (0, 2):
            m = torch.zeros(self.num_relations, n_k + 1, dtype=torch.bool)  # last: unknown kind
            kind = self._kind_ids[self.training[:, col]]
            m[self.training[:, 1], torch.where(kind < 0, n_k, kind)] = True
            masks.append(m[:, :n_k])
        return masks[0], masks[1]

    def relation_domain(self, r: int) -> frozenset[str]:
        """Kinds of the entities seen as heads of base relation ``r`` in training."""
        return frozenset(k for k, m in zip(self.kinds, self._domain_range[0][r].tolist(),
                                           strict=True) if m)

    def relation_range(self, r: int) -> frozenset[str]:
        """Kinds of the entities seen as tails of base relation ``r`` in training."""
        return frozenset(k for k, m in zip(self.kinds, self._domain_range[1][r].tolist(),
                                           strict=True) if m)

    def type_mask(self, relation: int, side: str = "tail") -> torch.Tensor:
        """Entities that may answer a query on base relation ``relation`` by type constraints.

        The range of a relation (``side="tail"``, answers of ``(h, r, ?)``) is the set of entity
        kinds seen as its tails in training; its domain (``side="head"``, answers of
        ``(?, r, t)``) the kinds seen as its heads. Without a node table every entity is allowed.

        Args:
            relation: Base relation id ``0..R-1``.
            side: ``"tail"`` (range) or ``"head"`` (domain).

        Returns:
            ``(N,)`` bool: ``True`` for entities of an allowed kind.

        Raises:
            ValueError: Bad ``side`` or ``relation``.
        """
        if side not in ("head", "tail"):
            raise ValueError(f"type_mask: side must be 'head' or 'tail', got {side!r}")
        if not 0 <= int(relation) < self.num_relations:
            raise ValueError(f"type_mask: relation {relation} outside 0..{self.num_relations - 1}")
        if not self.entity_kinds:
            return torch.ones(self.num_entities, dtype=torch.bool)
        allowed = self._domain_range[0 if side == "head" else 1][int(relation)]
        kind = self._kind_ids
        return torch.where(kind >= 0, allowed[kind.clamp(min=0)], False)

    @cached_property
    def _folded_entities(self) -> dict[str, list[int]]:
        """Case-folded labels and display names -> entity ids (cached)."""
        index: dict[str, list[int]] = {}
        for label, i in self.entity_to_id.items():
            index.setdefault(label.casefold(), []).append(i)
        for i, name in self.entity_names.items():
            ids = index.setdefault(name.casefold(), [])
            if i not in ids:
                ids.append(i)
        return index

    def resolve_entity(self, x: str | int) -> int:
        """Entity id from a label, an integer id, a digit string id or a unique display name.

        Exact labels come first (WN18RR labels are digits), then ids, then labels and display
        names compared case-insensitively (``"doxorubicin"`` finds ``Compound::DB00997``).

        Raises:
            KeyError: Unknown entity (suggests close labels and names) or a name shared by
                several entities (lists them with their labels and kinds).
        """
        if isinstance(x, str) and x in self.entity_to_id:
            return self.entity_to_id[x]
        i = _as_int(x)
        if i is not None and 0 <= i < self.num_entities:
            return i
        ids = self._folded_entities.get(str(x).casefold(), [])
        if len(ids) == 1:
            return ids[0]
        if len(ids) > 1:
            shown = ", ".join(f"{self.entity_label(j)!r} ({self.entity_name(j)}"
                              f"{', ' + self.entity_kind(j) if self.entity_kind(j) else ''})"
                              for j in sorted(ids)[:10])
            raise KeyError(f"resolve_entity: {x!r} is ambiguous: {len(ids)} entities match "
                           f"({shown}); pass a label or an id")
        return _resolve("entity", x, self.entity_to_id,
                        extra=list(self.entity_names.values()))

    def resolve_relation(self, x: str | int) -> int:
        """Base relation id from a label, an integer id or a digit string id.

        Raises:
            KeyError: Unknown relation; the message names ``x`` and suggests close labels.
        """
        return _resolve("relation", x, self.relation_to_id)

    def resolve_triples(self, rows: Iterable[tuple[str | int, str | int, str | int]]
                        ) -> torch.Tensor:
        """Map ``(head, relation, tail)`` rows of labels and/or ids to ids.

        Returns:
            ``(n, 3)`` int64 ``(head, relation, tail)`` ids.

        Raises:
            KeyError: An element is unknown (see :meth:`resolve_entity`).
            ValueError: A row does not have 3 elements.
        """
        out = []
        for i, row in enumerate(rows):
            row = tuple(row)
            if len(row) != 3:
                raise ValueError(f"resolve_triples: row {i} has {len(row)} elements, expected 3")
            h, r, t = row
            out.append((self.resolve_entity(h), self.resolve_relation(r), self.resolve_entity(t)))
        return torch.tensor(out, dtype=torch.long).reshape(-1, 3)

    def all_triples(self) -> torch.Tensor:
        """Training, validation and test triples concatenated: ``(n_all, 3)`` int64."""
        return torch.cat([self.training, self.validation, self.testing])

    def summary(self) -> str:
        """One line: name, N, R and split sizes."""
        sizes = "/".join(str(len(t)) for t in (self.training, self.validation, self.testing))
        return (f"{self.name or 'unnamed'}: {self.num_entities} entities, "
                f"{self.num_relations} relations, {sizes} train/valid/test triples")


def _invert(mapping: dict[str, int]) -> list[str]:
    labels = [""] * len(mapping)
    for label, i in mapping.items():
        labels[i] = label
    return labels


def _check_contiguous(what: str, mapping: dict[str, int]) -> None:
    ids = sorted(mapping.values())
    if ids != list(range(len(ids))):
        bad = next(k for k, i in enumerate(ids) if i != k)
        raise ValueError(f"KnowledgeGraph: {what} ids must be contiguous 0..{len(ids) - 1} and "
                         f"unique; first problem at sorted position {bad} (id {ids[bad]})")


def _check_id_range(where: str, triples: torch.Tensor, n_ent: int, n_rel: int) -> None:
    if len(triples) == 0:
        return
    for col, bound, what in ((0, n_ent, "head"), (1, n_rel, "relation"), (2, n_ent, "tail")):
        lo, hi = int(triples[:, col].min()), int(triples[:, col].max())
        if lo < 0 or hi >= bound:
            raise ValueError(f"{where}: {what} ids span {lo}..{hi}, outside 0..{bound - 1}")


def _resolve(what: str, x: str | int, mapping: dict[str, int], extra: list[str] = ()) -> int:
    if isinstance(x, str) and x in mapping:
        return mapping[x]
    i = _as_int(x)
    if i is not None and 0 <= i < len(mapping):
        return i
    folded = [label for label in mapping if label.casefold() == str(x).casefold()]
    if len(folded) == 1:
        return mapping[folded[0]]
    words = [*mapping, *extra]
    close = folded or difflib.get_close_matches(str(x), words, n=_NUM_CLOSE_MATCHES)
    if not close:  # case-only or prefix-only differences
        lowered = {w.casefold(): w for w in words}
        close = [lowered[w] for w in difflib.get_close_matches(str(x).casefold(), list(lowered),
                                                                n=_NUM_CLOSE_MATCHES)]
    hint = f"; close matches: {', '.join(map(repr, close))}" if close else ""
    raise KeyError(f"resolve_{what}: unknown {what} {x!r} (not a label and not an id in "
                   f"0..{len(mapping) - 1}){hint}")


def _as_int(x: object) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, str):
        return int(x) if _is_index(x.strip()) else None
    if isinstance(x, torch.Tensor) and x.numel() == 1 and not x.dtype.is_floating_point:
        return int(x)
    try:
        return int(x.__index__())  # int, numpy integers
    except (AttributeError, TypeError):
        return None


# --------------------------------------------------------------------------- reciprocals


def forward_relation(r: torch.Tensor | int) -> torch.Tensor | int:
    """Forward id ``2r`` of base relation ``r`` (PyKEEN's reciprocal numbering)."""
    return 2 * r


def inverse_of(r: torch.Tensor | int) -> torch.Tensor | int:
    """Inverse id ``2r + 1`` of base relation ``r`` (PyKEEN's reciprocal numbering)."""
    return 2 * r + 1


def base_relation(r: torch.Tensor | int) -> torch.Tensor | int:
    """Base relation ``r // 2`` of a forward or inverse id."""
    return r // 2


def is_inverse(r: torch.Tensor | int) -> torch.Tensor | bool:
    """Whether reciprocal id ``r`` is an inverse direction (odd)."""
    return r % 2 == 1


def with_reciprocals(triples: torch.Tensor) -> torch.Tensor:
    """Both directions of every edge, in PyKEEN's reciprocal numbering.

    Args:
        triples: ``(n, 3)`` int64 ``(head, base relation, tail)`` ids.

    Returns:
        ``(2n, 3)`` int64: rows ``0..n-1`` are ``(h, 2r, t)``, rows ``n..2n-1`` are
        ``(t, 2r + 1, h)``; row ``i`` and row ``i + n`` are the two directions of edge ``i``.

    Raises:
        ValueError: If ``triples`` is not ``(n, 3)`` integer.
    """
    triples = _as_triples("with_reciprocals", triples)
    h, r, t = triples.unbind(1)
    forward = torch.stack([h, forward_relation(r), t], dim=1)
    inverse = torch.stack([t, inverse_of(r), h], dim=1)
    return torch.cat([forward, inverse])


# --------------------------------------------------------------------------- unseen policies


def _check_unseen(who: str, unseen: str) -> None:
    if unseen not in UNSEEN_POLICIES:
        raise ValueError(f"{who}: unseen must be one of {UNSEEN_POLICIES}, got {unseen!r}")


def _unseen_mask(triples: torch.Tensor, ent_seen: torch.Tensor, rel_seen: torch.Tensor
                 ) -> torch.Tensor:
    """``(n,)`` bool: triples whose head, relation or tail is not marked as seen."""
    return ~(ent_seen[triples[:, 0]] & rel_seen[triples[:, 1]] & ent_seen[triples[:, 2]])


def _seen_in(training: torch.Tensor, n_ent: int, n_rel: int) -> tuple[torch.Tensor, torch.Tensor]:
    ent_seen = torch.zeros(n_ent, dtype=torch.bool)
    ent_seen[training[:, [0, 2]].reshape(-1)] = True
    rel_seen = torch.zeros(n_rel, dtype=torch.bool)
    rel_seen[training[:, 1]] = True
    return ent_seen, rel_seen


def _report_unseen(who: str, split: str, unseen: str, n_bad: int, n: int, first: LabelTriple
                   ) -> None:
    """Raise for ``unseen="error"``, else warn that ``n_bad`` of ``n`` were dropped or kept.

    ``stacklevel=3`` points the warning at the public reader calling ``_apply_unseen_*``.
    """
    if unseen == "error":
        raise ValueError(f"{who}: {_SPLIT_NAMES[split]} triple {first} has an entity or relation "
                         f"unseen in training ({n_bad} such triples; pass unseen='drop' or 'keep')")
    verb = "dropped" if unseen == "drop" else "kept"
    warnings.warn(f"{who}: {verb} {n_bad} of {n} {_SPLIT_NAMES[split]} triples with entities or "
                  f"relations unseen in training", UserWarning, stacklevel=3)


def _apply_unseen_labels(who: str, split: str, rows: list[LabelTriple], unseen: str,
                         ents: set[str], rels: set[str]) -> list[LabelTriple]:
    """Drop, keep (with a warning) or reject label triples unseen in training."""
    bad = [h not in ents or r not in rels or t not in ents for h, r, t in rows]
    n_bad = sum(bad)
    if n_bad == 0:
        return rows
    _report_unseen(who, split, unseen, n_bad, len(rows), rows[bad.index(True)])
    return [row for row, b in zip(rows, bad, strict=True) if not b] if unseen == "drop" else rows


def _apply_unseen_ids(who: str, split: str, triples: torch.Tensor, unseen: str,
                      seen: tuple[torch.Tensor, torch.Tensor], labels: tuple[list[str], list[str]]
                      ) -> torch.Tensor:
    """Id-level twin of :func:`_apply_unseen_labels` (ids already exist; keep adds none)."""
    bad = _unseen_mask(triples, *seen)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return triples
    h, r, t = triples[bad][0].tolist()
    _report_unseen(who, split, unseen, n_bad, len(triples),
                   (labels[0][h], labels[1][r], labels[0][t]))
    return triples[~bad] if unseen == "drop" else triples


# --------------------------------------------------------------------------- from labels


def _sorted_ids(labels: Iterable[str]) -> dict[str, int]:
    return {label: i for i, label in enumerate(sorted(set(labels)))}


def _extend_ids(mapping: dict[str, int], labels: Iterable[str]) -> int:
    """Append unseen labels (sorted) after the existing ids; return how many were added."""
    new = sorted(set(labels) - mapping.keys())
    for label in new:
        mapping[label] = len(mapping)
    return len(new)


def _map_labels(rows: list[LabelTriple], ent: dict[str, int], rel: dict[str, int]
                ) -> torch.Tensor:
    ids = [(ent[h], rel[r], ent[t]) for h, r, t in rows]
    return torch.tensor(ids, dtype=torch.long).reshape(-1, 3)


def from_label_triples(train: Iterable[LabelTriple], valid: Iterable[LabelTriple] = (),
                       test: Iterable[LabelTriple] = (), *, unseen: str = "drop",
                       name: str = "") -> KnowledgeGraph:
    """Build a :class:`KnowledgeGraph` from label triples.

    Ids are the sorted labels of the **training** triples, as in PyKEEN's
    ``TriplesFactory.from_labeled_triples``.

    Args:
        train: ``(head, relation, tail)`` label triples; must be non-empty.
        valid: Validation label triples.
        test: Test label triples.
        unseen: What to do with valid/test triples whose entity or relation does not occur in
            training: ``"drop"`` removes them, ``"keep"`` appends the new labels (sorted) after
            the training ids; both warn with the count per split. ``"error"`` raises.
        name: Dataset name.

    Returns:
        The graph with ``training``, ``validation``, ``testing`` as ``(n, 3)`` int64 ids.

    Raises:
        ValueError: Empty training set, bad ``unseen``, or ``unseen="error"`` with an unseen
            triple (names the first one).
    """
    who = "from_label_triples"
    _check_unseen(who, unseen)
    splits = {"train": list(train), "valid": list(valid), "test": list(test)}
    if not splits["train"]:
        raise ValueError(f"{who}: no training triples")
    ent = _sorted_ids(x for h, _, t in splits["train"] for x in (h, t))
    rel = _sorted_ids(r for _, r, _ in splits["train"])
    ents, rels = set(ent), set(rel)
    for split in ("valid", "test"):
        splits[split] = _apply_unseen_labels(who, split, splits[split], unseen, ents, rels)
    if unseen == "keep":
        held_out = splits["valid"] + splits["test"]
        n_e = _extend_ids(ent, (x for h, _, t in held_out for x in (h, t)))
        n_r = _extend_ids(rel, (r for _, r, _ in held_out))
        logger.info("%s: appended %d entities and %d relations unseen in training", who, n_e, n_r)
    return KnowledgeGraph(ent, rel, *(_map_labels(splits[s], ent, rel) for s in SPLITS),
                          name=name)


# --------------------------------------------------------------------------- dataset folders


def read_tsv_dataset(folder: str | os.PathLike[str], *, unseen: str = "drop") -> KnowledgeGraph:
    """Read ``train.txt`` and optional ``valid.txt``/``test.txt`` (each plain or ``.gz``).

    Args:
        folder: Directory with the split files (headerless label TSV).
        unseen: Policy for valid/test triples unseen in training; see :func:`from_label_triples`.

    Returns:
        The graph, named after the folder.

    Raises:
        FileNotFoundError: No training file.
        ValueError: Malformed lines (file and line named) or unseen triples with ``"error"``.
    """
    folder = Path(folder)
    train = _require_train("read_tsv_dataset", folder)
    rows = {}
    for split in SPLITS:
        path = train if split == "train" else _find_split(folder, split)
        rows[split] = read_label_triples(path) if path is not None else []
    logger.info("read_tsv_dataset: %s: %s", folder,
                ", ".join(f"{len(v)} {k}" for k, v in rows.items()))
    kg = from_label_triples(rows["train"], rows["valid"], rows["test"], unseen=unseen,
                            name=folder.name)
    table = _find_node_table(folder)
    if table is not None:
        kg.entity_names, kg.entity_kinds = read_node_table(table, kg.entity_to_id)
    return kg


NODE_TABLE_FILES = ("entities.tsv", "entities.tsv.gz")


def _find_node_table(folder: Path) -> Path | None:
    return next((folder / f for f in NODE_TABLE_FILES if (folder / f).is_file()), None)


def read_node_table(path: str | os.PathLike[str], entity_to_id: dict[str, int]
                    ) -> tuple[dict[int, str], dict[int, str]]:
    """Read a node table ``id<TAB>name<TAB>kind`` with a header line (Hetionet, KGX, ROBOKOP).

    The header names the columns; ``id`` is required, ``name`` and ``kind`` (or KGX's
    ``category``) are optional and any other columns are ignored. Rows whose id is not an entity
    of the graph are counted and logged, not an error (node tables often list more nodes).

    Args:
        path: The table (plain or ``.gz``).
        entity_to_id: The graph's entity label -> id map.

    Returns:
        ``(names, kinds)``: display names and kinds by entity id (empty values omitted).

    Raises:
        ValueError: No ``id`` column, or a line with the wrong number of columns (names the file
            and the 1-based line).
    """
    path = Path(path)
    with _open_text(path) as f:
        header = f.readline().lstrip("\ufeff").rstrip("\r\n").split("\t")
    columns = {c.strip().lower(): j for j, c in enumerate(header)}
    if "id" not in columns:
        raise ValueError(f"read_node_table: line 1 of {path} must be a header with an 'id' "
                         f"column, got {header!r}")
    name_col = columns.get("name")
    kind_col = columns.get("kind", columns.get("category"))
    names: dict[int, str] = {}
    kinds: dict[int, str] = {}
    unknown = 0
    for lineno, fields in _iter_rows(path, len(header), "read_node_table", skip=1,
                                     allow_empty=True):
        i = entity_to_id.get(fields[columns["id"]])
        if i is None:
            unknown += 1
            continue
        if name_col is not None and fields[name_col]:
            names[i] = fields[name_col]
        if kind_col is not None and fields[kind_col]:
            kinds[i] = fields[kind_col]
    if unknown:
        logger.info("read_node_table: %s: %d rows name no entity of the graph", path, unknown)
    return names, kinds


def read_seed_dataset(folder: str | os.PathLike[str], *, unseen: str = "drop") -> KnowledgeGraph:
    """Read the seed project's layout, keeping its ids.

    Files: ``node_dict.txt`` (``CURIE<TAB>idx``), ``rel_dict.txt`` (``predicate:N<TAB>idx``),
    ``train.txt`` and optional ``valid.txt``/``test.txt`` (``CURIE<TAB>predicate:N<TAB>CURIE``,
    each plain or ``.gz``), optional ``node_name_dict.txt`` (``name<TAB>idx``, entity display
    names) and optional ``edge_map.json`` (``{qualifier JSON: "predicate:N"}``, relation display
    names such as ``biolink:affects (object_aspect_qualifier=activity)``).

    Args:
        folder: The dataset directory.
        unseen: Policy for valid/test triples whose entity or relation occurs in no training
            triple (the id exists, but its embedding is never trained): ``"drop"``, ``"keep"``
            (both warn with the count) or ``"error"``.

    Returns:
        The graph with the dictionaries' ids.

    Raises:
        FileNotFoundError: Missing ``node_dict.txt``, ``rel_dict.txt`` or training file.
        ValueError: Malformed line, non-integer/duplicate/non-contiguous index, or a triple with
            a label missing from the dictionaries (each names the file and 1-based line).
    """
    who = "read_seed_dataset"
    _check_unseen(who, unseen)
    folder = Path(folder)
    ent, rel = read_seed_dicts(folder, who)
    train = read_seed_split(_require_train(who, folder), ent, rel, who)
    kg = KnowledgeGraph(ent, rel, train, name=folder.name)
    seen = _seen_in(train, len(ent), len(rel))
    for split, attr in (("valid", "validation"), ("test", "testing")):
        path = _find_split(folder, split)
        if path is not None:
            triples = read_seed_split(path, ent, rel, who)
            labels = (kg.id_to_entity, kg.id_to_relation)
            setattr(kg, attr, _apply_unseen_ids(who, split, triples, unseen, seen, labels))
    kg.entity_names, kg.relation_names = read_seed_names(folder, ent, rel, who)
    return kg


def read_pykeen_dataset(folder: str | os.PathLike[str]) -> KnowledgeGraph:
    """A :class:`KnowledgeGraph` with PyKEEN's training triples and ids (no valid/test)."""
    ent, rel, triples = read_pykeen_triples(folder)
    return KnowledgeGraph(ent, rel, triples, name=Path(folder).resolve().name)


# --------------------------------------------------------------------------- load_dataset


def data_dir() -> Path:
    """Directory holding ``<name>/{train,valid,test}.txt[.gz]`` datasets.

    ``$KGIF_DATA_DIR`` if set; otherwise the first ``<ancestor>/shared/data`` that exists,
    looking from the repository root's parent upwards; otherwise the repository root's sibling
    ``shared/data`` (which may not exist).
    """
    env = os.environ.get("KGIF_DATA_DIR")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parents[1]
    candidates = [p / "shared" / "data" for p in repo_root.parents]
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _detect_reader(folder: Path) -> Callable[..., KnowledgeGraph]:
    if is_seed_folder(folder):
        return read_seed_dataset
    if (folder / PYKEEN_TRIPLES_FILE).is_file() or (folder / "training_triples").is_dir():
        return _read_pykeen_ignoring_unseen
    return read_tsv_dataset


def _read_pykeen_ignoring_unseen(folder: Path, *, unseen: str) -> KnowledgeGraph:
    del unseen  # a PyKEEN folder holds training triples only
    return read_pykeen_dataset(folder)


def _canonical_name(name: str) -> str | None:
    key = name.lower().replace("-", "").replace("_", "")
    return key if key in KNOWN_DATASETS else None


def _pykeen_bundled_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec("pykeen")  # locates the package without importing it
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "datasets" / name


def _dataset_candidates(name: str) -> list[Path]:
    candidates = [data_dir() / name]
    if name in PYKEEN_BUNDLED:
        bundled = _pykeen_bundled_dir(name)
        if bundled is not None:
            candidates.append(bundled)
    return candidates


def load_dataset(name_or_path: str | os.PathLike[str], *, unseen: str = "drop"
                 ) -> KnowledgeGraph:
    """Load a dataset by folder path or by name.

    A folder is read as the seed layout if it has ``node_dict.txt``, as a PyKEEN folder if it
    has ``numeric_triples.tsv.gz`` or ``training_triples/``, else as TSV splits. A name among
    ``umls, kinships, nations, wn18rr, fb15k237`` (case-insensitive, ``fb15k-237`` accepted) is
    read from ``data_dir()/<name>/``, else, for the first three, from the copy bundled with an
    installed pykeen.

    Args:
        name_or_path: Folder or dataset name.
        unseen: Policy for valid/test triples unseen in training (see
            :func:`from_label_triples`); ignored for PyKEEN folders.

    Returns:
        The loaded graph.

    Raises:
        FileNotFoundError: Neither an existing folder nor a findable known dataset (lists the
            places searched).
    """
    path = Path(name_or_path)
    if path.is_dir():
        return _detect_reader(path)(path, unseen=unseen)
    name = _canonical_name(str(name_or_path))
    if name is None:
        raise FileNotFoundError(f"load_dataset: {str(name_or_path)!r} is neither a folder nor a "
                                f"known dataset name ({', '.join(KNOWN_DATASETS)})")
    candidates = _dataset_candidates(name)
    for folder in candidates:
        if _find_split(folder, "train") is not None:
            logger.info("load_dataset: %s from %s", name, folder)
            kg = read_tsv_dataset(folder, unseen=unseen)
            kg.name = name
            return kg
    raise FileNotFoundError(f"load_dataset: dataset {name!r} not found; looked for train.txt[.gz] "
                            f"in {', '.join(map(str, candidates))} (set KGIF_DATA_DIR)")
