"""The environment record stored beside every result (CLI metrics, predictions, benchmarks).

One function, :func:`environment`, with the same keys for every caller, so that a number in a
JSON file always names the command, the machine, the device, torch and the load it was made
under.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

from kgif._version import __version__

__all__ = ["ENVIRONMENT_KEYS", "cpu_model", "environment", "git_commit"]

#: The keys of :func:`environment`, in order (a value is None where it does not apply).
ENVIRONMENT_KEYS = ("command", "device", "gpu", "cuda", "cpu", "cpu_count", "threads", "torch",
                    "python", "platform", "kgif", "git_commit", "captum", "pykeen",
                    "load_average")


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the source tree kgif runs from, or None outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _gpu(device: str | None) -> tuple[str | None, str | None]:
    """(GPU name, CUDA version) when ``device`` is a visible CUDA device, else (None, None)."""
    if device is None or torch.device(device).type != "cuda" or not torch.cuda.is_available():
        return None, None
    return torch.cuda.get_device_name(torch.device(device)), torch.version.cuda


def environment(device: str | None = None, argv: Sequence[str] | None = None) -> dict:
    """The record of where and how a result was made; the keys are :data:`ENVIRONMENT_KEYS`.

    Args:
        device: The torch device the work ran on (``"cpu"``, ``"cuda:0"``), or None if the
            caller has none.
        argv: The command after the interpreter (e.g. ``["-m", "kgif.bench", "--suite",
            "smoke"]``); default: the process's own command line (``sys.orig_argv``, which keeps
            ``-m kgif``).

    Returns:
        ``{"command": shell-quoted command line, "device", "gpu", "cuda" (None off CUDA),
        "cpu": CPU model, "cpu_count", "threads": torch intra-op threads, "torch", "python",
        "platform", "kgif": kgif's version, "git_commit" (None outside a checkout), "captum",
        "pykeen" (None when not installed), "load_average": 1, 5, 15-minute load (None where
        the OS has none)}``.
    """
    command = list(sys.orig_argv) if argv is None else [sys.orig_argv[0], *argv]
    gpu, cuda = _gpu(device)
    return {
        "command": shlex.join(command),
        "device": None if device is None else str(device),
        "gpu": gpu,
        "cuda": cuda,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "kgif": __version__,
        "git_commit": git_commit(),
        "captum": _package_version("captum"),
        "pykeen": _package_version("pykeen"),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
