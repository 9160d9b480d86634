"""Normalised TracIn (cosine, RelatIF-style) against a float64 plain-autograd reference."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve
from reference import reference_grad, reference_influence
from tolerances import ATOL32, ATOL64, RTOL32, RTOL64

from kgif.bench.common import random_triples
from kgif.influence.grads import resolve_parameters
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint

N_ENT, N_REL = 9, 3
RATES = (0.2, 0.07)


def _checkpoints():
    out = []
    for seed, lr in zip((3, 4), RATES, strict=True):
        config, params, buffers = small_conve(seed=seed, num_entities=N_ENT,
                                              num_relations=N_REL)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed))
    return out


@pytest.mark.parametrize("normalize", ["cosine", "relatif"])
@pytest.mark.parametrize("objective", ["score", "pointwise_bce", "bce_1n"])
@pytest.mark.parametrize("method", ["structured", "generic"])
def test_normalized_influence_matches_float64_reference(normalize, objective, method):
    ckpts = _checkpoints()
    train = random_triples(7, N_ENT, N_REL, seed=11)
    test = random_triples(3, N_ENT, N_REL, seed=12)
    names = resolve_parameters(None, ckpts[0].params)
    tracin = TracIn(ckpts, train, train_objective=objective, test_objective=objective,
                    method=method, batch_size=4, show_progress=False, allow_mixed_runs=True,
                    normalize=normalize)
    want = reference_influence(ckpts, test, train, objective, names=names, normalize=normalize)
    torch.testing.assert_close(tracin.influence(test), want, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("normalize", ["cosine", "relatif"])
def test_normalized_subset_top_k_and_float32(normalize):
    ckpts = _checkpoints()
    train = random_triples(10, N_ENT, N_REL, seed=21)
    test = random_triples(2, N_ENT, N_REL, seed=22)
    names = resolve_parameters("fc", ckpts[0].params)
    want = reference_influence(ckpts, test, train, "score", names=names, normalize=normalize)
    tracin = TracIn(ckpts, train, parameters="fc", batch_size=3, show_progress=False,
                    allow_mixed_runs=True, normalize=normalize)
    torch.testing.assert_close(tracin.influence(test), want, rtol=RTOL64, atol=ATOL64)
    props, opps = tracin.top_influences(test, 3)
    assert torch.equal(props.indices, want.argsort(dim=1, descending=True, stable=True)[:, :3])
    assert torch.equal(opps.indices, want.argsort(dim=1, stable=True)[:, :3])
    tracin32 = TracIn(ckpts, train, parameters="fc", batch_size=3, dtype=torch.float32,
                      show_progress=False, allow_mixed_runs=True, normalize=normalize)
    torch.testing.assert_close(tracin32.influence(test).double(), want, rtol=RTOL32,
                               atol=ATOL32)


def test_cosine_is_bounded_and_self_cosine_is_one():
    ckpt = _checkpoints()[:1]
    edges = random_triples(5, N_ENT, N_REL, seed=31)
    tracin = TracIn(ckpt, edges, show_progress=False, normalize="cosine")
    scores = tracin.influence(edges) / ckpt[0].learning_rate
    assert scores.abs().max() <= 1 + 1e-12
    # a test triple (h, r, t) has only the forward gradient, so compare with the forward-only
    # reference rather than expecting 1 on the diagonal
    names = resolve_parameters(None, ckpt[0].params)
    h, r, t = edges[0].tolist()
    g_fwd = reference_grad(ckpt[0], (h, r, t), "score", names, test=True)
    g_edge = reference_grad(ckpt[0], (h, r, t), "score", names)
    want = g_fwd.dot(g_edge) / (g_fwd.norm() * g_edge.norm())
    torch.testing.assert_close(scores[0, 0], want, rtol=RTOL64, atol=ATOL64)


def test_zero_gradient_gives_zero_not_nan():
    ckpt = _checkpoints()[0]
    params = dict(ckpt.params)
    params["fc.weight"] = torch.zeros_like(params["fc.weight"])  # hidden vector constant
    zeroed = Checkpoint(params, ckpt.buffers, ckpt.config, learning_rate=0.1, epoch=1)
    edges = random_triples(4, N_ENT, N_REL, seed=41)
    for normalize in ("cosine", "relatif"):
        tracin = TracIn([zeroed], edges, parameters="fc.weight", show_progress=False,
                        normalize=normalize)
        assert torch.isfinite(tracin.influence(edges[:2])).all()


def test_unknown_normalize_is_refused_naming_the_value():
    with pytest.raises(ValueError, match="normalize='l2'"):
        TracIn(_checkpoints()[:1], random_triples(3, N_ENT, N_REL), normalize="l2")
