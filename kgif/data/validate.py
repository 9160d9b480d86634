"""Validation of ``(head, relation, tail)`` id triples that cross the public Python boundary.

Every public function that takes triples (``kgif.explain``, ``TracIn`` and its score methods,
``evaluate``, ``candidate_edges_batch``, ``rank_paths``, the faithfulness study) passes them
through :func:`check_triples` first, so that a negative id, a float id, a ``(1, 4)`` tensor or a
bool tensor is refused with one line naming the function, the argument, the bad value and what
was expected, instead of being read as a triple (``-1`` silently indexes the last entity,
``127.7`` is truncated to ``127``) or failing later with a raw ``IndexError``. The rules are
listed in ``docs/refusals.md``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["MAX_TEXT_BYTES", "check_count", "check_ids", "check_input_file", "check_triples",
           "model_bounds"]

_COLUMNS = ("head", "relation", "tail")

#: Largest JSON or query file read whole into memory (bytes); bigger ones are refused unread.
MAX_TEXT_BYTES = 1 << 30


def _as_tensor(triples: object, where: str, name: str) -> Tensor:
    if isinstance(triples, Tensor):
        return triples
    if isinstance(triples, np.ndarray | list | tuple):
        try:
            return torch.as_tensor(np.asarray(triples))
        except (TypeError, ValueError, RuntimeError) as error:
            raise ValueError(f"{where}: {name} is not a rectangular array of integer ids "
                             f"({error})") from None
    raise ValueError(f"{where}: {name} must be an (n, 3) integer tensor, got "
                     f"{type(triples).__name__}")


def _check_dtype(triples: Tensor, where: str, name: str) -> None:
    """Integer ids only; an empty tensor of any dtype has no id to misread and passes."""
    if triples.numel() == 0:
        return
    dtype = triples.dtype
    if dtype == torch.bool or dtype.is_floating_point or dtype.is_complex:
        raise ValueError(f"{where}: {name} has dtype {dtype}; expected integer ids (int64), "
                         "not bool or floating point (a float id would be truncated)")


def _check_range(triples: Tensor, where: str, name: str, bounds: tuple[int | None, ...]) -> None:
    for col, bound in enumerate(bounds):
        if bound is None or len(triples) == 0:
            continue
        column = triples[:, col]
        bad = ((column < 0) | (column >= bound)).nonzero()
        if bad.numel():
            row = int(bad[0])
            raise ValueError(f"{where}: {name} row {row} {triples[row].tolist()} has "
                             f"{_COLUMNS[col]} id {int(column[row])}, expected 0..{bound - 1}")


def check_triples(triples: object, where: str, name: str = "triples", *,
                  num_entities: int | None = None, num_relations: int | None = None,
                  device: torch.device | str | None = None) -> Tensor:
    """Validate ``(n, 3)`` integer ``(head, relation, tail)`` ids and return them as int64.

    Args:
        triples: a tensor, NumPy array or nested list of ids.
        where: the public function, first word of every message (``"kgif.explain"``).
        name: the argument's name in ``where`` (``"test_triples"``).
        num_entities: N; head and tail ids must lie in ``0..N-1`` (unchecked when None).
        num_relations: the number of **base** relations R; relation ids must lie in
            ``0..R-1`` (unchecked when None).
        device: where the returned tensor lives (default: where ``triples`` is).

    Returns:
        ``(n, 3)`` int64 ids on ``device``.

    Raises:
        ValueError: ``triples`` is not array-like, not 2-D with 3 columns, of a bool, float or
            complex dtype, on the ``meta`` device (no values), or holds an id out of range; the
            message names ``where``, ``name``, the first bad row and the expected range.
    """
    triples = _as_tensor(triples, where, name)
    _check_dtype(triples, where, name)
    if triples.ndim != 2 or triples.shape[1] != 3:
        raise ValueError(f"{where}: {name} has shape {tuple(triples.shape)}; expected (n, 3) "
                         "(head, relation, tail) rows")
    if triples.device.type == "meta":
        raise ValueError(f"{where}: {name} is on the meta device (no values); expected ids "
                         "on the CPU or a GPU")
    _check_range(triples, where, name, (num_entities, num_relations, num_entities))
    return triples.to(device=device, dtype=torch.long)


def check_ids(ids: object, where: str, name: str) -> Tensor:
    """``ids`` (row ids, any shape) as a flat CPU int64 tensor, refusing bool and float dtypes.

    Raises:
        ValueError: ``ids`` is not array-like or holds bools or floats (a float row id would
            be truncated), naming ``where`` and ``name``.
    """
    ids = _as_tensor(ids, where, name)
    _check_dtype(ids, where, name)
    return ids.reshape(-1).to(device="cpu", dtype=torch.long)


def model_bounds(params: Mapping[str, Tensor], reciprocal: bool) -> tuple[int, int]:
    """``(N, R)`` of a ConvE parameter dict: entity rows, and base relations (the relation
    table holds ``2R`` rows with reciprocal relations, ``R`` without)."""
    rows = int(params["relation_embedding"].shape[0])
    return int(params["entity_embedding"].shape[0]), rows // 2 if reciprocal else rows


def check_count(value: object, where: str, name: str, minimum: int = 1) -> int:
    """``value`` as an int if it is an integer (not a bool, not a float) ``>= minimum``.

    Raises:
        ValueError: naming ``where``, ``name``, the bad value and the expected range.
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if not (isinstance(value, Tensor) and value.numel() == 1
                and not value.dtype.is_floating_point and value.dtype != torch.bool):
            raise ValueError(f"{where}: {name}={value!r}; expected an integer >= {minimum}")
    if int(value) < minimum:
        raise ValueError(f"{where}: {name}={int(value)}; expected an integer >= {minimum}")
    return int(value)


def check_input_file(path: str | os.PathLike, where: str, max_bytes: int | None = None) -> Path:
    """``path`` as a :class:`~pathlib.Path` if it is a regular file (symlinks followed) no
    larger than ``max_bytes``; checked before any byte is read.

    A FIFO would block the reader forever and ``/dev/zero`` (or a symlink to it) would fill
    memory, so anything but a regular file is refused.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: a folder, a device, a FIFO or a socket, or a file over ``max_bytes``.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no file at {path}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = ("a folder" if stat.S_ISDIR(info.st_mode) else
                "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else
                "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
        raise ValueError(f"{where}: {path} is {kind}; expected a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        raise ValueError(f"{where}: {path} has {info.st_size} bytes; expected at most "
                         f"{max_bytes}")
    return path
