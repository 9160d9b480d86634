"""The ``roofline`` suite's seed-scale rows: where one edge of the seed project's job goes.

Shape (the seed project's ConvE, :mod:`kgif.bench.wholegraph`): d = 32 as 8 x 4, C = 32
channels, 3 x 3 kernel, so the conv map is 14 x 2 and F = C h w = 896; N entities (1 M at
``quick``/``full``), T test triples (750), training edges streamed in blocks of B edges
(2B examples: both directions), the ``score`` objective, every parameter, top-10.

FLOPs (multiply-add = 2), per training *edge* against T test triples:

* factor pass: 2 examples x (6 C kh kw h w + 4 F d) (:mod:`kgif.bench.roofline`);
* pair products: 2 T x (2 F + 12 d + 2 P_small) (the (2B, T) kernel);
* top-k: no FLOPs counted; its time is reported as seconds per edge.

The peak is measured in the same process on the pair products' dominant GEMM shape, (2B, F) x
(F, T) in float32, so the fraction is of what this machine's BLAS does on this shape, not of a
datasheet number. ``before``/``after`` rows time the former code path beside the new one in the
same process (the entity terms through dense (2B, T) equality masks against matched pairs; the
whole-block sort of the top-k against the threshold pre-filter; the six d-wide products as
separate GEMMs against one batched GEMM), so their ratio survives a loaded machine.

Block size (memory budget): one block holds about :data:`LIVE_PAIR_MATRICES` float32 (2B, T)
matrices at once (the products, their coefficients and the running sum), plus the factors
(2B x (F + 4 d + P_small) floats), so B = budget / (4 x 2 x (LIVE x T + F)) edges;
:func:`block_edges` applies it (256 MiB -> B = 2,048 at T = 750).
"""

from __future__ import annotations

from typing import Any

import torch

from kgif.bench.common import (
    BenchSize,
    ModelSize,
    median_time,
    random_checkpoint,
    random_triples,
    row,
)
from kgif.data.graph import with_reciprocals
from kgif.influence.grads import FACTORED, structured_factors
from kgif.influence.kernels import (
    ALL_PAIRS,
    FACTOR_TERMS,
    ONE_HOT_TERMS,
    Matched,
    _dense_products,  # the former paths, for before/after
    _Products,
    as_right,
    structured_scores,
)
from kgif.influence.topk import TopK
from kgif.model.loss import get_objective

SUITE = "roofline"

#: Float32 (2B, T) matrices alive at once inside one block of the pair kernel (measured by
#: reading :func:`kgif.influence.kernels.structured_scores`: 6 stacked products, u look-ups,
#: the x products, the running total and temporaries), rounded up.
LIVE_PAIR_MATRICES = 16

#: Bench size -> entities N, test triples T, memory budget of one block in bytes, edges timed.
SIZES = {
    "smoke": {"num_entities": 2_000, "n_test": 24, "budget": 2**20, "topk_batches": 3},
    "quick": {"num_entities": 1_000_000, "n_test": 750, "budget": 2**28, "topk_batches": 8},
    "full": {"num_entities": 1_000_000, "n_test": 750, "budget": 2**28, "topk_batches": 16},
}
SEED = ModelSize("seed-scale", 1_000_000, 16, embedding_dim=32, embedding_height=8,
                 output_channels=32)
TOP = 10


def block_edges(budget: int, n_test: int, num_features: int) -> int:
    """Training edges per streamed block that keep one block's pair matrices in ``budget``.

    Args:
        budget: bytes for one block's float32 intermediates.
        n_test: T.
        num_features: F.

    Returns:
        B >= 1 (each edge is two examples, so 2B rows).
    """
    return max(1, budget // (4 * 2 * (LIVE_PAIR_MATRICES * n_test + num_features)))


def _sort_whole_block(top: TopK, scores: torch.Tensor, ids: torch.Tensor) -> None:
    """The former TopK.update: the two stable sorts over every entry of (T, k + B)."""
    values = torch.cat([top.values, scores], 1)
    ids = torch.cat([top.indices, ids.expand(scores.shape[0], -1)], 1)
    by_id = torch.sort(ids, dim=1, stable=True).indices
    by_score = torch.sort(values.gather(1, by_id), dim=1, descending=top.largest,
                          stable=True).indices
    order = by_id.gather(1, by_score)[:, : top.k]
    top.values, top.indices = values.gather(1, order), ids.gather(1, order)


def _separate_dots(left, right) -> list[torch.Tensor]:
    """The former d-wide products: one small GEMM each."""
    return [left.f @ right.f.T, left.g @ right.f.T, left.f @ right.g.T, left.g @ right.g.T,
            left.k @ right.k.T, left.delta @ right.delta.T]


def _dense_masks(left, right, factored) -> torch.Tensor:
    """The former pair kernel: the entity terms through dense (2B, T) equality masks."""
    shared = _dense_products(left, right, ALL_PAIRS, None)
    total = left.small @ right.small.T
    for name in factored:
        total = total + FACTOR_TERMS[name](left, right, ALL_PAIRS, shared)
    return total


def _unfused(left, right, factored) -> torch.Tensor:
    """The pair kernel before fusing: the entity terms at matched pairs, each added through its
    own zero (2B, T) tensor; the fc weight and bias with a delta product each; the relation term
    through a dense equality mask; every sum out of place."""
    none = _Products(None, None, None)
    total = left.small @ right.small.T
    for name in factored:
        term = (ONE_HOT_TERMS if name in ("entity_embedding", "entity_bias") else FACTOR_TERMS)[
            name](left, right, ALL_PAIRS, none)
        if isinstance(term, Matched):
            term = ALL_PAIRS.add_at(ALL_PAIRS.zeros(left.h, right.h, left.f), *term)
        total = total + term
    return total


def _batched_dots(left, right) -> torch.Tensor:
    """The same six products as ONE batched GEMM over stacked factors, (6, 2B, d) x (6, d, T):
    measured slower than six GEMMs on CPU (docs/scaling.md), so the kernel keeps them apart."""
    a = torch.stack([left.f, left.g, left.f, left.g, left.k, left.delta])
    b = torch.stack([right.f, right.f, right.g, right.g, right.k, right.delta])
    return torch.bmm(a, b.transpose(1, 2))


def _topk_stream(update, score_blocks, ids_blocks, like) -> None:
    top = TopK(like.shape[0], TOP, True, like)
    for scores, ids in zip(score_blocks, ids_blocks, strict=True):
        update(top, scores, ids)


def _case(n: int, t: int, b: int) -> str:
    return f"seed-scale d=32 (8x4) C=32 N={n} T={t} B={b} edges/block"


def run_seedscale(preset: BenchSize, device: str) -> list[dict]:
    """Rows: the GEMM peak, FLOPs per edge and per pair, each part's FLOP/s and fraction of
    the peak, seconds per edge of each part, and the before/after pairs."""
    sizes = SIZES.get(preset.name, SIZES["smoke"])
    n, t = sizes["num_entities"], sizes["n_test"]
    ckpt = random_checkpoint(ModelSize(SEED.name, n, SEED.num_relations, 32, 8, 32),
                             device=device)
    config = ckpt.config
    f_dim, d = config.num_features, config.embedding_dim
    b = block_edges(sizes["budget"], t, f_dim)
    case = _case(n, t, b)
    small = tuple(k for k in ckpt.params if k not in FACTORED)
    factored = tuple(k for k in ckpt.params if k in FACTORED)
    p_small = sum(ckpt.params[k].numel() for k in small)
    map_h, map_w = config.feature_map_shape
    conv = 2 * config.output_channels * config.kernel_height * config.kernel_width * map_h * map_w
    flops_example = 3 * conv + 2 * 2 * f_dim * d
    flops_pair = 2 * f_dim + 12 * d + 2 * p_small
    score = get_objective("score")
    edges = with_reciprocals(random_triples(b, n, SEED.num_relations, 1)).to(device)
    test = random_triples(t, n, SEED.num_relations, 2).to(device)
    test = torch.stack([test[:, 0], 2 * test[:, 1], test[:, 2]], 1)
    pr, bu = ckpt.params, ckpt.buffers
    left = structured_factors(pr, bu, config, edges, score, small)
    right = as_right(structured_factors(pr, bu, config, test, score, small), n)
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(2 * b, f_dim, generator=gen).to(device)
    bt = torch.randn(f_dim, t, generator=gen).to(device)
    with torch.no_grad():
        peak = 2 * (2 * b) * f_dim * t / median_time(lambda: a @ bt, preset, device)
        t_factors = median_time(
            lambda: structured_factors(pr, bu, config, edges, score, small), preset, device)
        t_conv2d = median_time(
            lambda: structured_factors(pr, bu, config, edges, score, small, conv_as_gemm=False),
            preset, device)
        t_pairs = median_time(lambda: structured_scores(left, right, factored), preset, device)
        t_masks = median_time(lambda: _dense_masks(left, right, factored), preset, device)
        t_unfused = median_time(lambda: _unfused(left, right, factored), preset, device)
        t_stacked = median_time(lambda: _batched_dots(left, right), preset, device)
        t_separate = median_time(lambda: _separate_dots(left, right), preset, device)
        blocks = [torch.randn(t, b, generator=gen).to(device)
                  for _ in range(sizes["topk_batches"])]
        ids = [torch.arange(i * b, (i + 1) * b, device=device) for i in range(len(blocks))]
        t_topk = median_time(lambda: _topk_stream(TopK.update, blocks, ids, blocks[0]),
                             preset, device) / len(blocks)
        t_sort = median_time(lambda: _topk_stream(_sort_whole_block, blocks, ids, blocks[0]),
                             preset, device) / len(blocks)
    # free-form columns of every row (row's **extra); Any: mypy would match a dict[str, float]
    # against row's str keyword parameters (baseline, note) too
    extra: dict[str, Any] = {
        "edges_per_block": b, "n_test": t, "num_entities": n, "F": f_dim, "d": d,
        "P_small": p_small, "peak_flops": peak, "budget_bytes": sizes["budget"],
        "flops_per_example": flops_example, "flops_per_pair": flops_pair}
    per_edge = {"factor pass": 2 * flops_example, "pair products": 2 * t * flops_pair}
    seconds = {"factor pass": t_factors, "pair products": t_pairs, "top-k": t_topk}
    rows = [row(SUITE, case, "GEMM (2B, F) x (F, T) float32", "FLOP/s", peak, "FLOP/s",
                **extra),
            row(SUITE, case, "pair products", "FLOPs per pair", flops_pair, "FLOP", **extra),
            row(SUITE, case, "whole edge", "FLOPs per edge", sum(per_edge.values()), "FLOP",
                **extra)]
    for part, s in seconds.items():
        rows.append(row(SUITE, case, part, "seconds per edge", s / b, "s", **extra))
        if part in per_edge:
            rate = per_edge[part] * b / s
            rows.append(row(SUITE, case, part, "FLOP/s", rate, "FLOP/s", **extra))
            rows.append(row(SUITE, case, part, "fraction of peak", rate / peak, "", **extra))
    total = sum(seconds.values())
    rows.append(row(SUITE, case, "factor + pairs + top-k", "fraction of peak",
                    sum(per_edge.values()) * b / total / peak, "", **extra))
    rows.append(row(SUITE, case, "factor pass (before: F.conv2d without oneDNN)",
                    "seconds per edge", t_conv2d / b, "s", **extra))
    rows.append(row(SUITE, case, "factor pass speed-up (conv2d / one GEMM over patches)",
                    "ratio", t_conv2d / t_factors, "x", **extra))
    rows.append(row(SUITE, case, "top-k (before: sort whole block)", "seconds per edge",
                    t_sort / b, "s", **extra))
    rows.append(row(SUITE, case, "pair products (before: dense equality masks)",
                    "seconds per edge", t_masks / b, "s", **extra))
    rows.append(row(SUITE, case, "pair products speed-up (masks / matched pairs)", "ratio",
                    t_masks / t_pairs, "x", **extra))
    rows.append(row(SUITE, case, "pair products (before: unfused fc and relation terms)",
                    "seconds per edge", t_unfused / b, "s", **extra))
    rows.append(row(SUITE, case, "pair products speed-up (unfused / fused)", "ratio",
                    t_unfused / t_pairs, "x", **extra))
    rows.append(row(SUITE, case, "top-k speed-up (sort / pre-filter)", "ratio",
                    t_sort / t_topk, "x", **extra))
    rows.append(row(SUITE, case, "d-products: one batched GEMM vs six (separate / batched)",
                    "ratio", t_separate / t_stacked, "x", **extra))
    rows.append(row(SUITE, case, "seed job at this rate (3 checkpoints, 18.6 M edges)",
                    "projected hours", 3 * 18_600_000 * total / b / 3600, "h", **extra))
    return rows
