"""``tracin-scaling``: time and peak memory of streaming top-k TracIn as n and T grow.

Each measurement runs in a fresh ``multiprocessing`` *spawn* child, so its peak resident set
size belongs to that size alone: ``peak RSS`` is the child's peak resident set (Linux
``VmHWM`` of /proc/self/status, before and after the reset below; elsewhere
``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which on Linux would also count the parent's
resident set at the moment of the spawn's fork/exec). ``streaming RSS rise`` is what the
timed call itself added: on Linux the peak (``VmHWM``) is reset through
``/proc/self/clear_refs`` just before the call and compared with the resident set (``VmRSS``)
at that moment; elsewhere it is the rise of ``ru_maxrss``, which hides anything below the
set-up peak. One warm-up call on a small slice precedes the timed call. Exponents are
least-squares slopes of log(time) on log(size).
"""

from __future__ import annotations

import math
import multiprocessing
import resource
import time

import torch

from kgif.bench.common import (
    MODELS,
    BenchSize,
    random_checkpoint,
    random_triples,
    reset_peak_rss,
    row,
    status_mib,
    synchronize,
)


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_stream(model: str, n_edges: int, n_test: int, batch_size: int, device: str,
                   threads: int) -> dict:
    """Child-process body: top-10 proponents of ``n_test`` triples over ``n_edges`` edges."""
    from kgif.influence.tracin import TracIn

    torch.set_num_threads(threads)
    size = MODELS[model]
    ckpt = random_checkpoint(size, device=device)
    edges = random_triples(n_edges, size.num_entities, size.num_relations, seed=6)
    test = random_triples(n_test, size.num_entities, size.num_relations, seed=7)
    tracin = TracIn([ckpt], edges, train_objective="score", test_objective="score",
                    batch_size=batch_size, device=device, show_progress=False)
    tracin.top_influences(test, 10, train_triples=edges[: 2 * batch_size])  # warm-up
    setup_peak = status_mib("VmHWM")
    base = reset_peak_rss()
    base_maxrss = _maxrss_mib()
    synchronize(device)
    start = time.perf_counter()
    tracin.top_influences(test, 10)
    synchronize(device)
    seconds = time.perf_counter() - start
    gpu_peak = (torch.cuda.max_memory_allocated() / 2**20
                if torch.device(device).type == "cuda" else None)
    hwm = status_mib("VmHWM") if base is not None else None
    if hwm is not None and base is not None and setup_peak is not None:
        rise, peak = hwm - base, max(hwm, setup_peak)
    else:
        rise, peak = _maxrss_mib() - base_maxrss, _maxrss_mib()
    return {"seconds": seconds, "streaming_rise_mib": rise, "peak_rss_mib": peak,
            "rss_method": "VmHWM reset" if hwm is not None else "ru_maxrss",
            "gpu_peak_mib": gpu_peak}


def _in_child(*args) -> dict:
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        return pool.apply(measure_stream, args)
    finally:
        pool.close()
        pool.join()


def fit_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope of log(seconds) against log(sizes) (nan with < 2 points)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(t) for t in seconds]
    if len(xs) < 2:
        return float("nan")
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def _sweep(preset: BenchSize, device: str, threads: int, axis: str, values) -> list[dict]:
    rows, seconds = [], []
    for value in values:
        n_edges = value if axis == "n" else preset.scaling_fixed_edges
        n_test = 1 if axis == "n" else value
        out = _in_child(preset.scaling_model, n_edges, n_test, preset.batch_size, device,
                        threads)
        seconds.append(out["seconds"])
        case = f"{preset.scaling_model} n={n_edges} T={n_test}"
        extra = dict(model=preset.scaling_model, n_edges=n_edges, n_test=n_test, axis=axis, **out)
        rows.append(row("tracin-scaling", case, "kgif-structured top-10", "seconds",
                        out["seconds"], "s", **extra))
        rows.append(row("tracin-scaling", case, "kgif-structured top-10", "edges/s",
                        n_edges / out["seconds"], "edges/s", **extra))
        rows.append(row("tracin-scaling", case, "kgif-structured top-10", "peak RSS",
                        out["peak_rss_mib"], "MiB", **extra))
        rows.append(row("tracin-scaling", case, "kgif-structured top-10", "streaming RSS rise",
                        out["streaming_rise_mib"], "MiB", **extra))
    exponent = fit_exponent(list(values), seconds)
    label = "n (training edges)" if axis == "n" else "T (test triples)"
    rows.append(row("tracin-scaling", f"{preset.scaling_model} time ~ {axis}^p",
                    "kgif-structured top-10", "exponent p", exponent, "", axis=axis,
                    note=f"log-log least squares of time against {label}"))
    return rows


def run_scaling(preset: BenchSize, device: str) -> list[dict]:
    """Rows: time, throughput, peak RSS per size, and the fitted exponents."""
    threads = torch.get_num_threads()
    return (_sweep(preset, device, threads, "n", preset.scaling_edges)
            + _sweep(preset, device, threads, "T", preset.scaling_test_sizes))
