"""``tracin-throughput`` and ``tracin-accuracy``: kgif's TracIn against its baselines.

Throughput: for each model size, objective (the same on both sides) and number of test
triples T, every competitor scores n training edges against the same T test triples, in this
process, warm. The reported rate is the *marginal* one, (n_large - n_small) / (t_large -
t_small) of medians, so the test-side cache every method builds first is not counted against
the training stream; that fixed cost is stored as ``fixed_s``.

Accuracy: max |got - ref| / max |ref| over the (T, n) score matrix, the reference being the
float64 plain autograd loop on the same random-weight model and triples.
"""

from __future__ import annotations

import functools

import torch

from kgif.bench.baselines import AutogradLoop, CaptumTracIn
from kgif.bench.common import (
    MODELS,
    BenchSize,
    marginal_rate,
    random_checkpoint,
    random_triples,
    row,
    skipped,
)
from kgif.influence.tracin import TracIn

BASELINE = "autograd-loop"


def _competitors(preset: BenchSize, ckpts, objective: str, test_baselines: bool, n_test: int,
                 device: str):
    """name -> (run(edges), number of edges to time) for one (model, objective, T) case."""

    def kgif_run(method):
        tracin = TracIn(ckpts, None, train_objective=objective, test_objective=objective,
                        method=method, batch_size=preset.batch_size, device=device,
                        show_progress=False)
        return lambda test, edges: tracin.influence(test, train_triples=edges)

    out = {"kgif-structured": (kgif_run("structured"), preset.kgif_edges)}
    if not test_baselines:
        return out
    out["kgif-generic"] = (kgif_run("generic"), preset.generic_edges)
    loop = AutogradLoop(ckpts, objective, objective)
    out[BASELINE] = (lambda test, edges: loop.influence(test.to(device), edges),
                     preset.loop_edges)
    if n_test in preset.captum_test_sizes:
        out["captum-tracincp"] = (
            lambda test, edges: CaptumTracIn(ckpts, edges.to(device), objective).influence(
                test.to(device)), preset.loop_edges)
    return out


def _on_prefix(run, test, edges, n: int):
    """``run(test, edges[:n])``: one competitor on the first ``n`` edges."""
    return run(test, edges[:n])


def _captum_missing() -> str | None:
    try:
        import captum.influence  # noqa: F401
    except ImportError as err:
        return f"captum not installed ({err})"
    return None


def _case_rows(preset: BenchSize, ckpts, edges, test, objective: str, case: str,
               extra: dict, device: str) -> list[dict]:
    """Rows of every competitor of one (model, objective, T) case."""
    rows = []
    with_baselines = (objective in preset.baseline_objectives
                      and len(test) in preset.baseline_test_sizes)
    no_captum = _captum_missing()
    for name, (run, n_edges) in _competitors(preset, ckpts, objective, with_baselines,
                                             len(test), device).items():
        if name == "captum-tracincp" and no_captum:
            rows.append(skipped("tracin-throughput", case, name, no_captum))
            continue
        stats = marginal_rate(functools.partial(_on_prefix, run, test, edges), 1, n_edges,
                              preset, device)
        note = "" if stats["marginal"] else "noisy: total rate, fixed cost included"
        for metric, value in (("edges/s", stats["rate"]), ("pairs/s", stats["rate"] * len(test))):
            rows.append(row("tracin-throughput", case, name, metric, value, metric, note=note,
                            baseline=BASELINE, **extra, **stats))
    return rows


def run_throughput(preset: BenchSize, device: str) -> list[dict]:
    """Rows: edges/s and (train, test) pairs/s per competitor and case."""
    rows = []
    for model in preset.models:
        size = MODELS[model]
        ckpts = [random_checkpoint(size, device=device)]
        edges = random_triples(max(preset.kgif_edges, 2), size.num_entities, size.num_relations,
                               seed=1)
        for objective in preset.objectives:
            for n_test in preset.test_sizes:
                case = f"{model} T={n_test} {objective}"
                if objective == "bce_1n" and size.num_entities > preset.dense_max_entities:
                    rows.append(skipped("tracin-throughput", case, "kgif-structured",
                                        f"dense objective on {size.num_entities} entities: "
                                        "in the full suite only"))
                    continue
                test = random_triples(n_test, size.num_entities, size.num_relations, seed=2)
                extra = dict(model=model, objective=objective, n_test=n_test)
                rows += _case_rows(preset, ckpts, edges, test, objective, case, extra, device)
    return rows


# --------------------------------------------------------------------------- accuracy


def _rel_error(got: torch.Tensor, ref: torch.Tensor) -> float:
    """max |got - ref| / max |ref| (relative to the matrix's scale; element-wise relative
    error is ill-conditioned for scores near zero)."""
    return float((got.double().cpu() - ref).abs().max() / ref.abs().max())


def _accuracy_methods(ckpt64, train, objective, device):
    """name -> (dtype label, callable(test) -> (T, n) scores)."""

    def kgif(method, dtype):
        def run(test):
            tracin = TracIn([ckpt64], train, train_objective=objective,
                            test_objective=objective, method=method, dtype=dtype, device=device,
                            show_progress=False)
            return tracin.influence(test)
        return run

    def loop32(test):
        ck = ckpt64.to(device=device, dtype=torch.float32)
        return AutogradLoop([ck], objective, objective).influence(test.to(device), train)

    methods = {
        "kgif-structured float64": ("float64", kgif("structured", torch.float64)),
        "kgif-structured float32": ("float32", kgif("structured", torch.float32)),
        "kgif-generic float32": ("float32", kgif("generic", torch.float32)),
        "autograd-loop float32": ("float32", loop32),
        "kgif-structured bfloat16": ("bfloat16", kgif("structured", torch.bfloat16)),
    }
    if _captum_missing() is None:
        def captum32(test):
            ck = ckpt64.to(device=device, dtype=torch.float32)
            return CaptumTracIn([ck], train.to(device), objective).influence(test.to(device))
        methods["captum-tracincp float32"] = ("float32", captum32)
    return methods


def run_accuracy(preset: BenchSize, device: str) -> list[dict]:
    """Rows: max relative error of each method against the float64 autograd loop."""
    rows = []
    for model in preset.accuracy_models:
        size = MODELS[model]
        ckpt64 = random_checkpoint(size, seed=3, dtype=torch.float64, device=device)
        test = random_triples(preset.accuracy_test, size.num_entities, size.num_relations, 4)
        train = random_triples(preset.accuracy_edges, size.num_entities, size.num_relations, 5)
        train[0, 0] = test[0, 0]  # a shared head exercises the [h_i = h_j] terms
        for objective in preset.objectives:
            ref = AutogradLoop([ckpt64], objective, objective).influence(test.to(device), train)
            ref = ref.cpu()
            case = f"{model} T={len(test)} n={len(train)} {objective}"
            for name, (dtype, run) in _accuracy_methods(ckpt64, train, objective,
                                                        device).items():
                try:
                    err = _rel_error(run(test), ref)
                except (RuntimeError, NotImplementedError) as exc:
                    rows.append(skipped("tracin-accuracy", case, name, f"{type(exc).__name__}: "
                                        f"{str(exc).splitlines()[0][:120]}"))
                    continue
                rows.append(row("tracin-accuracy", case, name, "max rel. error", err, "",
                                model=model, objective=objective, dtype=dtype,
                                reference="autograd-loop float64"))
    return rows
