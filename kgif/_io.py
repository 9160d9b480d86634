"""The one atomic file writer, and small I/O helpers shared by every module that writes files.

A crash while writing leaves either the old file or the new one, never a partial file: the
content goes to a temporary file beside the target, which is then renamed over it. Temporary
names are ``.<name>.kgif-<8 hex digits>.tmp`` (:data:`TMP_PATTERN`) so that
:func:`remove_stale_temporaries` can clean up after a killed process without touching any other
``*.tmp`` file. The temporary file is created with mode ``0o666``, so new files get the
permissions the process umask allows (``0666 & ~umask``), as files created by ``open`` do, not
the ``0600`` of :func:`tempfile.mkstemp`.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["TMP_PATTERN", "atomic_write", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "nonfinite_key_path", "remove_stale_temporaries"]

#: Names of :func:`atomic_write`'s temporary files: ``.<target name>.kgif-<8 hex digits>.tmp``.
TMP_PATTERN = re.compile(r"\..+\.kgif-[0-9a-f]{8}\.tmp")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


def _create_temporary(path: Path) -> Path:
    """A new empty file ``.<name>.kgif-<random>.tmp`` beside ``path``, mode ``0o666 & ~umask``."""
    while True:
        tmp = path.parent / f".{path.name}.kgif-{secrets.token_hex(4)}.tmp"
        try:
            os.close(os.open(tmp, _CREATE, 0o666))  # the umask applies, as for open()
        except FileExistsError:
            continue
        return tmp


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    Args:
        path: Target file; its parent folders are created.
        write: Writes the whole content to the path it is given (a ``str``; its suffix is
            ``.tmp``, so a writer that picks a format by suffix must be told the format).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        OSError: The folder is not writable or the disk is full (the message names ``path``);
            the temporary file is removed and the old ``path``, if any, is left intact. Any
            other exception raised by ``write`` propagates, with the same clean-up.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _create_temporary(path)
    except OSError as err:
        raise OSError(err.errno, f"cannot write {path}: {err.strerror}") from err
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch.save reports a full disk as RuntimeError
        raise OSError(getattr(err, "errno", None) or 0, f"cannot write {path}: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write`."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def nonfinite_key_path(document: object, where: str = "$") -> str | None:
    """The key path of the first NaN or infinity in ``document``, or None if there is none.

    Paths read ``$.results[3].influence``: ``.key`` for a dict key, ``[i]`` for a list or tuple
    item. Other objects are not looked into (``json.dumps`` refuses them anyway).
    """
    if isinstance(document, float):
        return None if math.isfinite(document) else where
    if isinstance(document, dict):
        items = [(f"{where}.{key}", value) for key, value in document.items()]
    elif isinstance(document, list | tuple):
        items = [(f"{where}[{i}]", value) for i, value in enumerate(document)]
    else:
        return None
    for inner, value in items:
        found = nonfinite_key_path(value, inner)
        if found is not None:
            return found
    return None


def atomic_write_json(path: str | os.PathLike, document: object, *, indent: int | None = 2
                      ) -> Path:
    """Write ``document`` as JSON (UTF-8, trailing newline) atomically; see :func:`atomic_write`.

    The one JSON writer of kgif: every JSON file it writes goes through here.

    Raises:
        ValueError: ``document`` holds a NaN or infinity (JSON has none; never written
            silently); the message names ``path`` and the key path, e.g. ``$.rows[2].value``.
        TypeError: ``document`` holds an object JSON cannot encode.
    """
    bad = nonfinite_key_path(document)
    if bad is not None:
        raise ValueError(f"atomic_write_json: {path}: {bad} is not finite (JSON has no NaN or "
                         f"infinity); nothing was written")
    text = json.dumps(document, indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed :func:`atomic_write` left in ``folder``.

    Only names matching :data:`TMP_PATTERN` (``.<name>.kgif-<8 hex digits>.tmp``) are removed;
    a user's ``notes.tmp`` or ``.x.tmp`` stays.

    Returns:
        The removed paths (none if ``folder`` does not exist).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for p in folder.glob(".*.kgif-*.tmp")
             if TMP_PATTERN.fullmatch(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def check_writable_folder(folder: str | os.PathLike, where: str) -> Path:
    """Create ``folder`` (with parents) and prove that a file can be written in it.

    Args:
        folder: the output folder.
        where: the start of the message, e.g. ``"train: output folder"``.

    Returns:
        The folder as a :class:`~pathlib.Path`.

    Raises:
        OSError: the folder cannot be created or written (``where``, the folder and the
            system's reason in one line; ``errno`` kept).
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise OSError(error.errno, f"{where} {folder} cannot be created or written: "
                                   f"{error.strerror or error}") from error
    return folder
