"""Helpers shared by the ``python -m kgif`` sub-commands.

- :func:`add_subparser`: every sub-command parser, with ``allow_abbrev=False`` (argparse's
  prefix matching would otherwise read ``--output out.json`` as ``--output-dir out.json``);
- :func:`positive_int` / :func:`non_negative_int`: argparse types that refuse bad counts with a
  message naming the flag (argparse prefixes ``argument --limit:``);
- :func:`load_graph_for`: the dataset a checkpoint was trained on, with its id maps and sizes
  checked;
- :func:`check_device`: a clear error for ``--device cuda`` without a GPU;
- :func:`environment`: metadata for results (written with :func:`kgif._io.atomic_write_json`);
- :func:`setup_logging`: log lines through :func:`tqdm.tqdm.write` (progress bars stay whole),
  on rank 0 only under ``torchrun``.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys

import torch
from tqdm import tqdm

from kgif._device import resolve_device
from kgif.model.checkpoint import check_compatible

__all__ = ["LOG_FORMAT", "TqdmHandler", "add_subparser", "check_device", "environment",
           "is_rank0", "load_graph_for", "non_negative_int", "positive_int", "setup_logging"]

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


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--limit 0`` or ``-1`` is refused, naming the flag)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or a positive integer, got {value}")
    return value


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
