"""benchmarks/kelpie_checkpoints.py's Spearman correlation against hand-computed values
(1 - 6 sum d^2 / (n (n^2 - 1)) without ties)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kelpie_checkpoints.py"


@pytest.fixture(scope="module")
def module():
    spec = importlib.util.spec_from_file_location("kelpie_checkpoints", SCRIPT)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], -1.0),
    ([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], 0.8),   # d = 0, 1, 1, 0: 1 - 12 / 60
    ([0.1, 5.0, -2.0, 7.0], [10.0, 20.0, 0.0, 30.0], 1.0),  # monotone, not linear
])
def test_spearman_by_hand(module, a, b, expected):
    f64 = torch.float64
    got = module.spearman(torch.tensor(a, dtype=f64), torch.tensor(b, dtype=f64))
    assert got == pytest.approx(expected, abs=1e-12)


def test_spearman_of_one_value_is_nan(module):
    assert math.isnan(module.spearman(torch.tensor([1.0]), torch.tensor([2.0])))
