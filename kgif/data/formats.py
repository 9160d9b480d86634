"""File formats of triples: label TSV and PyKEEN's ``TriplesFactory.to_path_binary`` folder.

- label TSV (``head<TAB>relation<TAB>tail``, plain or ``.gz``, headerless):
  :func:`read_label_triples`, :func:`write_label_triples`;
- PyKEEN's binary folder (``numeric_triples.tsv.gz``, ``entity_to_id.tsv.gz``,
  ``relation_to_id.tsv.gz``, ``base.pth``): :func:`read_pykeen_triples`,
  :func:`write_pykeen_triples`.

Also the shared plumbing of the readers in :mod:`kgif.data.datasets` and :mod:`kgif.data.tiepin`: text files
(gzip by suffix, atomic writes), headerless TSV rows with file/line errors, index parsing, split
file lookup and the ``(n, 3)`` int64 mapped-triples check. This module does not know
:class:`kgif.data.graph.KnowledgeGraph`; :mod:`kgif.data.datasets` builds graphs from what it reads.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import torch

from kgif.data.tsv import GZIP_ERRORS, iter_label_rows, read_encoded_triples

LabelTriple = tuple[str, str, str]

PYKEEN_TRIPLES_FILE = "numeric_triples.tsv.gz"
PYKEEN_ENTITY_FILE = "entity_to_id.tsv.gz"
PYKEEN_RELATION_FILE = "relation_to_id.tsv.gz"
PYKEEN_BASE_FILE = "base.pth"


# --------------------------------------------------------------------------- mapped triples


def _empty_triples() -> torch.Tensor:
    """``(0, 3)`` int64: no triples."""
    return torch.empty(0, 3, dtype=torch.long)


def _as_triples(where: str, triples: torch.Tensor) -> torch.Tensor:
    """``triples`` as ``(n, 3)`` int64; ``where`` names the caller in the ``ValueError``."""
    triples = torch.as_tensor(triples)
    if triples.numel() == 0:
        return _empty_triples()
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"{where}: expected shape (n, 3), got {tuple(triples.shape)}")
    if triples.dtype.is_floating_point or triples.dtype == torch.bool or triples.is_complex():
        raise ValueError(f"{where}: expected an integer dtype, got {triples.dtype}")
    return triples.long()


# --------------------------------------------------------------------------- text I/O helpers


def _open_text(path: Path, mode: str = "r") -> IO[str]:
    if path.suffix == ".gz":  # what gzip.open(path, mode + "t") builds, typed as IO[str]
        return io.TextIOWrapper(gzip.GzipFile(path, mode + "b"), encoding="utf-8", newline="")
    return open(path, mode, encoding="utf-8", newline="")


@contextlib.contextmanager
def _atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary sibling of ``path`` (same suffix) that replaces ``path`` if the block succeeds.

    A crash leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _atomic_text(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Write a text file (gzip if ``.gz``) to a temporary sibling, then ``os.replace`` it."""
    with _atomic_path(path) as tmp, _open_text(tmp, "w") as f:
        yield f


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_index(who: str, path: Path, lineno: int, text: str) -> int:
    if not _is_index(text.strip()):
        raise ValueError(f"{who}: line {lineno} of {path} has index {text!r}, expected a "
                         f"non-negative integer")
    return int(text)


def _iter_rows(path: Path, columns: int, who: str, skip: int = 0, allow_empty: bool = False
               ) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` of a TSV, skipping blank lines.

    ``skip`` header lines are skipped; ``allow_empty`` accepts empty fields (node tables). A BOM
    is removed; undecodable text and damaged gzip raise a ``ValueError`` naming the file (see
    :func:`kgif.data.tsv.iter_label_rows`).
    """
    return iter_label_rows(path, columns, who, skip=skip, allow_empty=allow_empty)


def _iter_label_triples(path: Path, who: str) -> Iterator[tuple[int, LabelTriple]]:
    for lineno, (h, r, t) in _iter_rows(path, 3, who):  # noqa: UP028 (list -> tuple)
        yield lineno, (h, r, t)


# --------------------------------------------------------------------------- label TSV


def read_label_triples(path: str | os.PathLike[str]) -> list[LabelTriple]:
    """Read a headerless ``head<TAB>relation<TAB>tail`` file (plain or ``.gz``).

    Blank lines are skipped; labels are kept verbatim (no whitespace stripping); a UTF-8 BOM
    is removed and an obvious header line is skipped with a log line
    (:func:`kgif.data.tsv.read_encoded_triples`, which reads vectorised).

    Returns:
        ``(head, relation, tail)`` label tuples in file order.

    Raises:
        ValueError: A line without exactly 3 non-empty tab-separated columns, invalid UTF-8 or
            a damaged gzip file (names the file and the 1-based line number where known).
        FileNotFoundError: If ``path`` does not exist.
    """
    return read_encoded_triples(path, "read_label_triples").labels()


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


# --------------------------------------------------------------------------- split files


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


# --------------------------------------------------------------------------- PyKEEN folders


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
    with _atomic_path(folder / PYKEEN_BASE_FILE) as tmp:
        torch.save(state, tmp)

