"""Dataset reading: knowledge graphs from label triples, dataset folders and dataset names.

The graph itself (:class:`KnowledgeGraph`, the reciprocal numbering helpers, :class:`TailIndex`)
lives in :mod:`kgif.data.graph` and is re-exported here, so
``from kgif.data.datasets import KnowledgeGraph, with_reciprocals`` keeps working.

Graphs are built from label triples (:func:`from_label_triples`, with policies for valid/test
triples unseen in training and for repeated training triples) or read from a folder:

- label TSV splits (``train.txt`` and optional ``valid.txt``/``test.txt``, plain or ``.gz``):
  :func:`read_tsv_dataset`;
- the seed project's layout (``node_dict.txt``, ``rel_dict.txt``, optional ``edge_map.json`` and
  ``node_name_dict.txt``): :func:`read_seed_dataset`;
- PyKEEN's ``TriplesFactory.to_path_binary`` folder: :func:`read_pykeen_dataset`.

:func:`load_dataset` picks the right reader for a folder or a known dataset name. The file
formats themselves live in :mod:`kgif.data.tsv` (label TSV), :mod:`kgif.data.pykeen_folder`
(PyKEEN), :mod:`kgif.data.tiepin` (the seed project's layout) and :mod:`kgif.data.kgx` (KGX node
and edge files, read as all-training).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch

from kgif.data.biolink import most_specific_category
from kgif.data.graph import (
    KnowledgeGraph,
)
from kgif.data.pykeen_folder import PYKEEN_TRIPLES_FILE, read_pykeen_triples
from kgif.data.tiepin import is_seed_folder, read_seed_dicts, read_seed_names, read_seed_split
from kgif.data.tsv import (
    EncodedTriples,
    LabelTriple,
    _find_split,
    _require_train,
    iter_label_rows,
    read_encoded_triples,
)

__all__ = ["BUNDLED_DATASETS", "DUPLICATE_POLICIES", "KNOWN_DATASETS", "PYKEEN_BUNDLED", "SPLITS",
           "UNSEEN_POLICIES", "bundled_dir", "data_dir", "from_label_triples", "load_dataset",
           "read_node_table", "read_pykeen_dataset", "read_seed_dataset", "read_tsv_dataset"]

logger = logging.getLogger(__name__)

UNSEEN_POLICIES = ("drop", "keep", "error")
DUPLICATE_POLICIES = ("drop", "keep", "error")
KNOWN_DATASETS = ("umls", "kinships", "nations", "hetionet", "wn18rr", "fb15k237")
PYKEEN_BUNDLED = ("umls", "kinships", "nations")  # shipped inside the pykeen wheel
SPLITS = ("train", "valid", "test")
_SPLIT_NAMES = {"train": "training", "valid": "validation", "test": "test"}


# --------------------------------------------------------------------------- policies


def _check_policy(who: str, what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{who}: {what} must be one of {allowed}, got {value!r}")


def _check_unseen(who: str, unseen: str) -> None:
    _check_policy(who, "unseen", unseen, UNSEEN_POLICIES)


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


def _apply_unseen_ids(who: str, split: str, triples: torch.Tensor, unseen: str,
                      seen: tuple[torch.Tensor, torch.Tensor], labels: tuple[list[str], list[str]]
                      ) -> torch.Tensor:
    """Drop, keep (with a warning) or reject triples whose ids occur in no training triple."""
    bad = _unseen_mask(triples, *seen)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return triples
    h, r, t = triples[bad][0].tolist()
    _report_unseen(who, split, unseen, n_bad, len(triples),
                   (labels[0][h], labels[1][r], labels[0][t]))
    return triples[~bad] if unseen == "drop" else triples


def _first_occurrences(triples: torch.Tensor) -> torch.Tensor:
    """Row indices of the first occurrence of each distinct ``(h, r, t)`` row (int64)."""
    bounds = triples.max(0).values.long() + 1
    if float(bounds[0]) * float(bounds[1]) * float(bounds[2]) < 2.0**62:  # one int64 key per row
        keys = ((triples[:, 0] * bounds[1] + triples[:, 1]) * bounds[2] + triples[:, 2]).numpy()
        _, first = np.unique(keys, return_index=True)
    else:
        _, first = np.unique(triples.numpy(), axis=0, return_index=True)
    return torch.from_numpy(first).long()


def _apply_duplicates(who: str, triples: torch.Tensor, duplicates: str,
                      labels: tuple[list[str], list[str]]) -> torch.Tensor:
    """Count repeated training triples; drop the repeats (first occurrence kept), keep or raise.

    Both ``"drop"`` and ``"keep"`` log a warning with the count; nothing is dropped silently.
    """
    _check_policy(who, "duplicates", duplicates, DUPLICATE_POLICIES)
    if len(triples) < 2:
        return triples
    repeat = torch.ones(len(triples), dtype=torch.bool)
    repeat[_first_occurrences(triples)] = False
    n_rep = int(repeat.sum())
    if n_rep == 0:
        return triples
    h, r, t = triples[repeat][0].tolist()
    example = (labels[0][h], labels[1][r], labels[0][t])
    if duplicates == "error":
        raise ValueError(f"{who}: {n_rep} training triples repeat an earlier one, e.g. {example}; "
                         f"pass duplicates='drop' or 'keep'")
    verb = "dropped" if duplicates == "drop" else "kept"
    logger.warning("%s: %s %d repeated training triples of %d (e.g. %s); duplicates=%r", who,
                   verb, n_rep, len(triples), example, duplicates)
    return triples[~repeat] if duplicates == "drop" else triples


# --------------------------------------------------------------------------- from labels


def _label_ids(vocab: list[str], mapping: dict[str, int]) -> torch.Tensor:
    """``(len(vocab),)`` int64 id of each vocabulary label, ``-1`` where unknown."""
    return torch.tensor([mapping.get(label, -1) for label in vocab], dtype=torch.long)


def _map_encoded(enc: EncodedTriples, ent: dict[str, int], rel: dict[str, int]) -> torch.Tensor:
    """``(n, 3)`` int64 ids of encoded triples (``-1`` for labels not in the maps)."""
    codes = torch.from_numpy(enc.codes).long()
    e, r = _label_ids(enc.entities, ent), _label_ids(enc.relations, rel)
    return torch.stack([e[codes[:, 0]], r[codes[:, 1]], e[codes[:, 2]]], 1).reshape(-1, 3)


def _used(enc: EncodedTriples) -> tuple[set[str], set[str]]:
    """Entity and relation labels that occur in ``enc`` (vocabularies may hold unused ones)."""
    ent_used = np.zeros(len(enc.entities), dtype=bool)
    ent_used[enc.codes[:, 0]] = True
    ent_used[enc.codes[:, 2]] = True
    rel_used = np.zeros(len(enc.relations), dtype=bool)
    rel_used[enc.codes[:, 1]] = True
    return ({enc.entities[i] for i in np.flatnonzero(ent_used).tolist()},
            {enc.relations[i] for i in np.flatnonzero(rel_used).tolist()})


def _extend_ids(mapping: dict[str, int], labels: Iterable[str]) -> int:
    """Append unseen labels (sorted) after the existing ids; return how many were added."""
    new = sorted(set(labels) - mapping.keys())
    for label in new:
        mapping[label] = len(mapping)
    return len(new)


def _held_out(who: str, split: str, enc: EncodedTriples, ent: dict[str, int],
              rel: dict[str, int], unseen: str) -> EncodedTriples:
    """``enc`` after the unseen policy (``"drop"`` removes triples with unknown labels)."""
    bad = (_map_encoded(enc, ent, rel) < 0).any(1)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return enc
    _report_unseen(who, split, unseen, n_bad, len(enc), enc.row(int(bad.nonzero()[0, 0])))
    if unseen == "keep":
        return enc
    return EncodedTriples(enc.codes[~bad.numpy()], enc.entities, enc.relations)


def _graph_from_encoded(who: str, splits: dict[str, EncodedTriples], unseen: str,
                        duplicates: str, name: str) -> KnowledgeGraph:
    """Label-sorted ids from the training triples, then the unseen and duplicate policies."""
    _check_unseen(who, unseen)
    _check_policy(who, "duplicates", duplicates, DUPLICATE_POLICIES)
    if len(splits["train"]) == 0:
        raise ValueError(f"{who}: no training triples")
    ents, rels = _used(splits["train"])
    ent = {label: i for i, label in enumerate(sorted(ents))}
    rel = {label: i for i, label in enumerate(sorted(rels))}
    for split in ("valid", "test"):
        splits[split] = _held_out(who, split, splits[split], ent, rel, unseen)
    if unseen == "keep":
        held = [_used(splits[s]) for s in ("valid", "test")]
        n_e = _extend_ids(ent, held[0][0] | held[1][0])
        n_r = _extend_ids(rel, held[0][1] | held[1][1])
        logger.info("%s: appended %d entities and %d relations unseen in training", who, n_e, n_r)
    triples = {s: _map_encoded(splits[s], ent, rel) for s in SPLITS}
    labels = (_invert_ids(ent), _invert_ids(rel))
    train = _apply_duplicates(who, triples["train"], duplicates, labels)
    return KnowledgeGraph(ent, rel, train, triples["valid"], triples["test"], name=name)


def _invert_ids(mapping: dict[str, int]) -> list[str]:
    labels = [""] * len(mapping)
    for label, i in mapping.items():
        labels[i] = label
    return labels


def from_label_triples(train: Iterable[LabelTriple], valid: Iterable[LabelTriple] = (),
                       test: Iterable[LabelTriple] = (), *, unseen: str = "drop",
                       duplicates: str = "drop", name: str = "") -> KnowledgeGraph:
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
        duplicates: What to do with training triples that repeat an earlier one: ``"drop"``
            (default; PyKEEN's ``TriplesFactory`` also keeps each triple once) keeps the first
            occurrence, ``"keep"`` keeps them all (they then count twice in training and appear
            twice as TracIn proponents); both log a warning with the count. ``"error"`` raises.
        name: Dataset name.

    Returns:
        The graph with ``training``, ``validation``, ``testing`` as ``(n, 3)`` int64 ids.

    Raises:
        ValueError: Empty training set, a bad policy, ``unseen="error"`` with an unseen triple
            or ``duplicates="error"`` with a repeated one (names the first one).
    """
    splits = {"train": EncodedTriples.from_labels(train),
              "valid": EncodedTriples.from_labels(valid),
              "test": EncodedTriples.from_labels(test)}
    return _graph_from_encoded("from_label_triples", splits, unseen, duplicates, name)


# --------------------------------------------------------------------------- dataset folders


def read_tsv_dataset(folder: str | os.PathLike[str], *, unseen: str = "drop",
                     duplicates: str = "drop") -> KnowledgeGraph:
    """Read ``train.txt`` and optional ``valid.txt``/``test.txt`` (each plain or ``.gz``).

    Files are read vectorised (:func:`kgif.data.tsv.read_encoded_triples`: pyarrow or pandas when
    installed); a UTF-8 BOM is removed and an obvious header line skipped. A node table
    ``entities.tsv[.gz]`` beside them gives names and kinds (:func:`read_node_table`).

    Args:
        folder: Directory with the split files (label TSV).
        unseen: Policy for valid/test triples unseen in training; see :func:`from_label_triples`.
        duplicates: Policy for repeated training triples; see :func:`from_label_triples`.

    Returns:
        The graph, named after the folder.

    Raises:
        FileNotFoundError: No training file.
        ValueError: Malformed lines, invalid UTF-8 or damaged gzip (file and line named), or
            unseen/duplicate triples with ``"error"``.
    """
    who = "read_tsv_dataset"
    folder = Path(folder)
    train = _require_train(who, folder)
    splits = {}
    for split in SPLITS:
        path = train if split == "train" else _find_split(folder, split)
        splits[split] = (read_encoded_triples(path, who) if path is not None
                         else EncodedTriples.from_labels(()))
    logger.info("%s: %s: %s", who, folder, ", ".join(f"{len(v)} {k}" for k, v in splits.items()))
    kg = _graph_from_encoded(who, splits, unseen, duplicates, folder.name)
    table = _find_node_table(folder)
    if table is not None:
        kg.entity_names, kg.entity_kinds, kg.entity_categories = _read_node_columns(
            table, kg.entity_to_id)
    return kg


NODE_TABLE_FILES = ("entities.tsv", "entities.tsv.gz")


def _find_node_table(folder: Path) -> Path | None:
    return next((folder / f for f in NODE_TABLE_FILES if (folder / f).is_file()), None)


def _read_header(path: Path) -> list[str]:
    """First line of a table, BOM removed, split on tabs (``ValueError`` naming a bad file)."""
    for _, fields in iter_label_rows(path, -1, "read_node_table", allow_empty=True):
        return fields
    raise ValueError(f"read_node_table: {path} is empty; expected a header line with an 'id' "
                     f"column")


def read_node_table(path: str | os.PathLike[str], entity_to_id: dict[str, int]
                    ) -> tuple[dict[int, str], dict[int, str]]:
    """Read a node table ``id<TAB>name<TAB>kind`` with a header line (Hetionet, KGX, ROBOKOP).

    The header names the columns; ``id`` is required, ``name`` and ``kind`` (or KGX's
    ``category``) are optional and any other columns are ignored. A ``category`` may list
    several ``|``-separated Biolink categories; without a ``kind`` column the most specific one
    is the kind (:func:`kgif.data.biolink.most_specific_category`). Rows whose id is not an
    entity of the graph are counted and logged, not an error (node tables often list more
    nodes).

    Args:
        path: The table (plain or ``.gz``).
        entity_to_id: The graph's entity label -> id map.

    Returns:
        ``(names, kinds)``: display names and kinds by entity id (empty values omitted).

    Raises:
        ValueError: No ``id`` column, or a line with the wrong number of columns (names the file
            and the 1-based line).
    """
    names, kinds, _ = _read_node_columns(Path(path), entity_to_id)
    return names, kinds


def _read_node_columns(path: Path, entity_to_id: dict[str, int]
                       ) -> tuple[dict[int, str], dict[int, str], dict[int, tuple[str, ...]]]:
    """:func:`read_node_table` plus the ``|``-separated ``category`` lists by entity id."""
    header = _read_header(path)
    columns = {c.strip().lower(): j for j, c in enumerate(header)}
    if "id" not in columns:
        raise ValueError(f"read_node_table: line 1 of {path} must be a header with an 'id' "
                         f"column, got {header!r}")
    name_col, kind_col, cat_col = (columns.get(c) for c in ("name", "kind", "category"))
    names: dict[int, str] = {}
    kinds: dict[int, str] = {}
    categories: dict[int, tuple[str, ...]] = {}
    unknown = 0
    for _lineno, fields in iter_label_rows(path, len(header), "read_node_table", skip=1,
                                     allow_empty=True):
        i = entity_to_id.get(fields[columns["id"]])
        if i is None:
            unknown += 1
            continue
        if name_col is not None and fields[name_col]:
            names[i] = fields[name_col]
        listed = _split_categories(fields[cat_col]) if cat_col is not None else ()
        if listed:
            categories[i] = listed
        if kind_col is not None and fields[kind_col]:
            kinds[i] = fields[kind_col]
        elif kind_col is None and listed:
            kinds[i] = most_specific_category(listed)
    if unknown:
        logger.info("read_node_table: %s: %d rows name no entity of the graph", path, unknown)
    return names, kinds, categories


def _split_categories(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split("|") if x.strip())


def read_seed_dataset(folder: str | os.PathLike[str], *, unseen: str = "drop",
                      duplicates: str = "drop") -> KnowledgeGraph:
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
        duplicates: Policy for repeated training triples; see :func:`from_label_triples`.

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
    train = _apply_duplicates(who, train, duplicates, (_invert_ids(ent), _invert_ids(rel)))
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

#: Datasets shipped as package data in ``kgif/data/bundled/<name>/`` (see its ``PROVENANCE.md``).
BUNDLED_DATASETS = ("umls", "kinships", "nations", "hetionet")
_DATA_HINT = ("download it (e.g. the ConvE repository, github.com/TimDettmers/ConvE, or PyKEEN's "
              "dataset classes) into a folder <dir>/<name>/ holding train.txt[.gz], "
              "valid.txt[.gz] and test.txt[.gz], then set KGIF_DATA_DIR=<dir> or pass the folder")


def bundled_dir() -> Path:
    """The folder of the datasets bundled with kgif (``kgif/data/bundled``)."""
    return Path(__file__).resolve().parent / "bundled"


def _shared_dirs() -> list[Path]:
    """``<ancestor>/shared/data`` for every ancestor of the repository root (a development copy)."""
    repo_root = Path(__file__).resolve().parents[1]
    return [p / "shared" / "data" for p in repo_root.parents]


def data_dir() -> Path:
    """Directory holding ``<name>/{train,valid,test}.txt[.gz]`` datasets besides the bundled ones.

    ``$KGIF_DATA_DIR`` if set; otherwise the first ``<ancestor>/shared/data`` that exists,
    looking from the repository root's parent upwards; otherwise the repository root's sibling
    ``shared/data`` (which may not exist).
    """
    env = os.environ.get("KGIF_DATA_DIR")
    if env:
        return Path(env)
    candidates = _shared_dirs()
    return next((c for c in candidates if c.is_dir()), candidates[0])


def _detect_reader(folder: Path) -> Callable[..., KnowledgeGraph]:
    from kgif.data.kgx import is_kgx_folder, read_kgx_dataset  # kgx builds graphs with this module

    if is_seed_folder(folder):
        return read_seed_dataset
    if (folder / PYKEEN_TRIPLES_FILE).is_file() or (folder / "training_triples").is_dir():
        return _read_pykeen_ignoring_unseen
    if _find_split(folder, "train") is None and is_kgx_folder(folder):
        return read_kgx_dataset
    return read_tsv_dataset


def _read_pykeen_ignoring_unseen(folder: Path, *, unseen: str, duplicates: str) -> KnowledgeGraph:
    del unseen, duplicates  # a PyKEEN folder holds (already deduplicated) training triples only
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
    """Folders to look in for a known dataset, in order.

    ``$KGIF_DATA_DIR/<name>`` (when set), the bundled copy, every ``<ancestor>/shared/data/<name>``
    that exists (else the nearest), then, for UMLS/Kinships/Nations, an installed pykeen's copy.
    """
    candidates = []
    env = os.environ.get("KGIF_DATA_DIR")
    if env:
        candidates.append(Path(env) / name)
    if name in BUNDLED_DATASETS:
        candidates.append(bundled_dir() / name)
    shared = [d for d in _shared_dirs() if d.is_dir()] or _shared_dirs()[:1]
    candidates.extend(d / name for d in shared)
    if name in PYKEEN_BUNDLED:
        bundled = _pykeen_bundled_dir(name)
        if bundled is not None:
            candidates.append(bundled)
    return candidates


def load_dataset(name_or_path: str | os.PathLike[str], *, unseen: str = "drop",
                 duplicates: str = "drop") -> KnowledgeGraph:
    """Load a dataset by folder path or by name.

    A folder is read as the seed layout if it has ``node_dict.txt``, as a PyKEEN folder if it
    has ``numeric_triples.tsv.gz`` or ``training_triples/``, as a KGX graph
    (:func:`kgif.data.kgx.read_kgx_dataset`, all-training) if it has no ``train.txt[.gz]`` but
    KGX node and edge files (``nodes.tsv``/``edges.tsv``, ``*_nodes.jsonl``...), else as TSV
    splits. A name among
    ``umls, kinships, nations, hetionet, wn18rr, fb15k237`` (case-insensitive, ``fb15k-237``
    accepted) is looked up, in order, in ``$KGIF_DATA_DIR/<name>``, the copy bundled with kgif
    (UMLS, Kinships, Nations, Hetionet; ``kgif/data/bundled/<name>/PROVENANCE.md``), ``shared/data``
    beside the repository, and an installed pykeen's copy (UMLS, Kinships, Nations).

    Args:
        name_or_path: Folder or dataset name.
        unseen: Policy for valid/test triples unseen in training (see
            :func:`from_label_triples`); ignored for PyKEEN folders.
        duplicates: Policy for repeated training triples (see :func:`from_label_triples`):
            ``"drop"`` by default, as PyKEEN's ``TriplesFactory`` keeps each triple once, so a
            graph loads the same in both; a repeated edge would otherwise weigh double in
            training and appear twice among TracIn proponents.

    Returns:
        The loaded graph.

    Raises:
        FileNotFoundError: Neither an existing folder nor a findable known dataset (lists every
            place searched and how to get the data).
    """
    path = Path(name_or_path)
    if path.is_dir():
        return _detect_reader(path)(path, unseen=unseen, duplicates=duplicates)
    name = _canonical_name(str(name_or_path))
    if name is None:
        raise FileNotFoundError(f"load_dataset: {str(name_or_path)!r} is neither a folder nor a "
                                f"known dataset name ({', '.join(KNOWN_DATASETS)})")
    candidates = _dataset_candidates(name)
    for folder in candidates:
        if _find_split(folder, "train") is not None:
            logger.info("load_dataset: %s from %s", name, folder)
            kg = read_tsv_dataset(folder, unseen=unseen, duplicates=duplicates)
            kg.name = name
            return kg
    raise FileNotFoundError(
        f"load_dataset: dataset {name!r} not found; looked for train.txt[.gz] in "
        f"{', '.join(map(str, candidates))}. Bundled with kgif: {', '.join(BUNDLED_DATASETS)}; "
        f"for {name!r}, {_DATA_HINT}")
