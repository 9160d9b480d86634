"""GPU checks (``cuda`` marker; skipped cleanly without a GPU): TracIn engines and a training
step on CUDA against CPU float64."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve
from tolerances import ATOL64, RTOL64

from kgif.bench.common import random_triples
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import hidden, score_all
from kgif.training.loop import TrainingConfig, make_step

pytestmark = pytest.mark.cuda
N_ENT, N_REL = 11, 3


def _checkpoints():
    out = []
    for seed, lr in ((1, 0.3), (2, 0.05)):
        config, params, buffers = small_conve(seed=seed, num_entities=N_ENT, num_relations=N_REL)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed))
    return out


@pytest.mark.parametrize("objective", ["score", "pointwise_bce", "bce_1n"])
@pytest.mark.parametrize("method", ["structured", "generic"])
def test_tracin_on_cuda_equals_cpu_float64(method, objective):
    ckpts = _checkpoints()
    train, test = random_triples(9, N_ENT, N_REL, seed=1), random_triples(3, N_ENT, N_REL, seed=2)
    kwargs = dict(train_objective=objective, test_objective=objective, method=method,
                  batch_size=4, show_progress=False)
    cpu = TracIn(ckpts, train, **kwargs)
    gpu = TracIn(ckpts, train, device="cuda", **kwargs)
    torch.testing.assert_close(gpu.influence(test).cpu(), cpu.influence(test),
                               rtol=RTOL64, atol=ATOL64)
    pro_gpu, _ = gpu.top_influences(test, 3, candidates=[torch.tensor([4, 0, 2])] * 3)
    pro_cpu, _ = cpu.top_influences(test, 3, candidates=[torch.tensor([4, 0, 2])] * 3)
    assert torch.equal(pro_gpu.indices.cpu(), pro_cpu.indices)
    torch.testing.assert_close(gpu.self_influence().cpu(), cpu.self_influence(),
                               rtol=RTOL64, atol=ATOL64)


def test_training_step_on_cuda_equals_cpu_float64():
    config, params, buffers = small_conve(seed=3, num_entities=N_ENT, num_relations=N_REL,
                                          input_dropout=0.0, feature_map_dropout=0.0,
                                          output_dropout=0.0)
    h, r = torch.tensor([0, 3, 5]), torch.tensor([0, 1, 4])
    rows, cols = torch.tensor([0, 0, 1, 2]), torch.tensor([1, 7, 2, 9])
    grads = {}
    for device in ("cpu", "cuda"):
        step = make_step(config, TrainingConfig(device=device))
        leaf = {k: v.to(device).requires_grad_(True) for k, v in params.items()}
        loss, _ = step(leaf, {k: v.to(device) for k, v in buffers.items()}, h.to(device),
                       r.to(device), rows.to(device), cols.to(device))
        loss.backward()
        grads[device] = {k: v.grad.cpu() for k, v in leaf.items()}
    for name, g in grads["cpu"].items():
        torch.testing.assert_close(grads["cuda"][name], g, rtol=RTOL64, atol=ATOL64)
    f, _ = hidden(params, buffers, h, r, config)
    assert score_all(params, f).shape == (3, N_ENT)
