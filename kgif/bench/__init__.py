"""The benchmark suite: ``python -m kgif.bench``.

Suites (each a function ``(preset, device) -> list of rows``, see :mod:`kgif.bench.common`):

* ``tracin-throughput``: training edges/s and (train, test) pairs/s of kgif's structured and
  generic TracIn against a plain per-sample autograd loop and Captum's ``TracInCP``.
* ``tracin-accuracy``: max relative error of each method against a float64 autograd loop.
* ``tracin-filtered``: top-k with candidate filters against the unfiltered run on UMLS.
* ``tracin-scaling``: time and peak memory as the training set and the test set grow.
* ``roofline``: achieved FLOP/s of each kernel against a measured matmul peak.
* ``training``: kgif vs PyKEEN ConvE training; dense vs sparse BCE label memory.
* ``loading``: seconds, lines/s and peak RSS of reading label-TSV training files.
* ``whole-graph``: the seed project's job (18.6 M edges x 750 test triples x 3 checkpoints)
  on a synthetic graph of its size: measured fractions and a labelled extrapolation.
* ``faithfulness``: deletion-retraining faithfulness of TracIn against baselines.

Presets (``smoke``, ``quick``, ``full``) fix the sizes; see :data:`kgif.bench.common.BENCH_SIZES`
and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import torch

from kgif._environment import environment
from kgif.bench.common import BENCH_SIZES, BenchSize, fill_ratios, with_sizes

__all__ = ["SUITES", "run_benchmarks"]

logger = logging.getLogger(__name__)


def _lazy(module: str, function: str) -> Callable[[BenchSize, str], list[dict]]:
    """A runner that imports ``kgif.bench.<module>`` only when its suite runs (the suites
    import optional extras such as pykeen)."""

    def run(preset: BenchSize, device: str) -> list[dict]:
        return getattr(importlib.import_module(f"kgif.bench.{module}"), function)(preset, device)

    run.__name__ = f"{module}.{function}"
    return run


#: Suite name -> runner (preset, device) -> rows, in run order.
SUITES: dict[str, Callable[[BenchSize, str], list[dict]]] = {
    "tracin-throughput": _lazy("throughput", "run_throughput"),
    "tracin-accuracy": _lazy("throughput", "run_accuracy"),
    "tracin-filtered": _lazy("filtered", "run_filtered"),
    "tracin-scaling": _lazy("scaling", "run_scaling"),
    "roofline": _lazy("roofline", "run_roofline"),
    "training": _lazy("training", "run_training"),
    "loading": _lazy("loading", "run_loading"),
    "preset": _lazy("preset", "bench_preset"),
    "whole-graph": _lazy("wholegraph", "run_wholegraph"),
    "faithfulness": _lazy("faithfulness", "run_faithfulness_bench"),
}


def run_benchmarks(suite: str = "quick", only: Iterable[str] | None = None, device: str = "cpu",
                   argv: list[str] | None = None,
                   on_suite: Callable[[str, list[dict]], None] | None = None,
                   sizes: dict[str, Any] | None = None) -> dict:
    """Run the benchmark suites of one preset.

    Args:
        suite: preset name, ``"smoke"``, ``"quick"`` or ``"full"``.
        only: names of :data:`SUITES` to run (default: all).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``, ...).
        argv: the command line recorded in the environment (default: ``sys.argv``).
        on_suite: called with (suite name, its rows) as each suite finishes.
        sizes: preset fields to replace (:func:`kgif.bench.common.with_sizes`), recorded in
            the result as ``"sizes"``.

    Returns:
        ``{"preset": name, "environment": {...}, "suites": {name: seconds}, "rows": [...]}``.

    Raises:
        ValueError: on an unknown preset or suite name, a bad ``sizes`` entry, or a CUDA
            device without CUDA.
    """
    if suite not in BENCH_SIZES:
        raise ValueError(f"run_benchmarks: suite={suite!r}; expected one of {sorted(BENCH_SIZES)}")
    names = list(SUITES) if only is None else list(only)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"run_benchmarks: unknown suite(s) {unknown}; known: {list(SUITES)}")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"run_benchmarks: device={device!r} but CUDA is not available")
    import time

    preset = with_sizes(BENCH_SIZES[suite], sizes or {})
    result: dict[str, Any] = {"preset": suite, "environment": environment(device, argv),
                              "sizes": dict(sizes or {}), "suites": {}, "rows": []}
    for name in names:
        start = time.perf_counter()
        logger.info("running suite %s (%s)", name, suite)
        rows = fill_ratios(SUITES[name](preset, device))
        result["suites"][name] = time.perf_counter() - start
        result["rows"].extend(rows)
        if on_suite is not None:
            on_suite(name, rows)
    return result
