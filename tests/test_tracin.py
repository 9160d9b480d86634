"""TracIn against a float64 reference that loops over triples with plain autograd."""

from __future__ import annotations

import pytest
import torch
from helpers import random_triples, small_conve
from tolerances import ATOL32, ATOL64, RTOL32, RTOL64, RTOL_PATHS32, RTOL_PATHS64

from kgif.checkpoint import Checkpoint
from kgif.grads import resolve_parameters
from kgif.loss import get_objective
from kgif.model import hidden, score_all
from kgif.tracin import TracIn

N_ENT, N_REL = 11, 3
LEARNING_RATES = (0.3, 0.05)


def _checkpoints(dtype=torch.float64, **overrides):
    out = []
    for seed, lr in zip((1, 2), LEARNING_RATES, strict=True):
        config, params, buffers = small_conve(seed=seed, num_entities=N_ENT,
                                              num_relations=N_REL, dtype=dtype, **overrides)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed))
    return out


def _reference_grad(ckpt, example, objective, names):
    """Full gradient (flat vector over ``names``) of one example, plain autograd."""
    leaf = {k: v.detach().clone().requires_grad_(k in names) for k, v in ckpt.params.items()}
    h, r, t = (torch.tensor([int(v)]) for v in example)
    f, _ = hidden(leaf, ckpt.buffers, h, r, ckpt.config)
    s = score_all(leaf, f)  # (1, N): the reference does not exploit one-hot structure
    loss = objective.loss(s[0, t]) if objective.one_hot else objective.loss(s, t)
    grads = torch.autograd.grad(loss.sum(), [leaf[n] for n in names])
    return torch.cat([g.flatten() for g in grads])


def _reference_influence(ckpts, test, train, train_obj, test_obj, names):
    """sum_k eta_k sign <g_train_edge, g_test>, edges summing both directions."""
    train_obj, test_obj = get_objective(train_obj), get_objective(test_obj)
    sign = 1.0 if train_obj.kind == test_obj.kind else -1.0
    scores = torch.zeros(len(test), len(train), dtype=torch.float64)
    for ckpt in ckpts:
        for j, (h, r, t) in enumerate(test.tolist()):
            g_test = _reference_grad(ckpt, (h, 2 * r, t), test_obj, names)
            for i, (a, q, b) in enumerate(train.tolist()):
                g_edge = (_reference_grad(ckpt, (a, 2 * q, b), train_obj, names)
                          + _reference_grad(ckpt, (b, 2 * q + 1, a), train_obj, names))
                scores[j, i] += sign * ckpt.learning_rate * torch.dot(g_edge, g_test)
    return scores


def _reference_self(ckpts, train, objective, names):
    objective = get_objective(objective)
    out = torch.zeros(len(train), dtype=torch.float64)
    for ckpt in ckpts:
        for i, (a, q, b) in enumerate(train.tolist()):
            g = (_reference_grad(ckpt, (a, 2 * q, b), objective, names)
                 + _reference_grad(ckpt, (b, 2 * q + 1, a), objective, names))
            out[i] += ckpt.learning_rate * torch.dot(g, g)
    return out


OBJECTIVES = ["score", "pointwise_bce", "bce_1n"]
SUBSETS = [None, "fc", ["entity_embedding", "conv.weight"], "embeddings"]


@pytest.mark.parametrize("method", ["structured", "generic"])
@pytest.mark.parametrize("train_obj", OBJECTIVES)
@pytest.mark.parametrize("test_obj", OBJECTIVES)
def test_influence_matches_reference_float64(method, train_obj, test_obj):
    ckpts = _checkpoints()
    test = random_triples(3, N_ENT, N_REL, seed=11)
    train = random_triples(7, N_ENT, N_REL, seed=12)
    train[0, 0] = test[0, 0]  # shared head: exercises the [h_i = h_j] and u[h] terms
    train[1, 2] = test[1, 0]
    names = resolve_parameters(None, ckpts[0].params)
    expected = _reference_influence(ckpts, test, train, train_obj, test_obj, names)
    tracin = TracIn(ckpts, train, train_objective=train_obj, test_objective=test_obj,
                    method=method, batch_size=3)
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("method", ["structured", "generic"])
@pytest.mark.parametrize("subset", SUBSETS)
def test_parameter_subsets_match_reference(method, subset):
    ckpts = _checkpoints()
    test = random_triples(2, N_ENT, N_REL, seed=3)
    train = random_triples(5, N_ENT, N_REL, seed=4)
    names = resolve_parameters(subset, ckpts[0].params)
    expected = _reference_influence(ckpts, test, train, "pointwise_bce", "bce_1n", names)
    tracin = TracIn(ckpts, train, train_objective="pointwise_bce", test_objective="bce_1n",
                    parameters=subset, method=method)
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("method", ["structured", "generic"])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_self_influence_matches_reference(method, objective):
    ckpts = _checkpoints()
    train = random_triples(6, N_ENT, N_REL, seed=5)
    train[2] = torch.tensor([4, 1, 4])  # a self-loop: both directions touch one entity row
    names = resolve_parameters(None, ckpts[0].params)
    expected = _reference_self(ckpts, train, objective, names)
    tracin = TracIn(ckpts, train, train_objective=objective, method=method, batch_size=4)
    torch.testing.assert_close(tracin.self_influence(), expected, rtol=RTOL64, atol=ATOL64)


def test_float32_within_tolerance_of_float64_reference():
    ckpts64 = _checkpoints()
    test = random_triples(4, N_ENT, N_REL, seed=21)
    train = random_triples(9, N_ENT, N_REL, seed=22)
    names = resolve_parameters(None, ckpts64[0].params)
    expected = _reference_influence(ckpts64, test, train, "score", "pointwise_bce", names)
    tracin = TracIn(ckpts64, train, train_objective="score", test_objective="pointwise_bce",
                    dtype=torch.float32)
    got = tracin.influence(test).double()
    torch.testing.assert_close(got, expected, rtol=RTOL32, atol=ATOL32 * expected.abs().max())


def test_topk_equals_topk_of_full_matrix_with_ties():
    ckpts = _checkpoints()
    test = random_triples(3, N_ENT, N_REL, seed=31)
    base = random_triples(6, N_ENT, N_REL, seed=32)
    train = torch.cat([base, base, base[:2]])  # duplicate edges: exact ties across batches
    tracin = TracIn(ckpts, train, batch_size=4)
    full = tracin.influence(test)
    for result, descending in zip(tracin.top_influences(test, k=5), (True, False), strict=True):
        order = torch.sort(full, dim=1, descending=descending, stable=True).indices[:, :5]
        assert torch.equal(result.indices, order)
        torch.testing.assert_close(result.influence_scores, full.gather(1, order), rtol=0,
                                   atol=0)


def test_candidates_score_only_their_edges():
    ckpts = _checkpoints()
    test = random_triples(2, N_ENT, N_REL, seed=41)
    train = random_triples(10, N_ENT, N_REL, seed=42)
    tracin = TracIn(ckpts, train, batch_size=3)
    full = tracin.influence(test)
    candidates = [torch.tensor([7, 1, 3]), torch.tensor([0, 9])]
    parts = tracin.candidate_influence(test, candidates)
    for j, ids in enumerate(candidates):
        torch.testing.assert_close(parts[j], full[j, ids], rtol=RTOL64, atol=ATOL64)
    top, _ = tracin.top_influences(test, k=3, candidates=candidates)
    for j, ids in enumerate(candidates):
        best = ids[torch.sort(full[j, ids], descending=True, stable=True).indices[:3]]
        assert torch.equal(top.indices[j, : len(best)], best)
    assert top.indices[1, 2] == -1 and torch.isnan(top.influence_scores[1, 2])  # padded
    none = torch.tensor([], dtype=torch.long)
    empty, _ = tracin.top_influences(test, k=2, candidates=[torch.tensor([4]), none])
    assert empty.indices.tolist() == [[4, -1], [-1, -1]]


def test_compiled_kernel_equals_eager():
    ckpts = _checkpoints()
    test = random_triples(3, N_ENT, N_REL, seed=51)
    train = random_triples(11, N_ENT, N_REL, seed=52)
    eager = TracIn(ckpts, train, batch_size=4).influence(test)
    compiled = TracIn(ckpts, train, batch_size=4, compile=True).influence(test)
    torch.testing.assert_close(compiled, eager, rtol=RTOL64, atol=ATOL64)


def test_bad_arguments():
    ckpts = _checkpoints()
    with pytest.raises(ValueError, match="no checkpoints"):
        TracIn([])
    with pytest.raises(ValueError, match="unknown parameter or group 'attention'"):
        TracIn(ckpts, parameters="attention")
    with pytest.raises(ValueError, match="k=0"):
        tracin = TracIn(ckpts, random_triples(3, N_ENT, N_REL))
        tracin.top_influences(random_triples(1, N_ENT, N_REL), k=0)
    with pytest.raises(ValueError, match="no training triples"):
        TracIn(ckpts).influence(random_triples(1, N_ENT, N_REL))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n_test", [1, 7, 64])
@pytest.mark.parametrize("objective", OBJECTIVES)
def test_structured_path_agrees_with_generic(dtype, n_test, objective):
    """The structured kernel (default) against the generic vmap(grad) path: every objective,
    reciprocal edges, two checkpoints, T in {1, 7, 64}."""
    ckpts = _checkpoints()
    test = random_triples(n_test, N_ENT, N_REL, seed=70 + n_test)
    train = random_triples(12, N_ENT, N_REL, seed=71)
    kwargs = dict(train_objective=objective, test_objective=objective, dtype=dtype,
                  batch_size=5)
    generic = TracIn(ckpts, train, method="generic", **kwargs).influence(test)
    structured = TracIn(ckpts, train, **kwargs).influence(test)
    rtol = RTOL_PATHS64 if dtype == torch.float64 else RTOL_PATHS32
    torch.testing.assert_close(structured, generic, rtol=rtol,
                               atol=rtol * generic.abs().max().item())
