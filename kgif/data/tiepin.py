"""The seed project's dataset layout: id dictionaries, label splits and display names.

Files in a seed dataset folder:

- ``node_dict.txt``: ``CURIE<TAB>idx`` entity ids, contiguous ``0..N-1``;
- ``rel_dict.txt``: ``predicate:N<TAB>idx`` relation ids, contiguous ``0..R-1``;
- ``train.txt`` and optional ``valid.txt``/``test.txt`` (plain or ``.gz``):
  ``CURIE<TAB>predicate:N<TAB>CURIE``;
- optional ``node_name_dict.txt``: ``name<TAB>idx`` entity display names;
- optional ``edge_map.json``: ``{qualifier JSON: "predicate:N"}``, relation display names such as
  ``biolink:affects (object_aspect_qualifier=activity)``.

The readers here return plain dicts and tensors; :func:`kgif.data.datasets.read_seed_dataset`
assembles them into a :class:`kgif.data.graph.KnowledgeGraph` and applies the unseen policy.
Every reader takes
``who``, the public function named in its error messages.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from kgif.data.tsv import _iter_label_triples, _parse_index, iter_label_rows

logger = logging.getLogger(__name__)

ENTITY_DICT_FILE = "node_dict.txt"
RELATION_DICT_FILE = "rel_dict.txt"
ENTITY_NAMES_FILE = "node_name_dict.txt"
EDGE_MAP_FILE = "edge_map.json"


def is_seed_folder(folder: Path) -> bool:
    """Whether ``folder`` has the seed layout (holds ``node_dict.txt``)."""
    return (folder / ENTITY_DICT_FILE).is_file()


def read_seed_dicts(folder: Path, who: str) -> tuple[dict[str, int], dict[str, int]]:
    """``(entity_to_id, relation_to_id)`` from ``node_dict.txt`` and ``rel_dict.txt``.

    Raises:
        FileNotFoundError: A dictionary file is missing.
        ValueError: Malformed line, non-integer/duplicate/non-contiguous index or repeated label
            (file and 1-based line named).
    """
    return (_read_id_map(folder / ENTITY_DICT_FILE, who),
            _read_id_map(folder / RELATION_DICT_FILE, who))


def _read_id_map(path: Path, who: str) -> dict[str, int]:
    """Read ``label<TAB>idx`` lines; labels and ids unique, ids contiguous ``0..n-1``."""
    mapping: dict[str, int] = {}
    line_of_id: dict[int, int] = {}
    for lineno, (label, text) in iter_label_rows(path, 2, who):
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


def read_seed_split(path: Path, ent: dict[str, int], rel: dict[str, int], who: str
                    ) -> torch.Tensor:
    """Map a ``CURIE<TAB>predicate:N<TAB>CURIE`` split file through the seed dictionaries.

    Returns:
        ``(n, 3)`` int64 ``(head, relation, tail)`` ids.

    Raises:
        ValueError: Malformed line, or a label missing from ``node_dict.txt``/``rel_dict.txt``
            (file and 1-based line named).
    """
    ids = []
    for lineno, (h, r, t) in _iter_label_triples(path, who):
        for label, mapping, what in ((h, ent, "entity"), (r, rel, "relation"), (t, ent, "entity")):
            if label not in mapping:
                dict_file = ENTITY_DICT_FILE if what == "entity" else RELATION_DICT_FILE
                raise ValueError(f"{who}: line {lineno} of {path} has {what} {label!r}, "
                                 f"which is not in {dict_file}")
        ids.append((ent[h], rel[r], ent[t]))
    return torch.tensor(ids, dtype=torch.long).reshape(-1, 3)


def read_seed_names(folder: Path, entity_to_id: dict[str, int], relation_to_id: dict[str, int],
                    who: str) -> tuple[dict[int, str], dict[int, str]]:
    """Display names ``(entity_names, relation_names)`` by id from the optional name files.

    Either dict is empty when its file (``node_name_dict.txt``, ``edge_map.json``) is absent.

    Raises:
        ValueError: Malformed line, out-of-range index or invalid JSON (file and line named).
    """
    entity_names: dict[int, str] = {}
    relation_names: dict[int, str] = {}
    if (folder / ENTITY_NAMES_FILE).is_file():
        entity_names = _read_entity_names(folder / ENTITY_NAMES_FILE, len(entity_to_id), who)
    if (folder / EDGE_MAP_FILE).is_file():
        relation_names = _read_edge_map(folder / EDGE_MAP_FILE, relation_to_id, who)
    return entity_names, relation_names


def _read_entity_names(path: Path, n_ent: int, who: str) -> dict[int, str]:
    """``node_name_dict.txt``: ``name<TAB>idx`` display names (names may repeat)."""
    names: dict[int, str] = {}
    for lineno, (name, text) in iter_label_rows(path, 2, who):
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
