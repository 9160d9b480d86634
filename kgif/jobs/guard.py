"""Safe resume of batch explain runs: the settings guard, the writer lock, finished-file checks.

:func:`run_settings` lists every setting that changes a run's output as a flat dict (content
hashes of the checkpoints and training edges, TracIn settings, run options, test triples);
:func:`check_settings` stores it as ``run.json`` and refuses a resume that differs, naming each
differing setting. :func:`output_lock` makes rank 0 the folder's only writer.
:func:`read_finished` checks one test triple's files before a resume trusts them.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import logging
import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path

import torch
from torch import Tensor

from kgif._io import atomic_write_json
from kgif.explanation.paths import PATH_COLUMNS
from kgif.explanation.tables import CSV_COLUMNS

__all__ = ["LOCK_NAME", "RUN_FORMAT", "DamagedOutput", "check_settings", "file_sha256",
           "output_lock", "read_finished", "read_json", "run_settings", "settings_differences"]

logger = logging.getLogger(__name__)

#: Lock file of a batch run's output folder.
LOCK_NAME = ".kgif.lock"
#: ``run.json``'s ``format`` value; a folder written by another format is refused on resume.
RUN_FORMAT = "kgif-run/2"


# --------------------------------------------------------------------------- settings guard


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in 1 MiB blocks).

    Raises:
        OSError: if the file cannot be read (the message names it).
    """
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as err:
        raise OSError(err.errno, f"cannot read {path}: {err.strerror}") from err
    return digest.hexdigest()


def _tensors_sha256(tensors: dict[str, Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of a flat tensor dict (sorted names)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        value = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _describe(value) -> object:
    """A JSON-ready description of an objective or other setting object."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    described = {"type": type(value).__name__}
    if is_dataclass(value):  # scalar fields only (an objective's functions are not settings)
        described |= {f.name: getattr(value, f.name) for f in fields(value)
                      if isinstance(getattr(value, f.name), str | int | float | bool)}
    return described


def _checkpoint_settings(checkpoints, files: Sequence[str | os.PathLike] | None) -> dict:
    settings: dict[str, object] = {"checkpoints.count": len(checkpoints)}
    if files is not None:
        settings["checkpoint_files.count"] = len(files)
        for i, path in enumerate(files):
            settings[f"checkpoint[{i}].file_sha256"] = file_sha256(path)
    for i, ckpt in enumerate(checkpoints):
        if not math.isfinite(ckpt.learning_rate):
            raise ValueError(f"explain_all: checkpoint {i} (epoch {ckpt.epoch}) has learning "
                             f"rate {ckpt.learning_rate}; TracInCP weights must be finite")
        settings[f"checkpoint[{i}].epoch"] = ckpt.epoch
        settings[f"checkpoint[{i}].learning_rate"] = ckpt.learning_rate
        settings[f"checkpoint[{i}].tensors_sha256"] = _tensors_sha256(
            {**{f"params.{k}": v for k, v in ckpt.params.items()},
             **{f"buffers.{k}": v for k, v in ckpt.buffers.items()}})
    return settings


def _flatten(prefix: str, value) -> dict[str, object]:
    if isinstance(value, dict) and value:
        out: dict[str, object] = {}
        for key, item in value.items():
            out |= _flatten(f"{prefix}.{key}", item)
        return out
    return {prefix: value}


def run_settings(tracin, test_triples: Tensor, options,
                 checkpoint_files: Sequence[str | os.PathLike] | None = None) -> dict[str, object]:
    """Every setting that changes a batch run's output, as a flat JSON-ready dict.

    Args:
        tracin: a :class:`~kgif.influence.tracin.TracIn` or :class:`~kgif.influence.distributed.ShardedTracIn`.
        test_triples: (T, 3) int64 test triples.
        options: the run settings.
        checkpoint_files: the checkpoint files ``tracin`` was built from, if known (their sha256
            is recorded too).

    Returns:
        ``{"format": RUN_FORMAT, "checkpoint[0].tensors_sha256": ..., "method": ..., ...}``.

    Raises:
        OSError: if a checkpoint file cannot be read.
    """
    plain = getattr(tracin, "tracin", tracin)
    triples = torch.as_tensor(test_triples, dtype=torch.long).contiguous()
    first = plain.checkpoints[0].params
    settings: dict[str, object] = {"format": RUN_FORMAT}
    settings |= _checkpoint_settings(plain.checkpoints, checkpoint_files)
    settings |= {
        "training_edges.count": len(plain.training_edges()),
        "training_edges.sha256": _tensors_sha256({"edges": plain.training_edges()}),
        "train_objective": _describe(getattr(plain, "train_objective", None)),
        "test_objective": _describe(getattr(plain, "test_objective", None)),
        "parameters": list(getattr(plain, "names", ())),
        "method": getattr(plain, "method", None),
        "dtype": str(next(iter(first.values())).dtype),
        "batch_size": getattr(plain, "batch_size", None),
        "test_triples.count": len(triples),
        "test_triples.sha256": _tensors_sha256({"triples": triples}),
    }
    flat: dict[str, object] = {}
    for key, value in (settings | asdict(options)).items():
        flat |= _flatten(key, value)
    return json.loads(json.dumps(flat))  # tuples -> lists, as run.json reads back


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def settings_differences(old: dict, new: dict) -> list[str]:
    """``"name: old -> new"`` for every setting that differs (missing ones show as absent)."""
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, ...) != new.get(key, ...):
            before = _short(old[key]) if key in old else "(absent)"
            after = _short(new[key]) if key in new else "(absent)"
            lines.append(f"{key}: {before} -> {after}")
    return lines


def check_settings(out: Path, settings: dict) -> None:
    """Write ``run.json`` on the first run; on resume, require the same settings."""
    path = out / "run.json"
    if not path.is_file():
        atomic_write_json(path, settings)
        return
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"explain_all: {path} is not valid JSON ({err}); it guards the run in "
                         f"{out}: use a new output folder") from err
    if not isinstance(previous, dict) or previous.get("format") != RUN_FORMAT:
        found = previous.get("format") if isinstance(previous, dict) else None
        raise ValueError(f"explain_all: {path} was written by another kgif version (format "
                         f"{found!r}, expected {RUN_FORMAT!r}); its settings cannot be "
                         "compared: use a new output folder")
    differences = settings_differences(previous, settings)
    if differences:
        raise ValueError(f"explain_all: {out} holds a run with other settings (see {path}); "
                         "use a new output folder. Differing settings (old -> new):\n  "
                         + "\n  ".join(differences))


# --------------------------------------------------------------------------- output lock


def _lock_holder(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip() or "unknown"
    except OSError:
        return "unknown"


@contextmanager
def output_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive writer lock ``<folder>/.kgif.lock`` for the ``with`` body.

    An ``fcntl.flock`` on a file that holds the holder's pid: the kernel releases it when the
    holder exits or is killed, so a lock file left by a dead process is simply taken over.

    Yields:
        The lock file's path.

    Raises:
        ValueError: if another process holds the lock (the message names its pid).
        OSError: if the folder is not writable.
    """
    path = Path(folder) / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ValueError(f"explain_all: {folder} is in use by another explain run (pid "
                             f"{_lock_holder(path)}, lock file {path}); wait for it to finish "
                             "or use another --output-dir") from None
        try:  # the holder may have removed the file between our open and flock: retry
            same = os.path.exists(path) and os.stat(path).st_ino == os.fstat(fd).st_ino
        except OSError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        path.unlink(missing_ok=True)  # before unlocking: a waiter then sees a new inode
        os.close(fd)


# --------------------------------------------------------------------------- finished files


class DamagedOutput(ValueError):
    """A per-triple output file that is missing, truncated or malformed."""


def read_json(path: Path):
    """Parse one JSON file (the one place a batch run reads its per-triple JSON)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise DamagedOutput(f"{path}: not valid JSON ({err})") from err


def _require(condition: bool, path: Path, what: str) -> None:
    if not condition:
        raise DamagedOutput(f"{path}: {what}")


_INFLUENCE_KEYS = ("influence", "kind", "rank", "train_index", "train_head_label",
                   "train_relation_label", "train_tail_label")


def _check_document(path: Path, document, index: int, triple: list[int]) -> dict:
    """The result of a per-triple JSON, or :class:`DamagedOutput`."""
    _require(isinstance(document, dict) and isinstance(document.get("metadata"), dict)
             and isinstance(document.get("results"), list) and len(document["results"]) == 1,
             path, "expected {'metadata': {...}, 'results': [one result]}")
    result, meta = document["results"][0], document["metadata"]
    _require(isinstance(result, dict) and isinstance(result.get("influences"), list), path,
             "result without an 'influences' list")
    found = [result.get(f"test_{x}") for x in ("head", "relation", "tail")]
    _require(found == triple, path, f"test triple {found} is not {triple}")
    _require(meta.get("index") == index and isinstance(meta.get("candidates"), int), path,
             f"metadata lacks index {index} or the candidate count")
    _require(all(isinstance(x, dict) and all(k in x for k in _INFLUENCE_KEYS)
                 for x in result["influences"]), path, "an influence lacks a key")
    return result


def _check_csv(path: Path, header: Sequence[str], n_rows: int) -> None:
    """A CSV written by kgif: header, ``n_rows`` full rows, final newline."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DamagedOutput(f"{path}: unreadable ({err})") from err
    _require(text.endswith("\n"), path, "cut short (no final newline)")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    _require(bool(rows) and rows[0] == list(header), path, "unexpected header")
    _require(len(rows) - 1 == n_rows and all(len(r) == len(header) for r in rows[1:]), path,
             f"{len(rows) - 1} rows, expected {n_rows} of {len(header)} fields")


def read_finished(files: dict[str, Path], index: int, triple: list[int]) -> dict:
    """Check one triple's files (all present and whole); returns its JSON document."""
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise DamagedOutput(f"missing {', '.join(missing)}")
    document = read_json(files["json"])
    result = _check_document(files["json"], document, index, triple)
    _check_csv(files["csv"], CSV_COLUMNS, len(result["influences"]))
    if "paths_json" in files:
        paths = read_json(files["paths_json"])
        _require(isinstance(paths, dict) and isinstance(paths.get("paths"), list),
                 files["paths_json"], "no 'paths' list")
        _check_csv(files["paths_csv"], PATH_COLUMNS, len(paths["paths"]))
    return document
