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

Presets (``smoke``, ``quick``, ``full``) fix the sizes; see :data:`kgif.bench.common.PRESETS`
and ``docs/benchmarks.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import torch

from kgif.bench.common import PRESETS, Preset, environment, fill_ratios

__all__ = ["PRESETS", "SUITES", "run_benchmarks"]

logger = logging.getLogger(__name__)


def _throughput(preset, device):
    from kgif.bench.throughput import run_throughput
    return run_throughput(preset, device)


def _accuracy(preset, device):
    from kgif.bench.throughput import run_accuracy
    return run_accuracy(preset, device)


def _filtered(preset, device):
    from kgif.bench.filtered import run_filtered
    return run_filtered(preset, device)


def _scaling(preset, device):
    from kgif.bench.scaling import run_scaling
    return run_scaling(preset, device)


def _roofline(preset, device):
    from kgif.bench.roofline import run_roofline
    return run_roofline(preset, device)


def _training(preset, device):
    from kgif.bench.training import run_training
    return run_training(preset, device)


def _loading(preset, device):
    from kgif.bench.loading import run_loading
    return run_loading(preset, device)


def _wholegraph(preset, device):
    from kgif.bench.wholegraph import run_wholegraph
    return run_wholegraph(preset, device)


def _faithfulness(preset, device):
    from kgif.bench.faithfulness import run_faithfulness_bench
    return run_faithfulness_bench(preset, device)


def _preset(preset, device):
    from kgif.bench.preset import bench_preset
    return bench_preset(preset, device)


#: Suite name -> runner (preset, device) -> rows, in run order.
SUITES: dict[str, Callable[[Preset, str], list[dict]]] = {
    "tracin-throughput": _throughput,
    "tracin-accuracy": _accuracy,
    "tracin-filtered": _filtered,
    "tracin-scaling": _scaling,
    "roofline": _roofline,
    "training": _training,
    "loading": _loading,
    "preset": _preset,
    "whole-graph": _wholegraph,
    "faithfulness": _faithfulness,
}


def run_benchmarks(suite: str = "quick", only: Iterable[str] | None = None, device: str = "cpu",
                   argv: list[str] | None = None,
                   on_suite: Callable[[str, list[dict]], None] | None = None) -> dict:
    """Run the benchmark suites of one preset.

    Args:
        suite: preset name, ``"smoke"``, ``"quick"`` or ``"full"``.
        only: names of :data:`SUITES` to run (default: all).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``, ...).
        argv: the command line recorded in the environment (default: ``sys.argv``).
        on_suite: called with (suite name, its rows) as each suite finishes.

    Returns:
        ``{"preset": name, "environment": {...}, "suites": {name: seconds}, "rows": [...]}``.

    Raises:
        ValueError: on an unknown preset or suite name, or a CUDA device without CUDA.
    """
    if suite not in PRESETS:
        raise ValueError(f"run_benchmarks: suite={suite!r}; expected one of {sorted(PRESETS)}")
    names = list(SUITES) if only is None else list(only)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"run_benchmarks: unknown suite(s) {unknown}; known: {list(SUITES)}")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"run_benchmarks: device={device!r} but CUDA is not available")
    import time

    preset = PRESETS[suite]
    result = {"preset": suite, "environment": environment(device, argv), "suites": {},
              "rows": []}
    for name in names:
        start = time.perf_counter()
        logger.info("running suite %s (%s)", name, suite)
        rows = fill_ratios(SUITES[name](preset, device))
        result["suites"][name] = time.perf_counter() - start
        result["rows"].extend(rows)
        if on_suite is not None:
            on_suite(name, rows)
    return result
