"""The seed-scale roofline rows (kgif.bench.seedscale) at the smoke size."""

from __future__ import annotations

import math

import pytest
import torch

from kgif.bench.common import BENCH_SIZES
from kgif.bench.seedscale import block_edges, run_seedscale


def test_block_edges_from_the_memory_budget():
    # 256 MiB / (4 bytes x 2 examples x (16 x 750 + 896)) = 2,601 edges
    assert block_edges(2**28, 750, 896) == 2601
    assert block_edges(1, 750, 896) == 1


def test_smoke_rows_state_flops_fractions_and_before_after():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = run_seedscale(BENCH_SIZES["smoke"], "cpu")
    finally:
        torch.set_num_threads(threads)
    by = {(r["method"], r["metric"]): r["value"] for r in rows}
    # d = 32, F = 32 x 14 x 2 = 896: 2 F + 12 d + 2 P_small with P_small = 2 (bn0) + 288 + 32
    # (conv) + 64 (bn1) + 64 (bn2) = 450 -> 1,792 + 384 + 900 = 3,076 FLOPs per pair
    assert by["pair products", "FLOPs per pair"] == 3076
    peak = by["GEMM (2B, F) x (F, T) float32", "FLOP/s"]
    for part in ("factor pass", "pair products"):
        # each fraction is the part's rate over the GEMM measured in the same run (a bound such
        # as "< 1" would fail whenever other jobs slow the GEMM's timing more than the part's)
        assert by[part, "fraction of peak"] == pytest.approx(by[part, "FLOP/s"] / peak,
                                                             rel=1e-12)
    assert by["top-k", "seconds per edge"] > 0
    assert all(math.isfinite(r["value"]) and r["value"] > 0 for r in rows)
