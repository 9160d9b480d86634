"""``benchmarks/gpu_check.sh``: its CPU dry run (always), and the cuda-marked checks it runs on
a GPU (skipped cleanly without one): row-shared structured TracIn, evaluation, the bf16
training path and TF32 TracIn, each against the CPU.

The device of the cuda-marked checks is ``KGIF_CHECK_DEVICE`` (default ``cuda``); the dry run
sets it to ``cpu``, so the same code runs there on the CPU. Compared with itself, the CPU proves
nothing about a GPU: those runs carry the ``cpu_dry_run`` marker and are reported as "dry run"
(tests/conftest.py), never as passed GPU tests."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import small_conve
from tolerances import ATOL64, RTOL64, RTOL_BF16_LOSS, RTOL_PATHS32, RTOL_TF32

from kgif.bench.common import random_triples
from kgif.evaluation.ranks import filtered_ranks
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint

ROOT = Path(__file__).resolve().parents[2]
N_ENT, N_REL = 11, 3
DEVICE = os.environ.get("KGIF_CHECK_DEVICE", "cuda")


def on_device(test):
    """The ``cuda`` marker (skipped without a GPU by conftest.py), or ``cpu_dry_run`` (reported
    as "dry run") when the device is the CPU."""
    return pytest.mark.cuda(test) if DEVICE.startswith("cuda") else pytest.mark.cpu_dry_run(test)


def test_dry_run_writes_every_row(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    env.pop("KGIF_CHECK_DEVICE", None)
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run",
                           "--out", str(tmp_path)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "gpu-check-dry-run.json").read_text())
    assert result["dry_run"] is True and result["tests"]["returncode"] == 0
    assert result["tests"]["gpu_tested"] is False
    # tests/influence/test_gpu.py: 7 skipped (no GPU); this file's 7 GPU checks ran on the CPU:
    # dry run
    summary = result["tests"]["summary"]
    assert re.fullmatch(r"7 skipped, 1 deselected, 7 dry run in [0-9.]+s", summary), summary
    assert "passed" not in summary
    cases = [r["case"] for r in result["rows"]]
    assert len(cases) == 3 and "synthetic seed-scale" in cases[1] and "hetionet" in cases[2]
    for r in result["rows"]:
        assert math.isfinite(r["seconds"]) and r["seconds"] > 0, r
    table = (tmp_path / "gpu-check-dry-run.md").read_text()
    assert "dry run: no GPU was tested" in table
    assert table.count("\n| ") == 5  # header, rule and 3 rows


def _checkpoints(dtype=torch.float64):
    out = []
    for seed, lr in ((4, 0.2), (5, 0.06)):
        config, params, buffers = small_conve(seed=seed, num_entities=N_ENT,
                                              num_relations=N_REL, dtype=dtype)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed))
    return out


@on_device
@pytest.mark.parametrize("share", [True, False])
@pytest.mark.parametrize("objective", ["score", "bce_1n"])
def test_row_shared_tracin_on_cuda_equals_cpu_float64(share, objective):
    ckpts = _checkpoints()
    train = random_triples(12, 3, 2, seed=6)  # 3 heads x 2 relations: rows repeat
    test = random_triples(4, N_ENT, N_REL, seed=7)
    kwargs = dict(train_objective=objective, test_objective=objective, batch_size=5,
                  show_progress=False)
    cpu = TracIn(ckpts, train, **kwargs)
    cpu.engine.share_rows = False
    gpu = TracIn(ckpts, train, device=DEVICE, **kwargs)
    gpu.engine.share_rows = share
    torch.testing.assert_close(gpu.influence(test).cpu(), cpu.influence(test), rtol=RTOL64,
                               atol=ATOL64)


@on_device
def test_evaluation_on_cuda_equals_cpu():
    ckpt = _checkpoints()[0]
    triples = random_triples(20, N_ENT, N_REL, seed=8)
    ranks = {}
    for device in ("cpu", DEVICE):
        c = ckpt.to(device=device)
        ranks[device] = filtered_ranks(c.params, c.buffers, c.config, triples.to(device),
                                       triples.to(device))
    for side, (opt, pes) in ranks["cpu"].items():
        assert torch.equal(ranks[DEVICE][side][0].cpu(), opt)
        assert torch.equal(ranks[DEVICE][side][1].cpu(), pes)


@on_device
def test_bf16_training_epoch_on_cuda_runs_and_is_close_to_float32():
    from kgif.data.datasets import load_dataset
    from kgif.training.loop import train
    from kgif.training.presets import preset_configs

    kg = load_dataset("nations")
    losses = {}
    for bf16 in (False, True):
        config, tc = preset_configs("hetionet", device=DEVICE, epochs=1, eval_every=0,
                                    checkpoint_every=0, bf16=bf16, seed=0,
                                    relation_repeats={})  # Nations has no TREATS_CtD
        result = train(kg, config, tc, show_progress=False)
        losses[bf16] = result.loss_history[-1]
    assert math.isfinite(losses[True])
    assert math.isclose(losses[True], losses[False], rel_tol=RTOL_BF16_LOSS)


@on_device
def test_tf32_tracin_on_cuda_close_to_float64():
    ckpts = _checkpoints()
    train, test = random_triples(16, N_ENT, N_REL, seed=9), random_triples(3, N_ENT, N_REL, 10)
    reference = TracIn(ckpts, train, show_progress=False).influence(test)
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        gpu = TracIn(ckpts, train, device=DEVICE, dtype=torch.float32, show_progress=False)
        got = gpu.influence(test).cpu().double()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    scale = reference.abs().max()
    assert (got - reference).abs().max() <= RTOL_TF32 * scale
    plain = TracIn(ckpts, train, device=DEVICE, dtype=torch.float32, show_progress=False)
    assert ((plain.influence(test).cpu().double() - reference).abs().max()
            <= RTOL_PATHS32 * scale)
