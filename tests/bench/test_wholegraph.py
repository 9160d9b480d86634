"""The seed-scale synthetic graph of ``kgif.bench.wholegraph`` and its least-squares line."""

from __future__ import annotations

import pytest
import torch

from kgif.bench.wholegraph import (
    HETIONET_RELATION_COUNTS,
    linear_fit,
    rows_per_example,
    synthetic_graph,
)


@pytest.mark.parametrize("seed", [0, 3])
def test_graph_is_distinct_sorted_and_holds_out_its_test_triples(seed):
    g = synthetic_graph(20_000, 3_000, 40, seed=seed, test_relation=2)
    train, test = g.training, g.testing
    assert train.shape == (20_000, 3) and test.shape == (40, 3)
    assert g.num_relations == len(HETIONET_RELATION_COUNTS)
    assert int(train[:, [0, 2]].max()) < 3_000 and int(train.min()) >= 0
    key = lambda t: (t[:, 0] * 16 + t[:, 1]) * 3_000 + t[:, 2]  # noqa: E731
    assert len(torch.unique(key(train))) == len(train)
    assert not torch.isin(key(test), key(train)).any()
    assert (test[:, 1] == 2).all()
    row = train[:, 0] * 16 + train[:, 1]
    assert (row[1:] >= row[:-1]).all()
    # each relation joins one head kind to one tail kind
    for rel in range(16):
        sub = train[train[:, 1] == rel]
        if len(sub):
            assert len(torch.unique(sub[:, 0] % 11)) == 1
            assert len(torch.unique(sub[:, 2] % 11)) == 1


def test_graph_is_heavy_tailed_and_deterministic():
    a = synthetic_graph(30_000, 5_000, 10)
    b = synthetic_graph(30_000, 5_000, 10)
    assert torch.equal(a.training, b.training) and torch.equal(a.testing, b.testing)
    degree = torch.bincount(a.training[:, [0, 2]].reshape(-1), minlength=5_000).double()
    assert degree.max() > 20 * degree.mean()  # hubs
    stats = rows_per_example(a.training, a.num_relations, 256)
    assert stats["examples_per_row"] > 1 and 0 < stats["batch_distinct_fraction"] <= 1


def test_a_rare_test_relation_still_gets_all_its_test_triples():
    # relation 6 holds 2.45 % of the draws: 5,200 draws give about 127 of it, fewer than the
    # 200 test triples asked for (the quick whole-graph size, 100,000 edges and 750 test
    # triples, failed this way); the graph draws more until the test relation has enough
    g = synthetic_graph(5_000, 20_000, 200, test_relation=6)
    assert g.training.shape == (5_000, 3) and g.testing.shape == (200, 3)
    assert (g.testing[:, 1] == 6).all()
    key = lambda t: (t[:, 0] * 16 + t[:, 1]) * 20_000 + t[:, 2]  # noqa: E731
    assert not torch.isin(key(g.testing), key(g.training)).any()
    assert len(torch.unique(key(g.testing))) == 200


def test_bad_sizes_are_refused_naming_the_value():
    with pytest.raises(ValueError, match="alpha=-1"):
        synthetic_graph(100, 1000, 5, alpha=-1)
    with pytest.raises(ValueError, match="test_relation=16"):
        synthetic_graph(100, 1000, 5, test_relation=16)
    with pytest.raises(ValueError, match="distinct edges"):
        synthetic_graph(5_000, 11, 5)


def test_linear_fit_recovers_a_line():
    gen = torch.Generator().manual_seed(1)
    a, b = float(torch.rand(1, generator=gen)) * 10, float(torch.rand(1, generator=gen))
    xs = [1e3, 5e4, 2e5, 1e6]
    fa, fb, resid = linear_fit(xs, [a + b * x for x in xs])
    assert fa == pytest.approx(a, rel=1e-9, abs=1e-6) and fb == pytest.approx(b, rel=1e-9)
    assert resid < 1e-9
