"""Label triples in encoded form, and the fast reader of headerless label-TSV files.

:class:`EncodedTriples` stores ``n`` label triples as an ``(n, 3)`` int64 code array into two
vocabularies (entities for columns 0 and 2, relations for column 1), which is what a vectorised
reader produces and what :mod:`kgif.data.datasets` turns into label-sorted ids without a Python
loop over the triples.

:func:`read_encoded_triples` reads ``head<TAB>relation<TAB>tail`` (plain or ``.gz``) with
pyarrow's CSV reader when pyarrow is installed, else pandas' C parser, else one whole-file
``str.split`` pass (the core install), with a plain line loop behind each.
The fast readers only accept well-formed input: on any problem (wrong column count, empty field,
invalid UTF-8, damaged gzip) the file is re-read with the line loop, which either succeeds (it is
the reference behaviour) or raises a ``ValueError`` naming the file and the 1-based line. All
three readers strip a UTF-8 byte-order mark and skip an obvious header line (logged).

The label-TSV file format lives here whole: :func:`read_label_triples` and
:func:`write_label_triples` (atomic, gzip by suffix), the row iterator and index parsing that
:mod:`kgif.data.tiepin` and :mod:`kgif.data.datasets` share, and the ``<split>.txt[.gz]``
lookup of a dataset folder. PyKEEN's binary folder is :mod:`kgif.data.pykeen_folder`.
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, cast

import numpy as np

from kgif._io import atomic_write
from kgif.data.validate import check_input_file

logger = logging.getLogger(__name__)

__all__ = ["HEADER_WORDS", "EncodedTriples", "is_header", "iter_label_rows",
           "read_encoded_triples", "read_label_triples", "write_label_triples"]

LabelTriple = tuple[str, str, str]
BOM = "\ufeff"

#: Column names that mark a first line as a header, per column (compared case-insensitively).
HEADER_WORDS = (
    frozenset({"head", "subject", "source", "src", "from", "head_id", "subject_id", "source_id",
               "h", "s"}),
    frozenset({"relation", "predicate", "edge", "rel", "relation_type", "edge_type", "label",
               "type", "metaedge", "r", "p"}),
    frozenset({"tail", "object", "target", "dst", "to", "tail_id", "object_id", "target_id",
               "t", "o"}),
)
#: Errors of a damaged gzip stream, translated into a ``ValueError`` naming the file.
GZIP_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


def is_header(row: tuple[str, ...]) -> bool:
    """Whether a first row such as ``head relation tail`` is a header, not a triple."""
    return len(row) == 3 and all(x.strip().lower() in words
                                 for x, words in zip(row, HEADER_WORDS, strict=True))


@dataclass
class EncodedTriples:
    """``n`` label triples as codes into an entity and a relation vocabulary.

    Attributes:
        codes: ``(n, 3)`` int64; columns 0 and 2 index :attr:`entities`, column 1
            :attr:`relations`.
        entities: Entity labels by code (may hold unused or repeated labels).
        relations: Relation labels by code.
    """

    codes: np.ndarray
    entities: list[str]
    relations: list[str]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_labels(cls, rows: Iterable[LabelTriple]) -> EncodedTriples:
        """Encode ``(head, relation, tail)`` label tuples (a dict lookup per label)."""
        ent: dict[str, int] = {}
        rel: dict[str, int] = {}
        codes = [(ent.setdefault(h, len(ent)), rel.setdefault(r, len(rel)),
                  ent.setdefault(t, len(ent))) for h, r, t in rows]
        return cls(np.asarray(codes, dtype=np.int64).reshape(-1, 3), list(ent), list(rel))

    def labels(self) -> list[LabelTriple]:
        """The triples as ``(head, relation, tail)`` label tuples, in order."""
        e, r = self.entities, self.relations
        return [(e[h], r[k], e[t]) for h, k, t in self.codes.tolist()]

    def row(self, i: int) -> LabelTriple:
        """Labels of triple ``i``."""
        h, r, t = self.codes[i].tolist()
        return self.entities[h], self.relations[r], self.entities[t]

    def drop_first(self) -> EncodedTriples:
        """The triples without the first one (a detected header line)."""
        return EncodedTriples(self.codes[1:], self.entities, self.relations)

    def strip_bom(self) -> EncodedTriples:
        """Remove a UTF-8 byte-order mark from the first head label (a new vocabulary entry)."""
        if len(self) == 0 or not self.entities[self.codes[0, 0]].startswith(BOM):
            return self
        codes = self.codes.copy()
        entities = [*self.entities, self.entities[codes[0, 0]][len(BOM):]]
        codes[0, 0] = len(entities) - 1
        return EncodedTriples(codes, entities, self.relations)


# --------------------------------------------------------------------------- the line loop


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _decode(raw: bytes, who: str, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{who}: line {lineno} of {path} is not valid UTF-8 ({err.reason} at "
                         f"byte {err.start} of the line: {raw[:60]!r})") from err


def iter_label_rows(path: Path, columns: int, who: str, skip: int = 0, allow_empty: bool = False
                    ) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(1-based line number, fields)`` of a TSV, skipping blank lines.

    Lines end at ``\\n`` (a trailing ``\\r`` is removed). A UTF-8 byte-order mark at the start is
    removed. ``skip`` header lines are skipped; ``columns=-1`` accepts any column count;
    ``allow_empty`` accepts empty fields (node tables).

    Raises:
        ValueError: Wrong column count or empty field, undecodable UTF-8 (names the file and the
            line) or a damaged gzip stream (names the file and the last line read).
    """
    lineno = 0
    path = check_input_file(path, who)
    try:
        with _open_binary(path) as f:
            for lineno, raw in enumerate(f, start=1):  # noqa: B007 (lineno used in except)
                if lineno <= skip:
                    continue
                line = _decode(raw, who, path, lineno).rstrip("\r\n")
                if lineno == 1:
                    line = line.removeprefix(BOM)
                if not line.strip():
                    continue
                yield lineno, _split_checked(line, columns, who, path, lineno, allow_empty)
    except GZIP_ERRORS as err:
        raise ValueError(f"{who}: {path} is a damaged or truncated gzip file (after line "
                         f"{lineno}): {type(err).__name__}: {err}") from err


#: Characters a label or name may not hold: C0/C1 control characters (NUL, ESC, DEL, ...; the
#: tab separates fields) and the Unicode line and paragraph separators. They break XML
#: (GraphML, SVG), CSV rows and terminals; every other printable character (``$`` included) is
#: kept and escaped per output format (docs/refusals.md).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def check_text(text: str, who: str, where: str) -> None:
    """Refuse ``text`` holding a :data:`CONTROL_CHARACTERS` character.

    Raises:
        ValueError: ``"{who}: {where}: ... U+001B ..."``, naming the character and the field.
    """
    bad = CONTROL_CHARACTERS.search(text)
    if bad:
        raise ValueError(f"{who}: {where} holds control character U+{ord(bad.group()):04X} in "
                         f"{text[:60]!r}; expected printable text (labels and names may hold "
                         "any printable character, not control characters)")


def _split_checked(line: str, columns: int, who: str, path: Path, lineno: int,
                   allow_empty: bool) -> list[str]:
    check_text(line, who, f"line {lineno} of {path}")
    fields = line.split("\t")
    if columns >= 0 and len(fields) != columns:
        raise ValueError(f"{who}: line {lineno} of {path} has {len(fields)} columns, "
                         f"expected {columns}")
    if not allow_empty and any(not x.strip() for x in fields):
        raise ValueError(f"{who}: line {lineno} of {path} has an empty field")
    return fields


def _printable(enc: EncodedTriples) -> bool:
    """No label of ``enc`` holds a :data:`CONTROL_CHARACTERS` character (one regex pass)."""
    return CONTROL_CHARACTERS.search("".join(enc.entities) + "".join(enc.relations)) is None


def _read_loop(path: Path, who: str) -> EncodedTriples:
    return EncodedTriples.from_labels((h, r, t) for _, (h, r, t) in iter_label_rows(path, 3, who))


# --------------------------------------------------------------------------- fast readers


def _merge_vocab(head: list[str], tail: list[str], h: np.ndarray, t: np.ndarray
                 ) -> tuple[list[str], np.ndarray, np.ndarray]:
    """One entity vocabulary for the head and tail dictionaries; codes remapped into it."""
    vocab = {label: i for i, label in enumerate(head)}
    tail_codes = np.fromiter((vocab.setdefault(label, len(vocab)) for label in tail),
                             dtype=np.int64, count=len(tail))
    return list(vocab), h, tail_codes[t] if len(t) else t


def _arrow_codes(indices) -> np.ndarray:
    """``(n,)`` int64 from a null-free arrow integer array, read from its buffer.

    (``Array.to_numpy`` imports pandas, a second of start-up for nothing.)
    """
    if indices.null_count:
        raise ValueError("null codes")
    dtype = np.dtype(indices.type.to_pandas_dtype())
    data = np.frombuffer(indices.buffers()[1], dtype=dtype, count=indices.offset + len(indices))
    return data[indices.offset:].astype(np.int64)


def _read_arrow(path: Path) -> EncodedTriples:
    """pyarrow's multithreaded CSV reader plus ``dictionary_encode`` (C++ hashing).

    Heads and tails are encoded together (one entity vocabulary, no Python loop).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    names = ["h", "r", "t"]
    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(column_names=names),
        parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                        newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                            strings_can_be_null=False, null_values=[]),
    )
    n = table.num_rows
    both = pa.chunked_array(table.column("h").chunks + table.column("t").chunks, pa.string())
    ent = both.combine_chunks().dictionary_encode()
    rel = table.column("r").combine_chunks().dictionary_encode()
    e_codes = _arrow_codes(ent.indices)
    codes = np.stack([e_codes[:n], _arrow_codes(rel.indices), e_codes[n:]], axis=1)
    return EncodedTriples(codes.reshape(-1, 3), ent.dictionary.to_pylist(),
                          rel.dictionary.to_pylist())


def _read_pandas(path: Path) -> EncodedTriples:
    """pandas' C parser plus ``factorize`` (hashing)."""
    import csv

    import pandas as pd

    frame = pd.read_csv(path, sep="\t", header=None, names=[0, 1, 2], dtype=str,
                        quoting=csv.QUOTE_NONE, na_filter=False, keep_default_na=False,
                        skip_blank_lines=True, engine="c", encoding="utf-8", comment=None,
                        on_bad_lines="error", index_col=False)
    cols = [pd.factorize(frame[j], sort=False) for j in range(3)]
    entities, h, t = _merge_vocab(list(cols[0][1]), list(cols[2][1]),
                                  cols[0][0].astype(np.int64), cols[2][0].astype(np.int64))
    codes = np.stack([h, cols[1][0].astype(np.int64), t], axis=1).reshape(-1, 3)
    return EncodedTriples(codes, entities, list(cols[1][1]))


def _read_whole(path: Path) -> EncodedTriples:
    """The core-install reader: the whole file decoded at once and split in one C call, the
    layout (exactly two tabs on every line, no blank line, no CR) checked with numpy, labels
    encoded by C-level dict lookups. Any irregularity raises, and the line loop then names the
    line."""
    with _open_binary(path) as f:
        raw = f.read()
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if not raw:
        return EncodedTriples(np.empty((0, 3), dtype=np.int64), [], [])
    data = np.frombuffer(raw, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    tabs = np.flatnonzero(data == 9)
    per_line = np.diff(np.searchsorted(tabs, np.concatenate([[-1], newlines, [len(data)]])))
    if (per_line != 2).any() or (data == 13).any():
        raise ValueError("not exactly three tab-separated columns on every line")
    flat = raw.decode("utf-8").replace("\n", "\t").split("\t")
    heads, rels, tails = flat[0::3], flat[1::3], flat[2::3]
    ent = list(dict.fromkeys(heads) | dict.fromkeys(tails))
    rel = list(dict.fromkeys(rels))
    ent_ids = {label: i for i, label in enumerate(ent)}
    rel_ids = {label: i for i, label in enumerate(rel)}
    n = len(heads)
    codes = np.empty((n, 3), dtype=np.int64)
    codes[:, 0] = np.fromiter(map(ent_ids.__getitem__, heads), np.int64, count=n)
    codes[:, 1] = np.fromiter(map(rel_ids.__getitem__, rels), np.int64, count=n)
    codes[:, 2] = np.fromiter(map(ent_ids.__getitem__, tails), np.int64, count=n)
    return EncodedTriples(codes, ent, rel)


def _fast_readers() -> list[Callable[[Path], EncodedTriples]]:
    """pyarrow if installed, else pandas, else the whole-file reader; the line loop is the
    fallback of all three."""
    if importlib.util.find_spec("pyarrow") is not None:
        return [_read_arrow]
    if importlib.util.find_spec("pandas") is not None:
        return [_read_pandas]
    return [_read_whole]


def _well_formed(enc: EncodedTriples) -> bool:
    """No empty, whitespace-only, tab- or newline-holding label (the fast parsers accept some)."""
    for vocab in (enc.entities, enc.relations):
        joined = "\x00".join(vocab)
        if not all(map(str.strip, vocab)) or any(c in joined for c in "\t\r\n"):
            return False
    return True


def read_encoded_triples(path: str | PathLike[str], who: str = "read_label_triples"
                         ) -> EncodedTriples:
    """Read a headerless ``head<TAB>relation<TAB>tail`` file (plain or ``.gz``), fast.

    Blank lines are skipped, labels are kept verbatim (no whitespace stripping), a UTF-8 BOM is
    removed and an obvious header line (``head relation tail``, ``subject predicate object``,
    ``source edge target``, ...; see :data:`HEADER_WORDS`) is skipped with a log line.

    Returns:
        The triples in file order, encoded.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ValueError: A line without exactly 3 non-empty tab-separated columns, invalid UTF-8 or a
            damaged gzip stream (names the file and the 1-based line where known).
    """
    path = check_input_file(path, who)
    enc = None
    for reader in _fast_readers():
        try:
            enc = reader(path)
        except Exception as err:  # noqa: BLE001 (the line loop below names the problem)
            logger.debug("%s: fast reader failed on %s (%s); re-reading line by line", who,
                         path, err)
            enc = None
        if enc is not None and not (_well_formed(enc) and _printable(enc)):
            enc = None  # the line loop names the file and line
        if enc is not None:
            break
    if enc is None:
        enc = _read_loop(path, who)
    enc = enc.strip_bom()
    if len(enc) and is_header(enc.row(0)):
        logger.warning("%s: %s: skipped header line %r", who, path, "\t".join(enc.row(0)))
        enc = enc.drop_first()
    return enc


# --------------------------------------------------------------------------- label TSV files


def _open_text(path: Path, mode: str = "r", gz: bool | None = None) -> IO[str]:
    """``path`` as UTF-8 text; gzip when ``gz`` (default: when ``path`` ends in ``.gz``)."""
    if path.suffix == ".gz" if gz is None else gz:
        return cast(IO[str], gzip.open(path, mode + "t", encoding="utf-8", newline=""))
    return open(path, mode, encoding="utf-8", newline="")


def _write_text(path: str | os.PathLike[str], fill: Callable[[IO[str]], None]) -> None:
    """Write a text file (gzip if ``path`` ends in ``.gz``) with :func:`kgif._io.atomic_write`."""
    gz = Path(path).suffix == ".gz"

    def write(tmp: str) -> None:
        with _open_text(Path(tmp), "w", gz=gz) as f:
            fill(f)

    atomic_write(path, write)


def _is_index(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _parse_index(who: str, path: Path, lineno: int, text: str) -> int:
    if not _is_index(text.strip()):
        raise ValueError(f"{who}: line {lineno} of {path} has index {text!r}, expected a "
                         f"non-negative integer")
    return int(text)


def _iter_label_triples(path: Path, who: str) -> Iterator[tuple[int, LabelTriple]]:
    for lineno, (h, r, t) in iter_label_rows(path, 3, who):  # noqa: UP028 (list -> tuple)
        yield lineno, (h, r, t)


def read_label_triples(path: str | os.PathLike[str]) -> list[LabelTriple]:
    """Read a headerless ``head<TAB>relation<TAB>tail`` file (plain or ``.gz``).

    Blank lines are skipped; labels are kept verbatim (no whitespace stripping); a UTF-8 BOM
    is removed and an obvious header line is skipped with a log line
    (:func:`read_encoded_triples`, which reads vectorised).

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
    def fill(f: IO[str]) -> None:
        for i, row in enumerate(triples):
            _check_writable_row(i, row)
            f.write("\t".join(row) + "\n")

    _write_text(path, fill)


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
