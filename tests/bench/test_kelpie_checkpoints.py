"""benchmarks/kelpie_checkpoints.py's summary of each checkpoint's part in TracInCP's choice,
against a case computed by hand."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import load_benchmark_script


@pytest.fixture(scope="module")
def module():
    return load_benchmark_script("kelpie_checkpoints")


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_summary_by_hand(module):
    # two targets; target 0 has 3 candidates, target 1 has one
    early = [_t(3.0, 1.0, 0.0), _t(2.0)]
    late = [_t(0.0, 1.0, 2.0), _t(6.0)]
    rows, best = module.summarize([early, late])
    # sums: target 0 (3, 2, 2) -> best 0; target 1 (8) -> best 0
    assert best == [0, 0]
    # shares of the best: early 3/3 and 2/8 -> median of (1, 0.25) = 0.25 (torch's lower
    # median); late 0/3 and 6/8 -> median of (0, 0.75) = 0
    assert rows[0]["share_median"] == pytest.approx(0.25)
    assert rows[1]["share_median"] == pytest.approx(0.0)
    # top candidate alone: early picks 0 (= sum's) for both targets; late picks 2 for target 0
    assert rows[0]["top1_agrees"] == 2 and rows[1]["top1_agrees"] == 1
    # Spearman over target 0 only (target 1: one candidate, NaN, left out of the median):
    # sum (3, 2, 2) has average ranks (3, 1.5, 1.5), centred (1, -0.5, -0.5); early (3, 1, 0)
    # ranks (3, 2, 1), centred (1, 0, -1): rho = 1.5 / sqrt(1.5 * 2) = 0.866
    assert rows[0]["spearman_median"] == pytest.approx(1.5 / math.sqrt(3.0), abs=1e-12)
    # late (0, 1, 2): centred ranks (-1, 0, 1) -> rho = -1.5 / sqrt(3)
    assert rows[1]["spearman_median"] == pytest.approx(-1.5 / math.sqrt(3.0), abs=1e-12)
