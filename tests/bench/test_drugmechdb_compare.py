"""benchmarks/drugmechdb_compare.py: paired differences against hand-computed values, and its
refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "drugmechdb_compare.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def _write(path: Path, rrs: list[float], pairs: list[list[str]] | None = None) -> Path:
    pairs = pairs or [[f"C{i}", f"D{i}"] for i in range(len(rrs))]
    path.write_text(json.dumps({"per_pair": [{"pair": p, "tracin": {"rr": v}}
                                             for p, v in zip(pairs, rrs, strict=True)],
                                "top_relations": {"k": 10, "counts": {"TREATS_CtD": 3}}}))
    return path


def test_paired_difference_by_hand(tmp_path):
    a = _write(tmp_path / "a.json", [1.0, 0.5, 0.25, 0.5])
    b = _write(tmp_path / "b.json", [0.5, 0.5, 0.25, 0.25])
    done = _run(str(a), str(b), "--rows", "tracin:rr")
    assert done.returncode == 0, done.stderr
    # means 2.25 / 4 = 0.5625 and 1.5 / 4 = 0.375; differences 0.5, 0, 0, 0.25 -> +0.1875;
    # sign-flip p over the 2^2 sign patterns of the two non-zero differences: 2 of 4 reach
    # |sum| >= 0.75 -> p = 0.5 (up to Monte Carlo noise)
    row = [line for line in done.stdout.splitlines() if line.startswith("| tracin |")]
    assert len(row) == 1 and "| 0.562 | 0.375 | +0.188 [" in row[0], done.stdout
    p = float(row[0].rsplit("p = ", 1)[1].rstrip(" |"))
    assert p == pytest.approx(0.5, abs=0.03)
    assert "`TREATS_CtD` 3" in done.stdout


def test_refusals(tmp_path):
    a = _write(tmp_path / "a.json", [1.0, 0.5])
    other = _write(tmp_path / "b.json", [1.0, 0.5], pairs=[["C0", "D0"], ["C9", "D9"]])
    done = _run(str(a), str(other), "--rows", "tracin:rr")
    assert done.returncode == 2 and "different pairs" in done.stderr
    done = _run(str(a), str(a), "--rows", "mechanism_mean:rr")
    assert done.returncode == 2 and "no mechanism_mean/rr" in done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    done = _run(str(bad), str(a))
    assert done.returncode == 2 and str(bad) in done.stderr and "Traceback" not in done.stderr
    done = _run(str(a), str(a), "--rows", "tracin")
    assert done.returncode == 2 and "RANKING:METRIC" in done.stderr
