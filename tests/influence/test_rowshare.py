"""Row sharing (<x_i, x_j> once per distinct (head, relation row)) and the one-hot test side,
against a float64 plain-autograd loop on fresh random inputs with many duplicate rows."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve
from reference import reference_influence
from tolerances import ATOL64, RTOL64

from kgif.influence import engines
from kgif.influence.kernels import row_groups
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint

N_ENT, N_REL = 9, 3


def _checkpoints(seed: int):
    out = []
    for k, lr in enumerate((0.2, 0.07)):
        config, params, buffers = small_conve(seed=seed + k, num_entities=N_ENT,
                                              num_relations=N_REL)
        out.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=k + 1))
    return out


def _duplicate_rows(n: int, seed: int) -> torch.Tensor:
    """Edges over 2 heads x 2 relations x 3 tails: most (head, relation) rows repeat in both
    directions."""
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(2, (n,), generator=gen)
    r = torch.randint(2, (n,), generator=gen)
    t = 2 + torch.randint(3, (n,), generator=gen)
    return torch.stack([h, r, t], 1)


@pytest.fixture
def count_shared(monkeypatch):
    calls = []
    real = engines.shared_x_products

    def spy(x, first, inverse, right_x):
        calls.append((len(first), len(inverse)))
        return real(x, first, inverse, right_x)

    monkeypatch.setattr(engines, "shared_x_products", spy)
    return calls


@pytest.mark.parametrize("train_obj,test_obj", [("score", "score"),
                                                ("pointwise_bce", "score"),
                                                ("bce_1n", "pointwise_bce"),
                                                ("score", "bce_1n")])
@pytest.mark.parametrize("seed", [0, 1])
def test_row_shared_scores_match_float64_autograd(count_shared, train_obj, test_obj, seed):
    ckpts = _checkpoints(10 * seed + 3)
    train = _duplicate_rows(10, seed)
    gen = torch.Generator().manual_seed(100 + seed)
    test = torch.stack([torch.randint(5, (4,), generator=gen),
                        torch.randint(N_REL, (4,), generator=gen),
                        torch.randint(N_ENT, (4,), generator=gen)], 1)
    test[0, 0] = train[0, 0]  # shared heads and tails: the [h_i = h_j], u[h] terms are live
    test[1, 2] = train[1, 0]
    test[2, 0] = train[2, 2]
    expected = reference_influence(ckpts, test, train, train_obj, test_obj)
    tracin = TracIn(ckpts, train, train_objective=train_obj, test_objective=test_obj,
                    batch_size=5, show_progress=False)
    tracin.engine.share_rows = True
    got = tracin.influence(test)
    assert count_shared, "row sharing was never used"
    assert all(distinct < examples for distinct, examples in count_shared)
    torch.testing.assert_close(got, expected, rtol=RTOL64, atol=ATOL64)


def test_sharing_off_and_above_the_fraction_also_match(count_shared):
    ckpts = _checkpoints(7)
    train = _duplicate_rows(6, 5)
    test = torch.tensor([[train[0, 0], 1, 4], [3, 0, train[1, 0]]])
    expected = reference_influence(ckpts, test, train, "score", "score")
    tracin = TracIn(ckpts, train, batch_size=3, show_progress=False)
    tracin.engine.share_rows = False
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)
    assert not count_shared
    tracin.engine.share_rows, tracin.engine.share_fraction = True, 0.0  # never shares
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)
    assert not count_shared


def test_one_hot_test_side_keeps_no_dense_scores():
    ckpts = _checkpoints(4)
    def test_cache(tracin, triples):
        examples = tracin.test_examples(torch.tensor(triples))
        return tracin.engine.test_cache(tracin.checkpoints[0], examples, tracin.test_objective)

    cache = test_cache(TracIn(ckpts, _duplicate_rows(4, 0), show_progress=False),
                       [[0, 1, 2], [1, 0, 3]])
    assert cache.u is None and cache.coef.shape == (2,)
    dense = test_cache(TracIn(ckpts, _duplicate_rows(4, 0), test_objective="bce_1n",
                              show_progress=False), [[0, 1, 2]])
    assert dense.u.shape == (1, N_ENT)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_row_groups_partition_the_examples(seed):
    gen = torch.Generator().manual_seed(seed)
    h = torch.randint(4, (50,), generator=gen)
    r = torch.randint(3, (50,), generator=gen)
    first, inverse = row_groups(h, r, 3)
    pairs = sorted({(a, b) for a, b in zip(h.tolist(), r.tolist(), strict=True)})
    assert len(first) == len(pairs)
    assert torch.equal(h[first[inverse]], h) and torch.equal(r[first[inverse]], r)
    for i, f in enumerate(first.tolist()):  # first is the first example of its row
        assert inverse[f] == i and not (inverse[:f] == i).any()
