"""TracIn against a float64 reference that loops over triples with plain autograd."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve
from reference import reference_influence, reference_self_influence
from tolerances import ATOL32, ATOL64, RTOL32, RTOL64, RTOL_PATHS32, RTOL_PATHS64

from kgif.bench.common import random_triples
from kgif.influence.grads import resolve_parameters
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig, init_conve

N_ENT, N_REL = 11, 3
LEARNING_RATES = (0.3, 0.05)


def _checkpoints(dtype=torch.float64, **overrides):
    out = []
    for seed, lr in zip((1, 2), LEARNING_RATES, strict=True):
        config, params, buffers = small_conve(seed=seed, num_entities=N_ENT,
                                              num_relations=N_REL, dtype=dtype, **overrides)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed))
    return out


OBJECTIVES = ["score", "pointwise_bce", "bce_1n"]
#: Every parameter alone (one identity of docs/derivations.md section 4 each), then groups.
PARAMETERS = ("entity_embedding", "entity_bias", "relation_embedding", "fc.weight", "fc.bias",
              "conv.weight", "conv.bias", "bn0.weight", "bn0.bias", "bn1.weight", "bn1.bias",
              "bn2.weight", "bn2.bias")
SUBSETS = [None, "fc", ["entity_embedding", "conv.weight"], "embeddings",
           *([name] for name in PARAMETERS)]


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
    expected = reference_influence(ckpts, test, train, train_obj, test_obj, names)
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
    expected = reference_influence(ckpts, test, train, "pointwise_bce", "bce_1n", names)
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
    expected = reference_self_influence(ckpts, train, objective, names)
    tracin = TracIn(ckpts, train, train_objective=objective, method=method, batch_size=4)
    torch.testing.assert_close(tracin.self_influence(), expected, rtol=RTOL64, atol=ATOL64)


def test_float32_within_tolerance_of_float64_reference():
    ckpts64 = _checkpoints()
    test = random_triples(4, N_ENT, N_REL, seed=21)
    train = random_triples(9, N_ENT, N_REL, seed=22)
    names = resolve_parameters(None, ckpts64[0].params)
    expected = reference_influence(ckpts64, test, train, "score", "pointwise_bce", names)
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


# --------------------------------------------------------------------------- item 1: finiteness


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), -0.1, 0.0])
def test_refuses_bad_learning_rate_naming_the_checkpoint(rate):
    ckpts = _checkpoints()
    ckpts[1].learning_rate = rate
    with pytest.raises(ValueError, match="checkpoint of epoch 2 has learning rate"):
        TracIn(ckpts, show_progress=False)


@pytest.mark.parametrize(("kind", "name"), [("params", "fc.weight"),
                                            ("buffers", "bn1.running_var")])
def test_refuses_non_finite_weights_naming_checkpoint_and_parameter(kind, name):
    ckpts = _checkpoints()
    getattr(ckpts[0], kind)[name].view(-1)[3] = float("nan")
    with pytest.raises(ValueError, match=f"checkpoint of epoch 1: .*'{name}' has 1 non-finite"):
        TracIn(ckpts, show_progress=False)


def test_refuses_float32_overflow_in_test_gradients():
    ckpts = _checkpoints()
    ckpts[0].params["entity_embedding"] *= 1e37  # finite in float64, inf once products form
    tracin = TracIn(ckpts, random_triples(4, N_ENT, N_REL), dtype=torch.float32,
                    show_progress=False)
    with pytest.raises(ValueError, match="non-finite test gradients .* of checkpoint of epoch 1"):
        tracin.influence(random_triples(2, N_ENT, N_REL))


def test_nan_batch_result_is_refused_never_ranked(monkeypatch):
    ckpts = _checkpoints()
    tracin = TracIn(ckpts, random_triples(6, N_ENT, N_REL, seed=3), batch_size=4,
                    show_progress=False)
    real = tracin.engine.edge_scores

    def poisoned(*args):
        scores = real(*args)
        return scores.index_fill(0, torch.tensor([1]), float("nan"))

    monkeypatch.setattr(tracin.engine, "edge_scores", poisoned)
    test = random_triples(2, N_ENT, N_REL, seed=4)
    for call in (lambda: tracin.influence(test), lambda: tracin.top_influences(test, 2),
                 lambda: tracin.candidate_influence(test, [torch.tensor([1]), torch.tensor([0])])):
        with pytest.raises(ValueError, match="non-finite influence scores"):
            call()


# --------------------------------------------------------------------------- item 16: progress


def test_progress_bar_on_by_default_and_off_on_request(capsys):
    ckpts = _checkpoints()
    train, test = random_triples(5, N_ENT, N_REL), random_triples(1, N_ENT, N_REL)
    TracIn(ckpts, train, batch_size=2).influence(test)
    assert "TracIn" in capsys.readouterr().err
    TracIn(ckpts, train, batch_size=2, show_progress=False).influence(test)
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- item 9: candidates


def test_candidate_union_equals_per_triple_path_float64():
    """Random overlapping candidate sets (unsorted, one empty) against each triple scored
    alone on its own candidates, float64."""
    ckpts = _checkpoints()
    gen = torch.Generator().manual_seed(91)
    train = random_triples(40, N_ENT, N_REL, seed=92)
    test = random_triples(5, N_ENT, N_REL, seed=93)
    candidates = [torch.randperm(40, generator=gen)[:n] for n in (12, 3, 25, 0, 7)]
    tracin = TracIn(ckpts, train, batch_size=8, show_progress=False)
    parts = tracin.candidate_influence(test, candidates)
    pro, opp = tracin.top_influences(test, 4, candidates=candidates)
    for j, ids in enumerate(candidates):
        alone = (tracin.influence(test[j:j + 1], train[ids])[0] if len(ids)
                 else torch.zeros(0, dtype=torch.float64))
        torch.testing.assert_close(parts[j], alone, rtol=RTOL64, atol=ATOL64)
        for result, sign in ((pro, -1.0), (opp, 1.0)):
            want = [int(i) for _, i in sorted(zip((sign * alone).tolist(), ids.tolist(),
                                                  strict=True))][:4]
            assert result.indices[j, : len(want)].tolist() == want
            assert (result.indices[j, len(want):] == -1).all()
    with pytest.raises(ValueError, match=r"candidate set 1 holds row ids outside \[0, 40\)"):
        tracin.candidate_influence(test[:2], [torch.tensor([0]), torch.tensor([40])])


# --------------------------------------------------------------------------- pinned value


def _hand_checkpoint(fc_bias, rate, epoch):
    """2 entities, 1 relation, d = 6 (2x3). fc.weight = 0 and bn2 the identity up to its eps,
    so f = relu(fc.bias) / sqrt(1 + 1e-5) for every (h, r) and the head/relation gradients are
    0. With the `score` objective s_t = <E_t, f> + b_t, the gradient w.r.t. (E, b) of one
    example is (f, 1) placed at row t."""
    config = ConvEConfig(embedding_dim=6, embedding_height=2, embedding_width=3,
                         output_channels=2)
    params, buffers = init_conve(config, 2, 1, seed=epoch, dtype=torch.float64)
    params["fc.weight"] = torch.zeros_like(params["fc.weight"])
    params["fc.bias"] = torch.tensor(fc_bias, dtype=torch.float64)
    params["bn2.weight"], params["bn2.bias"] = torch.ones(6).double(), torch.zeros(6).double()
    buffers["bn2.running_mean"], buffers["bn2.running_var"] = (torch.zeros(6).double(),
                                                               torch.ones(6).double())
    return Checkpoint(params, buffers, config, learning_rate=rate, epoch=epoch)


def test_hand_computed_two_entity_value():
    # |f|^2 = (1 + 4) / (1 + 1e-5) at checkpoint 1 (rate 0.5), 9 / (1 + 1e-5) at 2 (rate 0.25).
    # Edge (h, r, t): forward example at row t, inverse example (t, r^-1, h) at row h, both
    # (f, 1); test (1, 0, 1) at row 1. So <g_edge, g_test> = ([t = 1] + [h = 1]) (|f|^2 + 1),
    # and TracInCP = ([t = 1] + [h = 1]) * (0.5 (5 / 1.00001 + 1) + 0.25 (9 / 1.00001 + 1))
    #              = ([t = 1] + [h = 1]) * (0.75 + 4.75 / 1.00001).
    ckpts = [_hand_checkpoint([1.0, 2.0, -1.0, 0.0, 0.0, 0.0], 0.5, 1),
             _hand_checkpoint([3.0, 0.0, 0.0, 0.0, 0.0, -2.0], 0.25, 2)]
    unit = 0.75 + 4.75 / 1.00001
    train = torch.tensor([[0, 0, 1], [1, 0, 1], [0, 0, 0]])
    for method in ("structured", "generic"):
        tracin = TracIn(ckpts, train, parameters="embeddings", method=method,
                        show_progress=False)
        got = tracin.influence(torch.tensor([[1, 0, 1]]))
        torch.testing.assert_close(got, torch.tensor([[unit, 2 * unit, 0.0]],
                                                     dtype=torch.float64),
                                   rtol=RTOL64, atol=ATOL64)
        # self-influence: rows 1 and 0 once each -> 2 unit; the self-loop: 2 (f, 1) at row 1
        torch.testing.assert_close(tracin.self_influence(train[:2]),
                                   torch.tensor([2 * unit, 4 * unit], dtype=torch.float64),
                                   rtol=RTOL64, atol=ATOL64)


# --------------------------------------------------------------------------- config variants

VARIANTS = {
    "seed layout (width stacking)": dict(stacking="width"),
    "no entity bias": dict(entity_bias=False),
    "no reciprocals": dict(reciprocal=False),
    "no batch norm": dict(apply_batch_normalization=False),
    "2x3 kernel": dict(kernel_height=2, kernel_width=3),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("method", ["structured", "generic"])
def test_config_variants_match_reference_float64(variant, method):
    ckpts = _checkpoints(**VARIANTS[variant])
    test = random_triples(2, N_ENT, N_REL, seed=81)
    train = random_triples(5, N_ENT, N_REL, seed=82)
    names = resolve_parameters(None, ckpts[0].params)
    expected = reference_influence(ckpts, test, train, "score", "pointwise_bce", names)
    tracin = TracIn(ckpts, train, train_objective="score", test_objective="pointwise_bce",
                    method=method, batch_size=3, show_progress=False)
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)
    torch.testing.assert_close(tracin.self_influence(train),
                               reference_self_influence(ckpts, train, "score", names),
                               rtol=RTOL64, atol=ATOL64)
