"""pytest hooks: skip ``cuda``-marked tests cleanly without a GPU, and report the CPU stand-ins
of the GPU checks (``cpu_dry_run`` marker, benchmarks/gpu_check.sh --dry-run) as "dry run",
never as passed."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    """Skip ``cuda``-marked tests cleanly without a GPU."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


def pytest_report_teststatus(report, config):
    """A passing ``cpu_dry_run`` check compared the CPU with itself: it counts as "dry run"."""
    if report.when == "call" and report.passed and "cpu_dry_run" in report.keywords:
        return "dry run", "d", "DRY RUN (CPU against CPU, no GPU tested)"
    return None
