"""PyKEEN's binary triples folder (``TriplesFactory.to_path_binary``): read and write.

The folder holds ``numeric_triples.tsv.gz``, ``entity_to_id.tsv.gz``,
``relation_to_id.tsv.gz`` (pandas-written TSV with a header) and ``base.pth``:
:func:`read_pykeen_triples`, :func:`write_pykeen_triples`. Label TSV is
:mod:`kgif.data.tsv`. This module does not build a :class:`kgif.data.graph.KnowledgeGraph`;
:mod:`kgif.data.datasets` builds graphs from what it reads.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import torch

from kgif._io import atomic_write
from kgif.data.graph import _as_triples
from kgif.data.tsv import GZIP_ERRORS, _open_text, _parse_index, _write_text

__all__ = ["PYKEEN_BASE_FILE", "PYKEEN_ENTITY_FILE", "PYKEEN_RELATION_FILE", "PYKEEN_TRIPLES_FILE",
           "read_pykeen_triples", "write_pykeen_triples"]

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
    """Rows of a pandas-written TSV (quoted as ``csv`` does) after checking its header.

    Damaged gzip and undecodable text raise a ``ValueError`` naming the file.
    """
    try:
        with _open_text(path) as f:
            reader = csv.reader(f, delimiter="\t")
            first = next(reader, None)
            if first != header:
                raise ValueError(f"{who}: line 1 of {path} has header {first}, expected "
                                 f"{header}")
            for row in reader:
                if len(row) != len(header):
                    raise ValueError(f"{who}: line {reader.line_num} of {path} has {len(row)} "
                                     f"columns, expected {len(header)}")
                yield reader.line_num, row
    except GZIP_ERRORS as err:
        raise ValueError(f"{who}: {path} is a damaged or truncated gzip file: "
                         f"{type(err).__name__}: {err}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{who}: {path} is not valid UTF-8 ({err.reason})") from err


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
    def fill(f: IO[str]) -> None:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)

    _write_text(path, fill)


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
    atomic_write(folder / PYKEEN_BASE_FILE, lambda tmp: torch.save(state, tmp))

