"""Safe resume of batch explain runs: the settings guard, the writer lock, finished-file checks.

:func:`run_settings` lists every setting that changes a run's output as a flat dict: the
fields of ``tracin.settings`` (:class:`~kgif.influence.settings.TracInSettings`, among them the
checkpoints' content digests and learning rates), the checkpoint files' sha256, the training
edges, the test triples and the run options. :func:`check_settings` compares it with
``run.json`` and refuses a resume that differs, naming each differing setting.

The settings do not live in ``run.json`` alone: every per-triple file records them too
(:func:`settings_record`: short values as they are, long ones as a sha256 prefix), and
:func:`read_finished` refuses a finished file whose record differs from the run's
(:class:`ForeignOutput`, naming the differences), so deleting ``run.json`` can never make a
rerun with other checkpoints or another ``k`` reuse old results.

:func:`kgif._lock.output_lock` makes rank 0 the folder's only writer.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from kgif._io import atomic_write_json
from kgif.explanation.paths import PATH_COLUMNS
from kgif.explanation.tables import CSV_COLUMNS

__all__ = ["RECORD_KEY", "RUN_FORMAT", "DamagedOutput", "ForeignOutput",
           "check_settings", "file_sha256", "read_finished", "read_json",
           "run_settings", "settings_differences", "settings_record", "write_settings"]

logger = logging.getLogger(__name__)

#: ``run.json``'s ``format`` value; a folder written by another format is refused on resume.
#: Version 3: TracIn settings from ``TracInSettings``, and a settings record in every
#: per-triple file.
RUN_FORMAT = "kgif-run/3"
#: Key of the settings record (:func:`settings_record`) in each per-triple file's metadata.
RECORD_KEY = "run_settings"
#: Longest JSON text of a setting kept as is in the record; longer ones are hashed.
_RECORD_CHARS = 64


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
        tracin: a :class:`~kgif.influence.tracin.TracIn` or
            :class:`~kgif.influence.distributed.ShardedTracIn`; every field of its
            ``settings`` is recorded as ``tracin.<field>`` (nested dicts flattened with ``.``).
        test_triples: (T, 3) int64 test triples.
        options: the run settings.
        checkpoint_files: the checkpoint files ``tracin`` was built from, if known (their sha256
            is recorded too).

    Returns:
        ``{"format": RUN_FORMAT, "tracin.method": ..., "tracin.checkpoint_digests": [...],
        "k": ..., ...}``.

    Raises:
        OSError: if a checkpoint file cannot be read.
    """
    triples = torch.as_tensor(test_triples, dtype=torch.long).contiguous()
    edges = tracin.training_edges()
    settings: dict[str, object] = {"format": RUN_FORMAT, "tracin": tracin.settings.as_dict()}
    if checkpoint_files is not None:
        settings["checkpoint_files.sha256"] = [file_sha256(p) for p in checkpoint_files]
    settings |= {
        "training_edges.count": len(edges),
        "training_edges.sha256": _tensors_sha256({"edges": edges}),
        "test_triples.count": len(triples),
        "test_triples.sha256": _tensors_sha256({"triples": triples}),
    }
    flat: dict[str, object] = {}
    for key, value in (settings | asdict(options)).items():
        flat |= _flatten(key, value)
    return json.loads(json.dumps(flat, allow_nan=False))  # tuples -> lists, as run.json reads


def _record_value(value) -> object:
    text = json.dumps(value, sort_keys=True)
    if len(text) <= _RECORD_CHARS:
        return value
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def settings_record(settings: dict[str, object]) -> dict[str, object]:
    """The compact form of :func:`run_settings` that every per-triple file carries: each
    setting's value when its JSON is at most 64 characters, else ``"sha256:"`` and the first
    16 hex digits of the sha256 of its JSON (a list of checkpoint digests, say)."""
    return {key: _record_value(value) for key, value in settings.items()}


def _expand(key: str, value) -> dict[str, object]:
    return {f"{key}[{i}]": item for i, item in enumerate(value)}


def _comparable(old: dict, new: dict) -> tuple[dict, dict]:
    """Lists of equal length that differ are compared item by item (``key[i]``)."""
    old, new = dict(old), dict(new)
    for key in old.keys() & new.keys():
        a, b = old[key], new[key]
        if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and a != b:
            old |= _expand(key, old.pop(key))
            new |= _expand(key, new.pop(key))
    return old, new


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def settings_differences(old: dict, new: dict) -> list[str]:
    """``"name: old -> new"`` for every setting that differs (missing ones show as absent;
    lists of equal length by item, ``name[i]``)."""
    old, new = _comparable(old, new)
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if old.get(key, ...) != new.get(key, ...):
            before = _short(old[key]) if key in old else "(absent)"
            after = _short(new[key]) if key in new else "(absent)"
            lines.append(f"{key}: {before} -> {after}")
    return lines


def check_settings(out: Path, settings: dict) -> bool:
    """Compare ``settings`` with the folder's ``run.json``, if it has one.

    Returns:
        True when there is no ``run.json`` yet (write it with :func:`write_settings` once the
        finished files, if any, were checked with :func:`read_finished`).

    Raises:
        ValueError: ``run.json`` is not JSON, of another format, or holds other settings (the
            message lists each differing setting, old -> new).
    """
    path = out / "run.json"
    if not path.is_file():
        return True
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
    return False


def write_settings(out: Path, settings: dict) -> None:
    """Write ``run.json`` (atomically)."""
    atomic_write_json(out / "run.json", settings)


# --------------------------------------------------------------------------- output lock


# --------------------------------------------------------------------------- finished files


class DamagedOutput(ValueError):
    """A per-triple output file that is missing, truncated or malformed."""


class ForeignOutput(ValueError):
    """A finished per-triple file written with other settings than the run's (never reused)."""


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


def _check_record(path: Path, meta: dict, record: dict) -> None:
    """Refuse a finished file whose settings record is not the run's (:class:`ForeignOutput`)."""
    found = meta.get(RECORD_KEY)
    if found == record:
        return
    if not isinstance(found, dict):
        raise ForeignOutput(f"explain_all: {path} records no run settings (written by another "
                            "kgif version?), so nothing shows it was computed with this run's "
                            "settings; use a new output folder")
    raise ForeignOutput(f"explain_all: {path} was computed with other settings than this run's; "
                        "its results are not reused: use a new output folder (or delete its "
                        "per-triple files). Differing settings (file -> this run):\n  "
                        + "\n  ".join(settings_differences(found, record)))


def _check_csv(path: Path, header: Sequence[str], n_rows: int,
               older: Sequence[Sequence[str]] = ()) -> None:
    """A CSV written by kgif: header (or one of the ``older`` headers an earlier kgif wrote,
    still valid output), ``n_rows`` full rows, final newline."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DamagedOutput(f"{path}: unreadable ({err})") from err
    _require(text.endswith("\n"), path, "cut short (no final newline)")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    headers = [list(header), *(list(h) for h in older)]
    _require(bool(rows) and rows[0] in headers, path, "unexpected header")
    width = len(rows[0])
    _require(len(rows) - 1 == n_rows and all(len(r) == width for r in rows[1:]), path,
             f"{len(rows) - 1} rows, expected {n_rows} of {width} fields")


def read_finished(files: dict[str, Path], index: int, triple: list[int], record: dict) -> dict:
    """Check one triple's files (all present and whole, computed with this run's settings).

    Args:
        files: the triple's files (:func:`kgif.jobs.explain_run.triple_files`).
        index: its index in the run.
        triple: its (head, relation, tail) ids.
        record: this run's :func:`settings_record`.

    Returns:
        Its JSON document.

    Raises:
        DamagedOutput: a file is missing, truncated or malformed (the triple is recomputed).
        ForeignOutput: the files record other settings (never reused, never overwritten).
    """
    missing = [p.name for p in files.values() if not p.is_file()]
    if missing:
        raise DamagedOutput(f"missing {', '.join(missing)}")
    document = read_json(files["json"])
    result = _check_document(files["json"], document, index, triple)
    _check_record(files["json"], document["metadata"], record)
    _check_csv(files["csv"], CSV_COLUMNS, len(result["influences"]))
    if "paths_json" in files:
        paths = read_json(files["paths_json"])
        _require(isinstance(paths, dict) and isinstance(paths.get("paths"), list)
                 and isinstance(paths.get("metadata"), dict), files["paths_json"],
                 "no 'paths' list or 'metadata'")
        _check_record(files["paths_json"], paths["metadata"], record)
        # before PathNames (display names) was added, the last column was EdgeScores
        _check_csv(files["paths_csv"], PATH_COLUMNS, len(paths["paths"]),
                   older=[PATH_COLUMNS[:-1]])
    return document
