"""User-written lists of triples and queries (``explain --test-file``, ``predict --file``).

Both files follow one rule, unlike dataset splits: one ``head<TAB>relation<TAB>tail`` line per
item, blank lines and lines starting with ``#`` (after leading whitespace) skipped, UTF-8 text
(a byte-order mark removed), plain or ``.gz``. Dataset files (``train.txt``...) keep no comment
rule, because a label may start with ``#``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from kgif.data.tsv import is_header, iter_label_rows

__all__ = ["COMMENT", "iter_list_rows", "read_triple_list"]

#: A line whose first non-blank character is this is a comment.
COMMENT = "#"


def iter_list_rows(path: str | os.PathLike[str], who: str) -> Iterator[tuple[int, list[str]]]:
    """``(1-based line number, tab-separated fields)`` of the non-blank, non-comment lines.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Invalid UTF-8 or a damaged gzip file (file and line named).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{who}: no such file {path}")
    for lineno, fields in iter_label_rows(path, -1, who, allow_empty=True):
        if not fields[0].lstrip().startswith(COMMENT):
            yield lineno, fields


def read_triple_list(path: str | os.PathLike[str], who: str = "read_triple_list"
                     ) -> list[tuple[str, str, str]]:
    """Read a list of ``head<TAB>relation<TAB>tail`` triples (labels, ids or names).

    Comments and blank lines are skipped (module docstring); a first line of header words
    (``head relation tail``, :data:`kgif.data.tsv.HEADER_WORDS`) too. Fields are stripped of
    surrounding whitespace.

    Returns:
        The triples in file order, as written (resolve them with
        :meth:`kgif.data.graph.KnowledgeGraph.resolve_triples`).

    Raises:
        FileNotFoundError: No such file.
        ValueError: A line without three non-empty fields, invalid UTF-8, a damaged gzip file
            (file and line named), or no triple in the file.
    """
    rows: list[tuple[str, str, str]] = []
    for lineno, fields in iter_list_rows(path, who):
        row = tuple(x.strip() for x in fields)
        if len(row) != 3 or not all(row):
            raise ValueError(f"{who}: line {lineno} of {path} has {len(row)} tab-separated "
                             f"fields {list(row)}, expected 3 non-empty ones (head, relation, "
                             f"tail); {COMMENT} starts a comment")
        if not rows and is_header(row):
            continue
        rows.append(row)
    if not rows:
        raise ValueError(f"{who}: {path} holds no triple")
    return rows
