"""The one writer lock of an output folder: ``explain`` runs and ``train`` runs take it.

A second kgif run on the same folder is refused (naming the holder's pid), never
interleaved; the operating system releases the lock when its holder exits or is killed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_NAME", "MUTEX_NAME", "output_lock"]

#: The pid of the holder of a run's output folder (:func:`output_lock`).
LOCK_NAME = ".kgif.lock"
#: The file that :func:`output_lock` locks.
MUTEX_NAME = ".kgif.mutex"


def _lock_holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def output_lock(folder: str | os.PathLike, who: str = "explain_all") -> Iterator[Path]:
    """Hold the folder's exclusive writer lock for the ``with`` body.

    The lock is a :class:`filelock.FileLock` on ``<folder>/.kgif.mutex`` (``flock`` on POSIX,
    ``msvcrt.locking`` on Windows): the operating system releases it when the holder exits or
    is killed, so nothing a dead process leaves behind blocks the next run. The empty mutex
    file stays in the folder (removing it would let two processes lock two different files).
    While it holds the lock, the holder's pid is in ``<folder>/.kgif.lock`` (removed on exit;
    a killed holder leaves it, and the next holder overwrites it), for the message a second
    run gets.

    Args:
        folder: the output folder (it must exist).
        who: the caller, first word of the refusal.

    Yields:
        The pid file's path (``.kgif.lock``).

    Raises:
        ValueError: if another process holds the lock (the message names its pid).
        OSError: if the folder is not writable.
    """
    import filelock  # here, not at the top: ``import kgif`` needs no lock machinery

    folder = Path(folder)
    mutex = filelock.FileLock(folder / MUTEX_NAME, timeout=0)
    path = folder / LOCK_NAME
    try:
        mutex.acquire()
    except filelock.Timeout:
        raise ValueError(f"{who}: {folder} is in use by another kgif run (pid "
                         f"{_lock_holder(path)}, lock file {path}); wait for it to finish "
                         "or use another output folder") from None
    try:
        path.write_text(f"{os.getpid()}\n", encoding="utf-8")
        yield path
    finally:
        path.unlink(missing_ok=True)  # before releasing: a new holder writes its own
        mutex.release()
