"""``whole-graph``: the seed project's job at its own scale, end to end.

The seed project (a ROBOKOP-derived graph) explained 750 ``treats`` test triples of a ConvE
with d = 32 (8 x 4), 32 channels, against 18.6 M training edges. This suite builds a synthetic
graph of that size (:func:`synthetic_graph`), three random-weight checkpoints of that shape,
and measures in a fresh *spawn* child per point (:func:`measure_point`): generation, the
candidate filters the seed ran (k = 2 hops, walks of at most 3 edges; on a sample of test
triples), and exact all-parameter TracIn (structured engine, every parameter, all 3
checkpoints) of all test triples against ``n`` training edges, streamed top-10, in chunks of
``chunk`` test triples. ``peak RSS`` is the child's ``VmHWM`` (Linux).

The full 18.6 M-edge run needs hours on 2 cores, so a preset runs fractions of it (``EDGES``)
and the suite fits time = a + b n by least squares; the ``extrapolated`` rows apply the fit to
18.6 M edges and are labelled as an extrapolation. Sizes per preset are in :data:`SIZES`.

Synthetic graph (parameters in :data:`GRAPH`, fitted to the bundled Hetionet training set):

* entities of ``types`` kinds (entity i is of kind i mod types, Hetionet has 11);
* every relation joins one head kind to one tail kind, drawn once from the seed;
* relation frequencies follow Hetionet's 16 relation counts, rescaled (largest 35 % of edges,
  smallest 0.05 %);
* within a kind, endpoints are drawn with probability proportional to (j + 1)^-alpha for the
  kind's j-th entity (a Chung-Lu style power law): alpha = 0.82 is the least-squares slope of
  log degree on log rank of Hetionet's entities of rank 10-10,000;
* duplicate (head, relation, tail) triples are removed and the set is topped up, so every
  edge is distinct; the test triples are drawn from the generator for one relation
  (``test_relation``) and removed from the training edges.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from kgif.bench.common import BenchSize, ModelSize, random_checkpoint, row, status_mib, synchronize

SUITE = "whole-graph"
logger = logging.getLogger(__name__)

#: Hetionet's training edges per relation (bundled copy), largest first: the relation mix.
HETIONET_RELATION_COUNTS = (265672, 147164, 102240, 97848, 61690, 21102, 18756, 12623, 11571,
                            7731, 7623, 6486, 3602, 543, 528, 390)

#: Generator parameters: the seed project's size with Hetionet's shape.
GRAPH: dict[str, Any] = {"num_entities": 1_000_000, "n_edges": 18_600_000, "n_test": 750,
                         "types": 11, "alpha": 0.82, "test_relation": 6}

#: Bench size -> sizes: graph entities, training-edge counts measured, test triples, chunk sizes
#: tried at the smallest count, filter sample, batch size.
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"num_entities": 5_000, "edges": (1_000, 2_000), "n_test": 12, "chunks": (4, 12),
              "chunk_edges": 500, "filter_sample": 4, "batch_size": 64, "full_edges": 10_000,
              "share_edges": 512, "memory_stream": 128},
    "quick": {"num_entities": 1_000_000, "edges": (100_000, 300_000), "n_test": 750,
              "chunks": (250, 750), "chunk_edges": 20_000, "filter_sample": 3,
              "batch_size": 256, "full_edges": 18_600_000, "share_edges": 4_096,
              "memory_stream": 2_048},
    "full": {"num_entities": 1_000_000, "edges": (465_000, 1_860_000), "n_test": 750,
             "chunks": (250, 750), "chunk_edges": 46_500, "filter_sample": 50,
             "batch_size": 256, "full_edges": 18_600_000, "share_edges": 16_384,
             "memory_stream": 5_120},
}

#: The seed project's ConvE shape: d = 32 as 8 x 4, 32 channels.
SEED_D, SEED_HEIGHT, SEED_CHANNELS = 32, 8, 32
N_CHECKPOINTS = 3


@dataclass
class SyntheticGraph:
    """A generated graph.

    Attributes:
        training: (n, 3) int64 distinct (head, relation, tail) edges, sorted by (head, relation).
        testing: (n_test, 3) int64 triples of relation ``test_relation``, not in ``training``.
        num_entities, num_relations: N and R (base relations).
        params: the generator's parameters.
    """

    training: Tensor
    testing: Tensor
    num_entities: int
    num_relations: int
    params: dict


def _sample_kind(kind: int, n: int, types: int, num_entities: int, alpha: float,
                 gen: torch.Generator) -> Tensor:
    """n entity ids of kind ``kind``, the j-th drawn with weight (j + 1)^-alpha."""
    size = (num_entities - kind + types - 1) // types
    weights = torch.arange(1, size + 1, dtype=torch.float64).pow(-alpha)
    cdf = weights.cumsum(0)
    cdf /= cdf[-1].clone()
    j = torch.searchsorted(cdf, torch.rand(n, generator=gen, dtype=torch.float64))
    return j.clamp_(max=size - 1) * types + kind


def _edges(counts: Tensor, kinds: Tensor, types: int, num_entities: int, alpha: float,
           gen: torch.Generator) -> Tensor:
    parts = []
    for rel, n in enumerate(counts.tolist()):
        if n == 0:
            continue
        h = _sample_kind(int(kinds[rel, 0]), n, types, num_entities, alpha, gen)
        t = _sample_kind(int(kinds[rel, 1]), n, types, num_entities, alpha, gen)
        parts.append(torch.stack([h, torch.full_like(h, rel), t], 1))
    return torch.cat(parts)


def synthetic_graph(n_edges: int = GRAPH["n_edges"], num_entities: int = GRAPH["num_entities"],
                    n_test: int = GRAPH["n_test"], seed: int = 0, *, types: int = GRAPH["types"],
                    alpha: float = GRAPH["alpha"],
                    test_relation: int = GRAPH["test_relation"]) -> SyntheticGraph:
    """A heavy-tailed typed multi-relational graph of ``n_edges`` distinct training edges.

    See the module docstring for the model. Vectorised (about 10 s for 18.6 M edges on one
    core); deterministic in ``seed``.

    Args:
        n_edges: training edges n (>= 1).
        num_entities: N (>= types).
        n_test: test triples of relation ``test_relation``, disjoint from the training edges.
        seed: generator seed.
        types: entity kinds.
        alpha: power-law exponent of the endpoint weights within a kind (>= 0).
        test_relation: index of the test relation in the Hetionet relation mix.

    Returns:
        :class:`SyntheticGraph`.

    Raises:
        ValueError: on a non-positive size, ``num_entities < types``, a negative ``alpha``, a
            ``test_relation`` outside the mix, or a graph too small to hold that many distinct
            edges.
    """
    relations = len(HETIONET_RELATION_COUNTS)
    if n_edges < 1 or n_test < 1 or types < 1:
        raise ValueError(f"synthetic_graph: n_edges={n_edges}, n_test={n_test}, types={types} "
                         "must be positive")
    if num_entities < types:
        raise ValueError(f"synthetic_graph: num_entities={num_entities} < types={types}")
    if not alpha >= 0:
        raise ValueError(f"synthetic_graph: alpha={alpha} must be >= 0")
    if not 0 <= test_relation < relations:
        raise ValueError(f"synthetic_graph: test_relation={test_relation} outside "
                         f"[0, {relations})")
    gen = torch.Generator().manual_seed(seed)
    kinds = torch.randint(types, (relations, 2), generator=gen)
    share = torch.tensor(HETIONET_RELATION_COUNTS, dtype=torch.float64)
    share /= share.sum()
    stride = num_entities * relations
    have = torch.zeros(0, dtype=torch.long)
    for _ in range(40):  # top up until it holds n_edges + n_test, n_test of test_relation
        missing = n_edges + n_test - len(have)
        if missing <= 0:
            short = n_test - int(((have // num_entities) % relations == test_relation).sum())
            if short <= 0:
                break
            missing = math.ceil(short / share[test_relation].item())  # expected draws
        want = int(missing * 1.05) + 16
        counts = torch.bincount(torch.multinomial(share, want, replacement=True, generator=gen),
                                minlength=relations)
        new = _edges(counts, kinds, types, num_entities, alpha, gen)
        keys = (new[:, 0] * relations + new[:, 1]) * num_entities + new[:, 2]
        have = torch.unique(torch.cat([have, keys]))
    if len(have) < n_edges + n_test:
        raise ValueError(f"synthetic_graph: could not draw {n_edges + n_test} distinct edges "
                         f"over {num_entities} entities")
    have = have[torch.randperm(len(have), generator=gen)]
    triples = torch.stack([have // stride, (have // num_entities) % relations,
                           have % num_entities], 1)
    is_test = triples[:, 1] == test_relation
    test_rows = is_test.nonzero()[:, 0][:n_test]
    if len(test_rows) < n_test:
        raise ValueError(f"synthetic_graph: only {len(test_rows)} edges of relation "
                         f"{test_relation}; need {n_test} test triples")
    keep = torch.ones(len(triples), dtype=torch.bool)
    keep[test_rows] = False
    train = triples[keep][:n_edges]
    order = torch.argsort(train[:, 0] * relations + train[:, 1], stable=True)
    params = {"types": types, "alpha": alpha, "test_relation": test_relation, "seed": seed,
              "relation_mix": "Hetionet training counts", "num_entities": num_entities}
    return SyntheticGraph(train[order].contiguous(), triples[test_rows].contiguous(),
                          num_entities, relations, params)


def seed_checkpoints(num_entities: int, num_relations: int, n: int = N_CHECKPOINTS,
                     device: str = "cpu") -> list:
    """``n`` random-weight checkpoints of the seed project's ConvE shape (epochs 1..n)."""
    size = ModelSize("seed-scale", num_entities, num_relations, embedding_dim=SEED_D,
                     embedding_height=SEED_HEIGHT, output_channels=SEED_CHANNELS)
    ckpts = []
    for k in range(n):
        ckpt = random_checkpoint(size, seed=10 + k, device=device)
        ckpt.epoch = k + 1
        ckpts.append(ckpt)
    return ckpts


def rows_per_example(triples: Tensor, num_relations: int, batch_size: int) -> dict:
    """Sharing statistics of (head, relation row) rows under reciprocal relations.

    Returns:
        ``{"examples_per_row": whole set, "batch_distinct_fraction": mean distinct rows per
        example in batches of ``batch_size`` edges streamed in order}``.
    """
    h = torch.cat([triples[:, 0], triples[:, 2]])
    r = torch.cat([2 * triples[:, 1], 2 * triples[:, 1] + 1])
    n_rows = len(torch.unique(h * (2 * num_relations) + r))
    fractions = []
    for start in range(0, len(triples), batch_size * 64):  # every 64th batch
        b = triples[start:start + batch_size]
        hb = torch.cat([b[:, 0], b[:, 2]])
        rb = torch.cat([2 * b[:, 1], 2 * b[:, 1] + 1])
        fractions.append(len(torch.unique(hb * (2 * num_relations) + rb)) / len(hb))
    return {"examples_per_row": len(h) / n_rows,
            "batch_distinct_fraction": statistics.fmean(fractions)}


def measure_point(preset_name: str, n_edges: int, chunk: int, threads: int, device: str,
                  share_rows: bool | None, filters: bool, stream: int | None = None) -> dict:
    """Child-process body: one (n_edges, chunk) point of the seed-scale job.

    Generates a graph of ``n_edges`` training edges and streams all of them (or the first
    ``stream``) against all test triples in chunks of ``chunk``. Returns seconds of
    generation, filters (on ``filter_sample`` test triples) and the TracIn stream,
    candidate-set sizes, sharing statistics and peak RSS (MiB).
    """
    from kgif.influence.candidates import Adjacency, candidate_edges_batch
    from kgif.influence.engines import StructuredEngine
    from kgif.influence.tracin import TracIn

    torch.set_num_threads(threads)
    sizes = SIZES[preset_name]
    out: dict = {"n_edges": n_edges, "chunk": chunk, "threads": threads}
    start = time.perf_counter()
    graph = synthetic_graph(n_edges, sizes["num_entities"], sizes["n_test"])
    out["generate_s"] = time.perf_counter() - start
    out.update(rows_per_example(graph.training, graph.num_relations, sizes["batch_size"]))
    if filters:
        start = time.perf_counter()
        adj = Adjacency.from_triples(graph.training, graph.num_entities)
        out["adjacency_s"] = time.perf_counter() - start
        sample = graph.testing[: sizes["filter_sample"]]
        start = time.perf_counter()
        cands = candidate_edges_batch(adj, sample, k=2, max_path_length=3)
        out["filter_s_per_triple"] = (time.perf_counter() - start) / len(sample)
        lens = sorted(len(c) for c in cands)
        out.update(filter_sample=len(sample), filter_median=statistics.median(lens),
                   filter_max=lens[-1], filter_mean=statistics.fmean(lens))
        del adj, cands
    ckpts = seed_checkpoints(graph.num_entities, graph.num_relations, device=device)
    tracin = TracIn(ckpts, graph.training, batch_size=sizes["batch_size"], device=device,
                    show_progress=False)
    assert isinstance(tracin.engine, StructuredEngine)
    tracin.engine.share_rows = share_rows
    tracin.top_influences(graph.testing[:chunk], 10, graph.training[: 2 * sizes["batch_size"]])
    synchronize(device)
    edges = graph.training if stream is None else graph.training[:stream]
    start = time.perf_counter()
    chunks = 0
    for first in range(0, len(graph.testing), chunk):
        tracin.top_influences(graph.testing[first:first + chunk], 10, edges)
        chunks += 1
    synchronize(device)
    out["tracin_s"] = time.perf_counter() - start
    out["streamed_edges"] = len(edges)
    out["chunks"] = chunks
    out["n_test"] = len(graph.testing)
    out["peak_rss_mib"] = status_mib("VmHWM")
    if torch.device(device).type == "cuda":
        out["gpu_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def in_child(*args, fn=measure_point) -> dict:
    """``fn(*args)`` (default :func:`measure_point`) in a fresh spawn process (its own peak
    RSS); the result is also logged, so a long run shows each point as it finishes."""
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        out = pool.apply(fn, args)
    finally:
        pool.close()
        pool.join()
    logger.info("whole-graph point: %s", out)
    print(f"whole-graph point: {out}", file=sys.stderr, flush=True)
    return out


def measure_sharing(preset_name: str, threads: int, device: str) -> list[dict]:
    """Child-process body: edges/s of the structured engine with row sharing off and on,
    alternating (off, on, off, on) in one process, on Hetionet (its 151 test triples, the
    hetionet preset's ConvE shape, random weights) and on the synthetic graph (all test
    triples); training edges sorted by (head, relation) in both."""
    from kgif.data.datasets import load_dataset
    from kgif.influence.engines import StructuredEngine
    from kgif.influence.tracin import TracIn

    torch.set_num_threads(threads)
    sizes = SIZES[preset_name]
    n = sizes["share_edges"]
    cases = []
    graph = synthetic_graph(sizes["edges"][-1], sizes["num_entities"], sizes["n_test"])
    cases.append((f"synthetic n={len(graph.training):,}", graph.training, graph.testing,
                  graph.num_entities, graph.num_relations))
    if preset_name != "smoke":
        kg = load_dataset("hetionet")
        train = kg.training[torch.argsort(kg.training[:, 0] * kg.num_relations
                                          + kg.training[:, 1], stable=True)]
        cases.append(("hetionet", train, kg.testing, kg.num_entities, kg.num_relations))
    out = []
    for name, train, test, n_ent, n_rel in cases:
        ckpts = seed_checkpoints(n_ent, n_rel, device=device)
        stats = rows_per_example(train, n_rel, sizes["batch_size"])
        start_row = len(train) // 3  # away from the hub heads that sort first
        edges = train[start_row:start_row + n]
        for share in (False, True, False, True):
            tracin = TracIn(ckpts, train, batch_size=sizes["batch_size"], device=device,
                            show_progress=False)
            assert isinstance(tracin.engine, StructuredEngine)
            tracin.engine.share_rows = share
            tracin.top_influences(test, 10, edges[: sizes["batch_size"]])
            synchronize(device)
            start = time.perf_counter()
            tracin.top_influences(test, 10, edges)
            synchronize(device)
            seconds = time.perf_counter() - start
            out.append({"graph": name, "share_rows": share, "edges": len(edges),
                        "n_test": len(test), "seconds": seconds, "edges_per_s": n / seconds,
                        **stats})
    return out


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least squares y = a + b x: (a, b, max relative residual); b = y/x with one point."""
    if len(xs) == 1:
        return 0.0, ys[0] / xs[0], 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = (sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
         / sum((x - mx) ** 2 for x in xs))
    a = my - b * mx
    resid = max(abs(a + b * x - y) / y for x, y in zip(xs, ys, strict=True))
    return a, b, resid


def _case(n: int, n_test: int) -> str:
    return f"synthetic n={n:,} x T={n_test} x 3 ckpts"


def run_wholegraph(preset: BenchSize, device: str) -> list[dict]:
    """Rows: chunk-size choice, per-point times and RSS, the linear fit and the extrapolation."""
    sizes = SIZES[preset.name]
    threads = torch.get_num_threads()
    method = "kgif-structured all-params top-10"
    rows = []
    for item in in_child(preset.name, threads, device, fn=measure_sharing):
        label = f"{method}, row sharing {'on' if item['share_rows'] else 'off'}"
        rows.append(row(SUITE, f"row sharing: {item['graph']} x T={item['n_test']}", label,
                        "edges/s", item["edges_per_s"], "edges/s",
                        note="alternating off/on/off/on in one process", **item))
    full = in_child(preset.name, sizes["full_edges"], sizes["chunks"][-1], threads, device,
                    None, True, sizes["memory_stream"])
    case = _case(full["n_edges"], full["n_test"]) + " (memory and filters)"
    rows.append(row(SUITE, case, "generate synthetic graph", "seconds", full["generate_s"], "s",
                    **full))
    rows.append(row(SUITE, case, "kgif.influence.candidates Adjacency.from_triples", "seconds",
                    full["adjacency_s"], "s", **full))
    rows.append(row(SUITE, case, "kgif.influence.candidates k=2, max_path_length=3",
                    "seconds per test triple", full["filter_s_per_triple"], "s",
                    note=f"sizes median {full['filter_median']:,.0f}, max "
                         f"{full['filter_max']:,} on {full['filter_sample']} test triples",
                    **full))
    rows.append(row(SUITE, case, "whole job (generate, filters, TracIn stream)", "peak RSS",
                    full["peak_rss_mib"] or math.nan, "MiB",
                    note=f"VmHWM of the spawn child; TracIn streamed {full['streamed_edges']:,} "
                         "edges (its memory does not grow with the stream)", **full))
    chunk_times, chunk_points = {}, {}
    for chunk in sizes["chunks"]:
        out = in_child(preset.name, sizes["chunk_edges"], chunk, threads, device, None, False)
        chunk_times[chunk], chunk_points[chunk] = out["tracin_s"], out
        rows.append(row(SUITE, _case(sizes["chunk_edges"], out["n_test"]),
                        f"{method}, chunk {chunk}", "seconds", out["tracin_s"], "s", **out))
    best = min(chunk_times, key=chunk_times.__getitem__)
    points = [chunk_points[best]]  # the chunk run of the best chunk is the first point
    for i, n in enumerate(sizes["edges"]):
        out = in_child(preset.name, n, best, threads, device, None, False)
        points.append(out)
        case = _case(n, out["n_test"])
        label = f"{method}, chunk {out['chunk']}"
        rows.append(row(SUITE, case, label, "seconds", out["tracin_s"], "s", **out))
        rows.append(row(SUITE, case, label, "edges/s", n / out["tracin_s"], "edges/s", **out))
        rows.append(row(SUITE, case, label, "peak RSS", out["peak_rss_mib"] or math.nan, "MiB",
                        note="VmHWM of the spawn child (generation + filters + TracIn)", **out))
        if i == 0 and "filter_s_per_triple" in out:
            rows.append(row(SUITE, case, "kgif.influence.candidates k=2, max_path_length=3",
                            "seconds per test triple", out["filter_s_per_triple"], "s",
                            note=f"Adjacency {out['adjacency_s']:.1f} s once; sizes median "
                                 f"{out['filter_median']:,.0f}, max {out['filter_max']:,} on "
                                 f"{out['filter_sample']} test triples", **out))
    a, b, resid = linear_fit([p["n_edges"] for p in points], [p["tracin_s"] for p in points])
    full, n_test = sizes["full_edges"], points[0]["n_test"]
    total = a + b * full
    case = _case(full, n_test)
    note = (f"EXTRAPOLATION from {len(points)} measured points: time = {a:.1f} s + "
            f"{b * 1e6:.2f} us x edges (max residual {resid:.1%})")
    extra = {"fit_a_s": a, "fit_b_s_per_edge": b, "fit_max_residual": resid,
             "best_chunk": best, "extrapolated": True, "n_edges": full, "n_test": n_test}
    rows.append(row(SUITE, case, f"{method}, chunk {points[0]['chunk']}", "seconds", total,
                    "s", note=note, **extra))
    rows.append(row(SUITE, case, f"{method}, chunk {points[0]['chunk']}",
                    "seconds per test triple", total / n_test, "s", note=note, **extra))
    rows.append(row(SUITE, case, f"{method}, chunk {points[0]['chunk']}", "edges/s",
                    full / total, "edges/s", note=note, **extra))
    return rows
