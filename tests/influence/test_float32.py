"""float32 TracIn on a realistic-size ConvE (PyKEEN defaults: d = 200 as 10x20, 32 channels,
UMLS-sized tables): bits independent of batching and sharding; accuracy against float64."""

from __future__ import annotations

import pytest
import torch
from tolerances import RTOL32_BATCHING, RTOL32_REALISTIC

from kgif.influence.distributed import Context, ShardedTracIn
from kgif.influence.topk import merge_topk
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig, init_conve

N_ENT, N_REL, N_TRAIN = 135, 46, 260  # UMLS sizes; 260 edges = a full and a padded batch


@pytest.fixture(scope="module")
def setup():
    config = ConvEConfig()
    params, buffers = init_conve(config, N_ENT, N_REL, seed=1, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    params = {k: v + 0.05 * torch.randn(v.shape, generator=gen, dtype=v.dtype)
              for k, v in params.items()}
    ckpts = [Checkpoint(params, buffers, config, learning_rate=0.01, epoch=1)]
    train = torch.stack([torch.randint(N_ENT, (N_TRAIN,), generator=gen),
                         torch.randint(N_REL, (N_TRAIN,), generator=gen),
                         torch.randint(N_ENT, (N_TRAIN,), generator=gen)], 1)
    test = torch.stack([torch.randint(N_ENT, (3,), generator=gen),
                        torch.randint(N_REL, (3,), generator=gen),
                        torch.randint(N_ENT, (3,), generator=gen)], 1)
    tracin = TracIn(ckpts, train, dtype=torch.float32, batch_size=256, show_progress=False)
    return ckpts, train, test, tracin, tracin.influence(test)


def test_edge_factors_bit_identical_alone_and_inside_a_batch(setup):
    """The forward pass of an edge (every factor of its gradient) is the same bits whether it
    is scored alone or inside a full batch: batches are padded to a fixed size."""
    _, train, _, tracin, _ = setup
    ckpt = tracin.checkpoints[0]
    full = tracin.engine._factors(ckpt, tracin.edge_examples(train[:256]), tracin.train_objective)
    alone = tracin.engine._factors(ckpt, tracin.edge_examples(train[[100] * 256]),
                                   tracin.train_objective)
    for name in ("f", "g", "k", "delta", "x", "small", "coef"):
        assert torch.equal(getattr(full, name)[100], getattr(alone, name)[0]), name
        assert torch.equal(getattr(full, name)[356], getattr(alone, name)[256]), name  # inverse


def test_edge_scores_alone_and_inside_a_batch_agree(setup):
    _, train, test, tracin, full = setup
    scale = full.abs().max()
    for rows in ([100], [257], [7, 250, 3], [259, 0]):  # alone, second batch, shuffled
        got = tracin.influence(test, train_triples=train[rows])
        error = (got - full[:, rows]).abs().max() / scale
        assert error <= RTOL32_BATCHING, (rows, float(error))


def test_sharded_topk_bit_identical_to_single_process(setup):
    ckpts, train, test, _, _ = setup
    tracin = TracIn(ckpts, train, dtype=torch.float32, batch_size=64, show_progress=False)
    single = tracin.top_influences(test, 10)
    parts = [ShardedTracIn(tracin, Context(rank, 3, rank)).local_top_influences(test, 10)
             for rank in range(3)]
    for side, largest in ((0, True), (1, False)):
        merged = merge_topk([p[side] for p in parts], 10, largest)
        assert torch.equal(merged.indices, single[side].indices)
        assert torch.equal(merged.influence_scores, single[side].influence_scores)


def test_float32_accuracy_against_float64(setup):
    """The number docs/tracin.md states: max |float32 - float64| / max |score|."""
    ckpts, train, test, _, full = setup
    reference = TracIn(ckpts, train, show_progress=False).influence(test)  # float64
    assert reference.dtype == torch.float64
    error = (full.double() - reference).abs().max() / reference.abs().max()
    assert error < RTOL32_REALISTIC, float(error)
