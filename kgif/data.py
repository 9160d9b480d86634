"""Knowledge graphs as id maps plus mapped triples, and the readers and writers around them.

A :class:`KnowledgeGraph` holds entity and relation id maps and three ``(n, 3)`` int64 tensors of
``(head, relation, tail)`` ids with **base** relation ids ``0..R-1``. Reciprocal (inverse)
relations follow PyKEEN's numbering and are added only on demand by :func:`with_reciprocals`:
base relation ``k`` becomes forward id ``2k`` and inverse id ``2k + 1``.

Formats read and written here:

- label TSV (``head<TAB>relation<TAB>tail``, plain or ``.gz``): :func:`read_label_triples`,
  :func:`write_label_triples`, :func:`read_tsv_dataset`;
- the seed project's layout (``node_dict.txt``, ``rel_dict.txt``, optional ``edge_map.json`` and
  ``node_name_dict.txt``): :func:`read_seed_dataset`;
- PyKEEN's ``TriplesFactory.to_path_binary`` folder: :func:`read_pykeen_triples`,
  :func:`write_pykeen_triples`.

:func:`load_dataset` picks the right reader for a folder or a known dataset name.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import gzip
import importlib.util
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import IO

import torch

logger = logging.getLogger(__name__)

LabelTriple = tuple[str, str, str]
UNSEEN_POLICIES = ("drop", "keep", "error")
KNOWN_DATASETS = ("umls", "kinships", "nations", "wn18rr", "fb15k237")
PYKEEN_BUNDLED = ("umls", "kinships", "nations")  # shipped inside the pykeen wheel
SPLITS = ("train", "valid", "test")
_SPLIT_NAMES = {"train": "training", "valid": "validation", "test": "test"}
_NUM_CLOSE_MATCHES = 3


# --------------------------------------------------------------------------- KnowledgeGraph


def _empty_triples() -> torch.Tensor:
    return torch.empty(0, 3, dtype=torch.long)


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

    def resolve_entity(self, x: str | int) -> int:
        """Entity id from a label, an integer id or a digit string id.

        Labels take precedence over digit strings (WN18RR labels are digits).

        Raises:
            KeyError: Unknown entity; the message names ``x`` and suggests close labels.
        """
        return _resolve("entity", x, self.entity_to_id)

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


def _as_triples(where: str, triples: torch.Tensor) -> torch.Tensor:
    triples = torch.as_tensor(triples)
    if triples.numel() == 0:
        return _empty_triples()
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"{where}: expected shape (n, 3), got {tuple(triples.shape)}")
    if triples.dtype.is_floating_point or triples.dtype == torch.bool or triples.is_complex():
        raise ValueError(f"{where}: expected an integer dtype, got {triples.dtype}")
    return triples.long()


def _check_id_range(where: str, triples: torch.Tensor, n_ent: int, n_rel: int) -> None:
    if len(triples) == 0:
        return
    for col, bound, what in ((0, n_ent, "head"), (1, n_rel, "relation"), (2, n_ent, "tail")):
        lo, hi = int(triples[:, col].min()), int(triples[:, col].max())
        if lo < 0 or hi >= bound:
            raise ValueError(f"{where}: {what} ids span {lo}..{hi}, outside 0..{bound - 1}")


def _resolve(what: str, x: str | int, mapping: dict[str, int]) -> int:
    if isinstance(x, str) and x in mapping:
        return mapping[x]
    i = _as_int(x)
    if i is not None and 0 <= i < len(mapping):
        return i
    close = difflib.get_close_matches(str(x), list(mapping), n=_NUM_CLOSE_MATCHES)
    hint = f"; close matches: {', '.join(map(repr, close))}" if close else ""
    raise KeyError(f"resolve_{what}: unknown {what} {x!r} (not a label and not an id in "
                   f"0..{len(mapping) - 1}){hint}")


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit()


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


# --------------------------------------------------------------------------- text I/O helpers


def _open_text(path: Path, mode: str = "r") -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


@contextlib.contextmanager
def _atomic_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Write a text file (gzip if ``.gz``) to a temporary sibling, then ``os.replace`` it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        with _open_text(Path(tmp), "w") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _iter_rows(path: Path, columns: int, who: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` of a headerless TSV, skipping blank lines."""
    with _open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != columns:
                raise ValueError(f"{who}: line {lineno} of {path} has {len(fields)} columns, "
                                 f"expected {columns}")
            if any(not x.strip() for x in fields):
                raise ValueError(f"{who}: line {lineno} of {path} has an empty field")
            yield lineno, fields


def _iter_label_triples(path: Path, who: str) -> Iterator[tuple[int, LabelTriple]]:
    for lineno, (h, r, t) in _iter_rows(path, 3, who):  # noqa: UP028 (list -> tuple)
        yield lineno, (h, r, t)


def read_label_triples(path: str | os.PathLike[str]) -> list[LabelTriple]:
    """Read a headerless ``head<TAB>relation<TAB>tail`` file (plain or ``.gz``).

    Blank lines are skipped; labels are kept verbatim (no whitespace stripping).

    Returns:
        ``(head, relation, tail)`` label tuples in file order.

    Raises:
        ValueError: A line without exactly 3 non-empty tab-separated columns (names the file
            and the 1-based line number).
        FileNotFoundError: If ``path`` does not exist.
    """
    return [t for _, t in _iter_label_triples(Path(path), "read_label_triples")]


def write_label_triples(path: str | os.PathLike[str], triples: Iterable[LabelTriple]) -> None:
    """Write label triples as headerless TSV, gzip-compressed if ``path`` ends in ``.gz``.

    The file is written to a temporary sibling and moved into place atomically.

    Raises:
        ValueError: A triple without 3 elements, or a label that is empty or contains a tab or
            newline (it could not be read back).
    """
    with _atomic_text(path) as f:
        for i, row in enumerate(triples):
            _check_writable_row(i, row)
            f.write("\t".join(row) + "\n")


def _check_writable_row(i: int, row: tuple[str, ...]) -> None:
    if len(row) != 3:
        raise ValueError(f"write_label_triples: triple {i} has {len(row)} elements, expected 3")
    for label in row:
        if not isinstance(label, str) or not label.strip() or any(c in label for c in "\t\r\n"):
            raise ValueError(f"write_label_triples: triple {i} has an unwritable label "
                             f"{label!r} (empty, not a str, or containing a tab or newline)")


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


def _warn_unseen(who: str, verb: str, n_bad: int, n: int, split: str) -> None:
    warnings.warn(f"{who}: {verb} {n_bad} of {n} {_SPLIT_NAMES[split]} triples with entities or "
                  f"relations unseen in training", UserWarning, stacklevel=3)


def _unseen_label_rows(rows: list[LabelTriple], ents: set[str], rels: set[str]) -> list[bool]:
    return [h not in ents or r not in rels or t not in ents for h, r, t in rows]


def _apply_unseen_labels(who: str, split: str, rows: list[LabelTriple], unseen: str,
                         ents: set[str], rels: set[str]) -> list[LabelTriple]:
    """Drop, keep (with a warning) or reject label triples unseen in training."""
    bad = _unseen_label_rows(rows, ents, rels)
    n_bad = sum(bad)
    if n_bad == 0:
        return rows
    if unseen == "error":
        first = rows[bad.index(True)]
        raise ValueError(f"{who}: {_SPLIT_NAMES[split]} triple {first} has an entity or relation "
                         f"unseen in training ({n_bad} such triples; pass unseen='drop' or 'keep')")
    _warn_unseen(who, "dropped" if unseen == "drop" else "kept", n_bad, len(rows), split)
    if unseen == "drop":
        return [row for row, b in zip(rows, bad, strict=True) if not b]
    return rows


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


# --------------------------------------------------------------------------- TSV datasets


def _find_split(folder: Path, split: str) -> Path | None:
    """``<split>.txt`` or ``<split>.txt.gz`` in ``folder`` (plain preferred), else None."""
    for candidate in (folder / f"{split}.txt", folder / f"{split}.txt.gz"):
        if candidate.is_file():
            return candidate
    return None


def _require_train(who: str, folder: Path) -> Path:
    path = _find_split(folder, "train")
    if path is None:
        raise FileNotFoundError(f"{who}: no train.txt or train.txt.gz in {folder}")
    return path


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
    return from_label_triples(rows["train"], rows["valid"], rows["test"], unseen=unseen,
                              name=folder.name)


# --------------------------------------------------------------------------- seed layout


def _parse_index(who: str, path: Path, lineno: int, text: str) -> int:
    if not _is_index(text.strip()):
        raise ValueError(f"{who}: line {lineno} of {path} has index {text!r}, expected a "
                         f"non-negative integer")
    return int(text)


def _read_id_map(path: Path, who: str) -> dict[str, int]:
    """Read ``label<TAB>idx`` lines; labels and ids unique, ids contiguous ``0..n-1``."""
    mapping: dict[str, int] = {}
    line_of_id: dict[int, int] = {}
    for lineno, (label, text) in _iter_rows(path, 2, who):
        idx = _parse_index(who, path, lineno, text)
        if label in mapping:
            raise ValueError(f"{who}: line {lineno} of {path} repeats label {label!r}")
        if idx in line_of_id:
            raise ValueError(f"{who}: line {lineno} of {path} repeats index {idx} "
                             f"(first on line {line_of_id[idx]})")
        mapping[label] = idx
        line_of_id[idx] = lineno
    for idx, lineno in line_of_id.items():
        if idx >= len(mapping):
            raise ValueError(f"{who}: line {lineno} of {path} has index {idx}, but the "
                             f"{len(mapping)} indices must be contiguous 0..{len(mapping) - 1}")
    return mapping


def _read_seed_split(path: Path, ent: dict[str, int], rel: dict[str, int], who: str
                     ) -> torch.Tensor:
    ids = []
    for lineno, (h, r, t) in _iter_label_triples(path, who):
        for label, mapping, what in ((h, ent, "entity"), (r, rel, "relation"), (t, ent, "entity")):
            if label not in mapping:
                dict_file = "node_dict.txt" if what == "entity" else "rel_dict.txt"
                raise ValueError(f"{who}: line {lineno} of {path} has {what} {label!r}, "
                                 f"which is not in {dict_file}")
        ids.append((ent[h], rel[r], ent[t]))
    return torch.tensor(ids, dtype=torch.long).reshape(-1, 3)


def _read_entity_names(path: Path, n_ent: int, who: str) -> dict[int, str]:
    """``node_name_dict.txt``: ``name<TAB>idx`` display names (names may repeat)."""
    names: dict[int, str] = {}
    for lineno, (name, text) in _iter_rows(path, 2, who):
        idx = _parse_index(who, path, lineno, text)
        if idx >= n_ent:
            raise ValueError(f"{who}: line {lineno} of {path} has index {idx}, but there are "
                             f"only {n_ent} entities in node_dict.txt")
        names[idx] = name
    return names


def _qualifier_display(qualifier: str) -> str:
    """``biolink:affects (object_aspect_qualifier=activity)`` from a seed qualifier JSON."""
    try:
        obj = json.loads(qualifier)
    except json.JSONDecodeError:
        return qualifier
    if not isinstance(obj, dict) or "predicate" not in obj:
        return qualifier
    extra = [f"{k}={v}" for k, v in sorted(obj.items()) if k != "predicate" and v not in ("", None)]
    return f"{obj['predicate']} ({', '.join(extra)})" if extra else str(obj["predicate"])


def _read_edge_map(path: Path, rel: dict[str, int], who: str) -> dict[int, str]:
    """``edge_map.json``: ``{qualifier JSON string: "predicate:N"}`` -> display names by id."""
    try:
        edge_map = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{who}: line {err.lineno} of {path} is not valid JSON: {err.msg}"
                         ) from err
    if not isinstance(edge_map, dict):
        raise ValueError(f"{who}: {path} must hold a JSON object, got {type(edge_map).__name__}")
    names: dict[int, str] = {}
    for qualifier, label in edge_map.items():
        if not isinstance(label, str):
            raise ValueError(f"{who}: {path} maps {qualifier!r} to {label!r}, expected a string")
        if label in rel:
            names.setdefault(rel[label], _qualifier_display(qualifier))
    logger.info("%s: %d of %d relations named by %s", who, len(names), len(rel), path.name)
    return names


def _apply_unseen_ids(who: str, split: str, triples: torch.Tensor, unseen: str,
                      seen: tuple[torch.Tensor, torch.Tensor], labels: tuple[list[str], list[str]]
                      ) -> torch.Tensor:
    """Id-level twin of :func:`_apply_unseen_labels` (ids already exist; keep adds none)."""
    bad = _unseen_mask(triples, *seen)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return triples
    if unseen == "error":
        h, r, t = triples[bad][0].tolist()
        first = (labels[0][h], labels[1][r], labels[0][t])
        raise ValueError(f"{who}: {_SPLIT_NAMES[split]} triple {first} has an entity or relation "
                         f"unseen in training ({n_bad} such triples; pass unseen='drop' or 'keep')")
    _warn_unseen(who, "dropped" if unseen == "drop" else "kept", n_bad, len(triples), split)
    return triples[~bad] if unseen == "drop" else triples


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
    ent = _read_id_map(folder / "node_dict.txt", who)
    rel = _read_id_map(folder / "rel_dict.txt", who)
    train = _read_seed_split(_require_train(who, folder), ent, rel, who)
    kg = KnowledgeGraph(ent, rel, train, name=folder.name)
    seen = _seen_in(train, len(ent), len(rel))
    for split, attr in (("valid", "validation"), ("test", "testing")):
        path = _find_split(folder, split)
        if path is not None:
            triples = _read_seed_split(path, ent, rel, who)
            labels = (kg.id_to_entity, kg.id_to_relation)
            setattr(kg, attr, _apply_unseen_ids(who, split, triples, unseen, seen, labels))
    if (folder / "node_name_dict.txt").is_file():
        kg.entity_names = _read_entity_names(folder / "node_name_dict.txt", len(ent), who)
    if (folder / "edge_map.json").is_file():
        kg.relation_names = _read_edge_map(folder / "edge_map.json", rel, who)
    return kg


# --------------------------------------------------------------------------- PyKEEN folders

PYKEEN_TRIPLES_FILE = "numeric_triples.tsv.gz"
PYKEEN_ENTITY_FILE = "entity_to_id.tsv.gz"
PYKEEN_RELATION_FILE = "relation_to_id.tsv.gz"
PYKEEN_BASE_FILE = "base.pth"


def _pykeen_folder(folder: Path) -> Path:
    if (folder / PYKEEN_TRIPLES_FILE).is_file():
        return folder
    if (folder / "training_triples" / PYKEEN_TRIPLES_FILE).is_file():
        return folder / "training_triples"
    raise FileNotFoundError(f"read_pykeen_triples: no {PYKEEN_TRIPLES_FILE} in {folder} or "
                            f"{folder / 'training_triples'}")


def _iter_csv(path: Path, header: list[str], who: str) -> Iterator[tuple[int, list[str]]]:
    """Rows of a pandas-written TSV (quoted as ``csv`` does) after checking its header."""
    with _open_text(path) as f:
        reader = csv.reader(f, delimiter="\t")
        first = next(reader, None)
        if first != header:
            raise ValueError(f"{who}: line 1 of {path} has header {first}, expected {header}")
        for row in reader:
            if len(row) != len(header):
                raise ValueError(f"{who}: line {reader.line_num} of {path} has {len(row)} "
                                 f"columns, expected {len(header)}")
            yield reader.line_num, row


def _read_pykeen_map(path: Path, who: str) -> dict[str, int]:
    mapping: dict[str, int] = {}
    for lineno, (text, label) in _iter_csv(path, ["id", "label"], who):
        idx = _parse_index(who, path, lineno, text)
        if label in mapping:
            raise ValueError(f"{who}: line {lineno} of {path} repeats label {label!r}")
        mapping[label] = idx
    return mapping


def _read_pykeen_numeric(path: Path, who: str) -> torch.Tensor:
    ids = [[_parse_index(who, path, lineno, x) for x in row]
           for lineno, row in _iter_csv(path, ["head", "relation", "tail"], who)]
    return torch.tensor(ids, dtype=torch.long).reshape(-1, 3)


def read_pykeen_triples(folder: str | os.PathLike[str]
                        ) -> tuple[dict[str, int], dict[str, int], torch.Tensor]:
    """Read a folder written by PyKEEN's ``TriplesFactory.to_path_binary``.

    Accepts the folder itself or its parent holding ``training_triples/`` (as PyKEEN's
    ``PipelineResult.save_to_directory`` writes). Reads ``entity_to_id.tsv.gz`` and
    ``relation_to_id.tsv.gz`` (header ``id<TAB>label``) and ``numeric_triples.tsv.gz``
    (header ``head<TAB>relation<TAB>tail``); ``base.pth`` is not needed. Ids are kept as-is.

    Returns:
        ``(entity_to_id, relation_to_id, triples)`` with triples ``(n, 3)`` int64 base ids.

    Raises:
        FileNotFoundError: No ``numeric_triples.tsv.gz``.
        ValueError: Wrong header, column count or non-integer id (file and line named).
    """
    who = "read_pykeen_triples"
    folder = _pykeen_folder(Path(folder))
    ent = _read_pykeen_map(folder / PYKEEN_ENTITY_FILE, who)
    rel = _read_pykeen_map(folder / PYKEEN_RELATION_FILE, who)
    return ent, rel, _read_pykeen_numeric(folder / PYKEEN_TRIPLES_FILE, who)


def _write_csv(path: Path, header: list[str], rows: Iterable[Iterable[object]]) -> None:
    with _atomic_text(path) as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_pykeen_triples(folder: str | os.PathLike[str], entity_to_id: dict[str, int],
                         relation_to_id: dict[str, int], triples: torch.Tensor, *,
                         create_inverse_triples: bool = False) -> None:
    """Write the files of PyKEEN's ``TriplesFactory.to_path_binary`` into ``folder``.

    Writes ``numeric_triples.tsv.gz``, ``entity_to_id.tsv.gz``, ``relation_to_id.tsv.gz`` (rows
    sorted by id, as PyKEEN does) and ``base.pth`` so that
    ``pykeen.triples.TriplesFactory.from_path_binary(folder)`` loads it.

    Args:
        folder: Output directory (created).
        entity_to_id: Entity label -> id.
        relation_to_id: Base relation label -> id.
        triples: ``(n, 3)`` int64 base ids.
        create_inverse_triples: Stored in ``base.pth`` for PyKEEN (not used by kgif).

    Raises:
        ValueError: If ``triples`` is not ``(n, 3)`` integer.
    """
    folder = Path(folder)
    triples = _as_triples("write_pykeen_triples", triples)
    _write_csv(folder / PYKEEN_TRIPLES_FILE, ["head", "relation", "tail"], triples.tolist())
    for name, mapping in ((PYKEEN_ENTITY_FILE, entity_to_id), (PYKEEN_RELATION_FILE,
                                                                relation_to_id)):
        rows = sorted((i, label) for label, i in mapping.items())
        _write_csv(folder / name, ["id", "label"], rows)
    state = {"num_entities": len(entity_to_id), "num_relations": len(relation_to_id),
             "create_inverse_triples": create_inverse_triples, "metadata": {}}
    tmp = folder / f".{PYKEEN_BASE_FILE}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / PYKEEN_BASE_FILE)


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
    if (folder / "node_dict.txt").is_file():
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
