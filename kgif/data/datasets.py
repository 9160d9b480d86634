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
from collections.abc import Callable
from pathlib import Path

from kgif.data.biolink import most_specific_category
from kgif.data.build import (
    SPLITS,
    _apply_duplicates,
    _apply_unseen_ids,
    _check_unseen,
    _graph_from_encoded,
    _invert_ids,
    _seen_in,
)
from kgif.data.graph import (
    KnowledgeGraph,
)
from kgif.data.pykeen_folder import PYKEEN_TRIPLES_FILE, read_pykeen_triples
from kgif.data.tiepin import is_seed_folder, read_seed_dicts, read_seed_names, read_seed_split
from kgif.data.tsv import (
    EncodedTriples,
    _find_split,
    _require_train,
    iter_label_rows,
    read_encoded_triples,
)

__all__ = ["BUNDLED_DATASETS", "KNOWN_DATASETS", "PYKEEN_BUNDLED", "bundled_dir", "data_dir",
           "load_dataset", "read_node_table", "read_pykeen_dataset",
           "read_seed_dataset", "read_tsv_dataset"]

logger = logging.getLogger(__name__)

KNOWN_DATASETS = ("umls", "kinships", "nations", "hetionet", "wn18rr", "fb15k237")
PYKEEN_BUNDLED = ("umls", "kinships", "nations")  # shipped inside the pykeen wheel


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


def canonical_name(name: str) -> str | None:
    """The :data:`KNOWN_DATASETS` name that ``name`` spells (case, ``-`` and ``_`` ignored:
    ``"FB15k-237"`` -> ``"fb15k237"``), or None when it names none of them."""
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
    name = canonical_name(str(name_or_path))
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
