"""Shared machinery of the benchmark suites: presets, models, timing, rows, memory.

Units: every helper here returns time in seconds and memory in MiB (2**20 bytes); rows carry
their unit in ``unit``.

The environment record is :func:`kgif._environment.environment`.

Every suite returns a list of *rows*, plain dicts with the keys

    suite, case, method, metric, value, unit, ratio, baseline, note

plus free-form extras. ``ratio`` is ``value / value(baseline)`` for the row of the same
(suite, case, metric) whose method is ``baseline`` (None when there is no baseline row), so a
throughput ratio above 1 and a memory ratio below 1 are both improvements.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig, init_conve

# --------------------------------------------------------------------------- presets


#: the trainers of the training comparison (:mod:`kgif.bench.training`)
TRAINING_RUNNERS = ("kgif", "kgif-bf16", "kgif-fused-adam", "pykeen")


@dataclass(frozen=True)
class ModelSize:
    """A random-weight ConvE of a dataset's shape (weights are random, only sizes matter)."""

    name: str
    num_entities: int
    num_relations: int  # base relations R; the table holds 2R rows (reciprocal)
    embedding_dim: int = 200  # d = H * W; PyKEEN's ConvE default (10 x 20)
    embedding_height: int | None = None
    output_channels: int = 32  # C

    def config(self) -> ConvEConfig:
        return ConvEConfig(embedding_dim=self.embedding_dim,
                           embedding_height=self.embedding_height,
                           output_channels=self.output_channels)


MODELS = {
    "tiny": ModelSize("tiny", 30, 4, embedding_dim=12, embedding_height=3, output_channels=4),
    "umls": ModelSize("umls", 135, 46),
    "fb15k237": ModelSize("fb15k237", 14541, 237, embedding_height=10),
    # the seed project's ROBOKOP model: d = 32 as 8x4, 200,000 entities (relation count assumed)
    "seed": ModelSize("seed", 200_000, 64, embedding_dim=32, embedding_height=8),
}


@dataclass(frozen=True)
class BenchSize:
    """Sizes of one suite run (``smoke``, ``quick`` or ``full``)."""

    name: str
    warmup: int = 1  # untimed calls before the timed ones
    repeats: int = 3  # timed calls; medians are reported
    models: tuple[str, ...] = ("umls", "fb15k237", "seed")
    test_sizes: tuple[int, ...] = (1, 10, 100)  # T
    objectives: tuple[str, ...] = ("score", "pointwise_bce", "bce_1n")  # same on both sides
    baseline_objectives: tuple[str, ...] = ("score", "pointwise_bce", "bce_1n")
    baseline_test_sizes: tuple[int, ...] = (1, 10, 100)
    kgif_edges: int = 2048  # structured path
    generic_edges: int = 32  # vmap(grad) path
    loop_edges: int = 16  # plain autograd loop and Captum
    captum_test_sizes: tuple[int, ...] = (1, 10, 100)  # T at which Captum runs (it is slow)
    dense_max_entities: int = 10**9  # skip bce_1n throughput on larger models (O(N) per pair)
    batch_size: int = 256
    accuracy_models: tuple[str, ...] = ("umls", "fb15k237")
    accuracy_test: int = 3
    accuracy_edges: int = 6
    scaling_model: str = "fb15k237"
    scaling_edges: tuple[int, ...] = (1000, 10_000, 100_000, 1_000_000)
    scaling_test_sizes: tuple[int, ...] = (1, 10, 100)
    scaling_fixed_edges: int = 2000  # training-set size of the T sweep
    matmul_size: int = 2048
    roofline_model: str = "fb15k237"
    roofline_batch: int = 512
    training_datasets: tuple[str, ...] = ("umls", "kinships")
    training_epochs: int = 100
    # more (dataset, epochs) cases of the training comparison with their own epoch count: the
    # FB15k-237 epoch of the Kelpie study (its ConvE is PyKEEN's default, batch 128)
    kelpie_training: tuple[tuple[str, int], ...] = (("fb15k237", 3),)
    # which trainers the comparison runs (kgif.bench.training.RUNNERS), e.g. --set
    # 'training_runners=["kgif", "pykeen"]'
    training_runners: tuple[str, ...] = TRAINING_RUNNERS
    # (training preset, epochs) cases: the preset's model, batch size and learning rate for
    # both trainers, without its relation oversampling (kgif.training.presets)
    preset_training: tuple[tuple[str, int], ...] = (("hetionet", 1),)
    label_entities: tuple[int, ...] = (10_000, 100_000)
    hetionet_preset: bool = False  # train `train --preset hetionet` (minutes): full suite only
    extra: dict = field(default_factory=dict)


    def __post_init__(self):
        for name in ("kelpie_training", "preset_training"):
            for case in getattr(self, name):
                ok = (isinstance(case, tuple) and len(case) == 2 and isinstance(case[0], str)
                      and type(case[1]) is int and case[1] >= 1)
                if not ok:
                    raise ValueError(f"{name}: case {list(case)!r}; expected [name, epochs] "
                                     f"with epochs >= 1")
        from kgif.data.datasets import KNOWN_DATASETS, canonical_name

        names = [*self.training_datasets, *(case[0] for case in self.kelpie_training)]
        unknown = [n for n in names if canonical_name(n) is None and not Path(n).is_dir()]
        if unknown:
            raise ValueError(f"training datasets {unknown}: neither a folder nor a known "
                             f"dataset name {list(KNOWN_DATASETS)}")
        if self.training_epochs < 1:
            raise ValueError(f"training_epochs={self.training_epochs}; expected >= 1")
        unknown = sorted(set(self.training_runners) - set(TRAINING_RUNNERS))
        if unknown:
            raise ValueError(f"training_runners: {unknown} unknown; expected some of "
                             f"{list(TRAINING_RUNNERS)}")
        try:
            from kgif.training.presets import PRESETS
        except ImportError:  # the suite then skips its training rows
            return
        unknown = sorted({name for name, _ in self.preset_training} - set(PRESETS))
        if unknown:
            raise ValueError(f"preset_training: {unknown} unknown; expected presets of "
                             f"{sorted(PRESETS)}")


BENCH_SIZES = {
    "smoke": BenchSize(
        "smoke", warmup=1, repeats=2, models=("tiny",), test_sizes=(1, 3),
        baseline_objectives=("score", "bce_1n"), baseline_test_sizes=(1, 3), kgif_edges=64,
        generic_edges=8, loop_edges=4, batch_size=32, accuracy_models=("tiny",),
        scaling_model="tiny", scaling_edges=(100, 1000), scaling_test_sizes=(1, 4),
        scaling_fixed_edges=200, matmul_size=256, roofline_model="tiny", roofline_batch=64,
        training_datasets=("nations",), training_epochs=2, label_entities=(1000, 10_000),
        kelpie_training=(), preset_training=()),
    "quick": BenchSize(
        "quick", warmup=1, repeats=3, models=("umls", "fb15k237", "seed"),
        baseline_objectives=("pointwise_bce",), baseline_test_sizes=(1, 100), kgif_edges=512,
        generic_edges=16, loop_edges=6, captum_test_sizes=(1,), dense_max_entities=20_000,
        accuracy_models=("umls",), scaling_edges=(1000, 10_000, 50_000),
        scaling_fixed_edges=1000, training_epochs=4, kelpie_training=(), preset_training=()),
    "full": BenchSize("full", warmup=2, repeats=5, hetionet_preset=True),
}



def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list | tuple) else value


def with_sizes(preset: BenchSize, sizes: dict[str, Any]) -> BenchSize:
    """``preset`` with some fields replaced (``python -m kgif.bench --set FIELD=JSON``).

    Lists become tuples; each value must have the type of the field's current value (for a
    tuple field, its items the type of the current items; an ``int`` where a ``float`` is
    expected is accepted), so ``{"kelpie_training": [["fb15k237", 1]], "training_datasets":
    []}`` runs only the FB15k-237 case of the training comparison for one epoch.

    Raises:
        ValueError: on an unknown field (naming the known ones) or a value of another type
            (naming the field, the value and the expected type).
    """
    known = {f.name: getattr(preset, f.name) for f in fields(BenchSize)}
    out = {}
    for name, raw in sizes.items():
        if name not in known or name in ("name", "extra"):
            raise ValueError(f"--set {name}: unknown size; expected one of "
                             f"{sorted(set(known) - {'name', 'extra'})}")
        value, current = _tupled(raw), known[name]
        expected = type(current) if current is not None else type(value)
        ok = isinstance(value, expected) or (expected is float and type(value) is int)
        if isinstance(value, bool) != isinstance(current, bool):
            ok = False
        if ok and isinstance(current, tuple) and current and value:
            ok = all(type(v) is type(current[0]) for v in value)
        if not ok:
            raise ValueError(f"--set {name}={raw!r}: expected a value like {current!r}")
        out[name] = value
    return replace(preset, **out)

def random_triples(n: int, num_entities: int, num_relations: int, seed: int = 0) -> torch.Tensor:
    """(n, 3) int64 uniform random (head, relation, tail) triples from a private generator.

    The one random-triples helper of kgif's benchmarks and tests. Columns 0 and 2 are drawn
    from ``[0, num_entities)``, column 1 from ``[0, num_relations)`` (base relations or
    relation-table rows, whichever bound is passed); heads, then relations, then tails are
    drawn from ``torch.Generator().manual_seed(seed)``, so a seed gives the same triples on
    every machine. Triples may repeat.
    """
    gen = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(num_entities, (n,), generator=gen),
                        torch.randint(num_relations, (n,), generator=gen),
                        torch.randint(num_entities, (n,), generator=gen)], 1)


def random_checkpoint(size: ModelSize, seed: int = 0, dtype: torch.dtype = torch.float32,
                      device: str = "cpu") -> Checkpoint:
    """A ConvE checkpoint with random weights, non-trivial biases and BatchNorm statistics."""
    config = size.config()
    params, buffers = init_conve(config, size.num_entities, size.num_relations, seed=seed,
                                 dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed + 1)
    params = {k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
              for k, v in params.items()}
    for name, value in list(buffers.items()):
        if name.endswith("running_mean"):
            buffers[name] = 0.1 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
        elif name.endswith("running_var"):
            buffers[name] = 0.5 + torch.rand(value.shape, generator=gen, dtype=value.dtype)
    ckpt = Checkpoint(params, buffers, config, learning_rate=0.01)
    return ckpt.to(device=device, dtype=dtype)


# --------------------------------------------------------------------------- timing


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timings(fn: Callable[[], object], warmup: int, repeats: int, device: str) -> list[float]:
    """Wall-clock seconds (``time.perf_counter``) of ``repeats`` calls after ``warmup`` calls,
    synchronising the device around each timed call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        out.append(time.perf_counter() - start)
    return out


def median_time(fn: Callable[[], object], preset: BenchSize, device: str) -> float:
    return statistics.median(timings(fn, preset.warmup, preset.repeats, device))


def marginal_rate(run: Callable[[int], object], n_small: int, n_large: int, preset: BenchSize,
                  device: str) -> dict:
    """Items/s of the part of ``run(n)`` that grows with n, and its fixed cost.

    ``run(n)`` processes n training edges against a test set (building its test-side cache
    first). With medians t_small, t_large: rate = (n_large - n_small) / (t_large - t_small),
    and the fixed cost (test side, set-up) is t_small - n_small / rate. When timing noise
    makes t_large <= t_small, the rate falls back to n_large / t_large (``marginal`` False).
    """
    t_small = median_time(lambda: run(n_small), preset, device)
    t_large = median_time(lambda: run(n_large), preset, device)
    spent = t_large - t_small
    marginal = spent > 0
    rate = (n_large - n_small) / spent if marginal else n_large / t_large
    fixed = t_small - n_small / rate if marginal else float("nan")
    return {"rate": rate, "fixed_s": fixed, "t_small_s": t_small, "t_large_s": t_large,
            "n_small": n_small, "n_large": n_large, "marginal": marginal}


# --------------------------------------------------------------------------- rows


def row(suite: str, case: str, method: str, metric: str, value: float, unit: str,
        baseline: str | None = None, note: str = "", **extra) -> dict:
    """One result row (see the module docstring)."""
    return {"suite": suite, "case": case, "method": method, "metric": metric,
            "value": value, "unit": unit, "ratio": None, "baseline": baseline, "note": note,
            **extra}


def skipped(suite: str, case: str, method: str, reason: str) -> dict:
    """A row recording that a competitor was not run, and why."""
    return row(suite, case, method, "skipped", float("nan"), "", note=reason, skipped=True)


def fill_ratios(rows: list[dict]) -> list[dict]:
    """Set ``ratio`` = value / value of the baseline method's row of the same case/metric."""
    index = {(r["suite"], r["case"], r["metric"], r["method"]): r["value"] for r in rows}
    for r in rows:
        base = r.get("baseline")
        if base is None or r.get("skipped"):
            continue
        ref = index.get((r["suite"], r["case"], r["metric"], base))
        if ref is not None and ref == ref and ref != 0 and r["value"] == r["value"]:
            r["ratio"] = r["value"] / ref
    return rows


# --------------------------------------------------------------------------- memory


def status_mib(key: str) -> float | None:
    """A Linux ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def reset_peak_rss() -> float | None:
    """Reset Linux's peak resident set (``VmHWM``, Linux >= 4.0) to the current one.

    Returns:
        The current resident set (``VmRSS``) in MiB, the base of :func:`peak_rss_rise`; None
        where the peak cannot be reset (not Linux).
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    return status_mib("VmRSS")


def peak_rss_rise(before: float | None) -> float:
    """How far the peak resident set rose above ``before`` (from :func:`reset_peak_rss`), MiB.

    NaN where it is unknown (``before`` is None or ``VmHWM`` cannot be read).
    """
    peak = status_mib("VmHWM")
    return float("nan") if before is None or peak is None else peak - before
