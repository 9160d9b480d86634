"""Helpers shared by the ``python -m kgif`` sub-commands.

- :func:`add_subparser`: every sub-command parser, with ``allow_abbrev=False`` (argparse's
  prefix matching would otherwise read ``--output out.json`` as ``--output-dir out.json``);
- :func:`number_type` and the types built from it (:data:`positive_int`,
  :data:`non_negative_int`, :data:`positive_float`, :data:`probability`, ...): argparse types
  that refuse bad numbers with a message naming the flag (argparse prefixes
  ``argument --limit:``);
- :func:`load_graph_for`: the dataset a checkpoint was trained on, with its id maps and sizes
  checked;
- :func:`check_device`: a clear error for ``--device cuda`` without a GPU;
- :func:`environment` and :func:`write_json`: metadata and the atomic JSON writer for results;
- :func:`setup_logging`: log lines through :func:`tqdm.tqdm.write` (progress bars stay whole),
  on rank 0 only under ``torchrun``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from tqdm import tqdm

from kgif._device import resolve_device
from kgif._io import atomic_write_json
from kgif.model.checkpoint import check_compatible

__all__ = ["LOG_FORMAT", "TqdmHandler", "add_subparser", "any_int", "check_device",
           "check_output_dir", "check_output_file", "decay_factor", "dropout_rate",
           "environment", "finite_float", "int_range", "is_rank0", "load_graph_for",
           "non_negative_int", "number_type", "positive_float", "positive_int", "probability",
           "rank_bound", "setup_logging", "write_json"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_subparser(subparsers: argparse._SubParsersAction, name: str,
                  **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser(name, **kwargs)`` with prefix matching of flags turned off."""
    return subparsers.add_parser(name, **{**kwargs, "allow_abbrev": False})


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _real(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def number_type(parse: Callable[[str], float], low: float | None = None,
                high: float | None = None, *, low_open: bool = False, high_open: bool = False,
                expected: str = "") -> Callable[[str], float]:
    """An argparse type: ``parse(text)`` (integer or finite float) within ``[low, high]``.

    Every numeric flag of every command is one of these (:data:`positive_int`, ...), so a bad
    value is refused the same way everywhere, before any work: argparse prints
    ``argument --batch-size: expected an integer >= 1, got -5`` and exits with status 2.

    Args:
        parse: :func:`_integer` or :func:`_real` (refuses NaN and infinities).
        low, high: bounds (None: unbounded); ``low_open``/``high_open`` exclude them.
        expected: the description in messages (default: built from the bounds).
    """
    kind = "an integer" if parse is _integer else "a number"
    parts = [f"{'>' if low_open else '>='} {low:g}" if low is not None else "",
             f"{'<' if high_open else '<='} {high:g}" if high is not None else ""]
    expected = expected or " ".join([kind, " and ".join(p for p in parts if p)]).strip()

    def parse_value(text: str):
        value = parse(text)
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text.strip()}")
        return value

    parse_value.__name__ = expected  # argparse names the type in some messages
    return parse_value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in ``low..high``."""
    return number_type(_integer, low, high)


#: argparse types of the numeric flags (``docs/refusals.md``).
positive_int = number_type(_integer, 1)
non_negative_int = number_type(_integer, 0)
any_int = number_type(_integer)
positive_float = number_type(_real, 0, low_open=True)
finite_float = number_type(_real)
probability = number_type(_real, 0, 1)
dropout_rate = number_type(_real, 0, 1, high_open=True)  # [0, 1)
decay_factor = number_type(_real, 0, 1, low_open=True)  # (0, 1]
rank_bound = number_type(_real, 1)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _check_parent(command: str, flag: str, path: Path) -> None:
    """The nearest existing ancestor of ``path`` is a writable folder."""
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"{command}: {flag} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{command}: {flag} {path}: folder {parent} is not writable")


def check_output_file(command: str, flag: str, path: str | os.PathLike | None,
                      inputs: dict[str, str | os.PathLike | None] | None = None, *,
                      suffixes: tuple[str, ...] = ()) -> None:
    """Refuse an output file before any expensive step (``docs/refusals.md``).

    Refused: a folder, a path under a file, an unwritable folder, a suffix outside
    ``suffixes`` (when given), and a path that is one of ``inputs`` (``{flag: path}``), named
    with both flags.

    Raises:
        ValueError: one line naming ``command``, ``flag``, the path and the rule.
    """
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{command}: {flag} {path} is a folder; expected a file path")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{command}: {flag} {path} must end in {' or '.join(suffixes)}")
    for name, source in (inputs or {}).items():
        if source is not None and _same_path(path, Path(source)):
            raise ValueError(f"{command}: {flag} {path} is the input {name} {source}; writing "
                             "it would overwrite the input, choose another output path")
    _check_parent(command, flag, path)


def check_output_dir(command: str, flag: str, path: str | os.PathLike | None,
                     inputs: dict[str, str | os.PathLike | None] | None = None) -> None:
    """Refuse an output folder that is a file, under a file, unwritable, or an input folder.

    Raises:
        ValueError: one line naming ``command``, ``flag``, the path and the rule.
    """
    if path is None:
        return
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{command}: {flag} {path} is a file; expected a folder")
    for name, source in (inputs or {}).items():
        if source is not None and _same_path(path, Path(source)):
            raise ValueError(f"{command}: {flag} {path} is the input {name} {source}; writing "
                             "into it would overwrite the inputs, choose another folder")
    _check_parent(command, flag, path / "x")


def check_device(device: str | None, flag: str = "--device") -> str | None:
    """Refuse a CUDA device when there is none (instead of a raw traceback later).

    A thin CLI wrapper of :func:`kgif._device.resolve_device`; ``None`` passes through.

    Raises:
        ValueError: ``device`` names CUDA but there is none, or it is not a torch device.
    """
    if device is None:
        return None
    resolve_device(device, flag)
    return device


def load_graph_for(ckpt, dataset: str | None, command: str, source: str):
    """The dataset ``ckpt`` was trained on, checked against the checkpoint.

    Args:
        ckpt: a :class:`~kgif.model.checkpoint.Checkpoint`.
        dataset: a dataset name or folder, or None for the checkpoint's
            ``config.extra["dataset"]``.
        command: the sub-command, for messages.
        source: the checkpoint's path, for messages.

    Returns:
        The :class:`~kgif.data.graph.KnowledgeGraph`.

    Raises:
        ValueError: no dataset is known, or checkpoint and dataset do not fit
            (:func:`kgif.model.checkpoint.check_compatible`: id maps and table sizes).
    """
    from kgif.data.datasets import load_dataset

    name = dataset or ckpt.config.extra.get("dataset")
    if not name:
        raise ValueError(f"{command}: {source} stores no dataset name in config.extra; "
                         "pass --dataset")
    kg = load_dataset(name)
    check_compatible(ckpt, kg)
    return kg


def environment() -> dict[str, str]:
    """Device-independent metadata recorded beside every result: command line, torch and Python
    versions, CPU threads, machine."""
    return {"command": " ".join(["python -m kgif", *sys.argv[1:]]),
            "torch": torch.__version__, "python": platform.python_version(),
            "cpu_threads": str(torch.get_num_threads()), "machine": platform.machine()}


def write_json(path: str | Path, payload: dict) -> None:
    """Write ``payload`` as indented JSON atomically (:func:`kgif._io.atomic_write_json`)."""
    atomic_write_json(path, payload)


def is_rank0() -> bool:
    """True unless ``torchrun`` set ``RANK`` to another process than 0."""
    rank = os.environ.get("RANK", "0").strip() or "0"
    return rank == "0"


class TqdmHandler(logging.Handler):
    """Writes each record with :func:`tqdm.tqdm.write`, above any progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def setup_logging(verbose: bool = False) -> logging.Handler:
    """Route the root logger through a :class:`TqdmHandler` (replacing an earlier one; other
    handlers, e.g. a test harness's, stay).

    Rank 0 logs at INFO (DEBUG with ``verbose``); other ``torchrun`` ranks only at ERROR, so
    an INFO line appears once, not once per rank.

    Returns:
        The installed handler.
    """
    handler = TqdmHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, TqdmHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    if is_rank0():
        root.setLevel(logging.DEBUG if verbose else logging.INFO)
    else:
        root.setLevel(logging.ERROR)
    return handler
