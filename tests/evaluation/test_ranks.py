"""Filtered rank metrics: a float64 counting loop, PyKEEN's RankBasedEvaluator, TailIndex."""

from __future__ import annotations

import pytest
import torch
from helpers import pykeen_state, small_conve

from kgif.bench.common import random_triples
from kgif.data.graph import TailIndex
from kgif.evaluation.ranks import evaluate, evaluate_all_sides, filtered_ranks, rank_metrics
from kgif.model.conve import hidden, score_all

TIED = (1, 2, 3)  # entities given a zero embedding and zero bias: their scores tie exactly at 0


def _with_ties(params):
    """Zero embedding rows and biases of TIED entities, so ranks have exact ties."""
    params = dict(params)
    for name in ("entity_embedding", "entity_bias"):
        params[name] = params[name].clone()
        params[name][list(TIED)] = 0.0
    return params


def _reference_ranks(params, buffers, config, triples, filter_triples):
    """Slow reference: one query at a time, Python sets, counting scores above the answer."""
    known = {}
    for h, r, t in filter_triples.tolist():
        known.setdefault((h, 2 * r), set()).add(t)
        known.setdefault((t, 2 * r + 1), set()).add(h)
    out = {"head": ([], []), "tail": ([], [])}
    for h, r, t in triples.tolist():
        for side, (q, rel, answer) in (("tail", (h, 2 * r, t)), ("head", (t, 2 * r + 1, h))):
            f, _ = hidden(params, buffers, torch.tensor([q]), torch.tensor([rel]), config)
            scores = score_all(params, f)[0].tolist()
            others = [s for e, s in enumerate(scores)
                      if e != answer and e not in known.get((q, rel), set())]
            out[side][0].append(1 + sum(s > scores[answer] for s in others))
            out[side][1].append(1 + sum(s >= scores[answer] for s in others))
    return {k: (torch.tensor(a), torch.tensor(b)) for k, (a, b) in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranks_equal_counting_loop_float64(seed):
    num_entities, num_relations = 11, 3
    config, params, buffers = small_conve(seed=seed, num_entities=num_entities,
                                          num_relations=num_relations)
    params = _with_ties(params)
    train = random_triples(60, num_entities, num_relations, seed + 10)
    test = torch.cat([random_triples(20, num_entities, num_relations, seed + 20),
                      torch.tensor([[0, 0, TIED[0]], [TIED[1], 1, 4]])])  # answers in a tie
    filt = torch.cat([train, test])
    expected = _reference_ranks(params, buffers, config, test, filt)
    got = filtered_ranks(params, buffers, config, test, filt, batch_size=7)
    for side in ("head", "tail"):
        assert torch.equal(got[side][0], expected[side][0]), side
        assert torch.equal(got[side][1], expected[side][1]), side
    both = got["head"][0] != got["head"][1]
    assert both.any(), "the test data must contain ties"


def test_rank_metrics_by_hand():
    opt, pes = torch.tensor([1, 2, 4]), torch.tensor([1, 4, 4])
    m = rank_metrics(opt, pes)  # realistic ranks 1, 3, 4
    assert m["realistic.mr"] == pytest.approx(8 / 3)
    assert m["realistic.mrr"] == pytest.approx((1 + 1 / 3 + 1 / 4) / 3)
    assert m["realistic.hits@3"] == pytest.approx(2 / 3)
    assert m["optimistic.hits@3"] == pytest.approx(2 / 3)
    assert m["pessimistic.hits@1"] == pytest.approx(1 / 3)
    assert m["pessimistic.mr"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="non-empty"):
        rank_metrics(torch.tensor([]), torch.tensor([]))


def test_tail_index_groups_and_gathers():
    triples = torch.tensor([[0, 1, 5], [0, 1, 2], [3, 0, 1], [0, 1, 5], [0, 0, 4]])
    index = TailIndex.from_triples(triples, num_relation_rows=2)
    expected = {(0, 0): [4], (0, 1): [2, 5], (3, 0): [1]}
    assert {tuple(r): index.tails[index.offsets[i]:index.offsets[i + 1]].tolist()
            for i, r in enumerate(index.rows.tolist())} == expected
    ids = index.lookup(torch.tensor([3, 0, 7, 0]), torch.tensor([0, 1, 1, 0]))
    assert ids.tolist()[2] == -1
    rows, cols = index.gather(ids)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 1), (1, 2), (1, 5), (3, 4)]
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        TailIndex.from_triples(torch.zeros(4, 2, dtype=torch.long), 2)


def test_evaluate_validates_input():
    config, params, buffers = small_conve()
    triples = random_triples(5, 11, 3, 0)
    with pytest.raises(ValueError, match="side='left'"):
        evaluate(params, buffers, config, triples, side="left")
    with pytest.raises(ValueError, match="batch_size=0"):
        evaluate(params, buffers, config, triples, batch_size=0)


def _pykeen_metrics(model, kg, batch_size=64):
    from pykeen.evaluation import RankBasedEvaluator

    evaluator = RankBasedEvaluator(filtered=True)
    return evaluator.evaluate(model, kg.testing, additional_filter_triples=[kg.training,
                              kg.validation], batch_size=batch_size, use_tqdm=False)


def test_metrics_equal_pykeen_rank_based_evaluator_on_nations():
    pytest.importorskip("pykeen")
    from pykeen.models import ConvE
    from pykeen.triples import TriplesFactory

    from kgif.data.datasets import load_dataset

    kg = load_dataset("nations")
    factory = TriplesFactory(kg.training, entity_to_id=kg.entity_to_id,
                             relation_to_id=kg.relation_to_id, create_inverse_triples=True)
    shape = dict(embedding_dim=12, embedding_height=3, embedding_width=4, output_channels=4)
    config, params, buffers = small_conve(seed=4, num_entities=kg.num_entities,
                                          num_relations=kg.num_relations, dtype=torch.float32)
    params = _with_ties(params)
    model = ConvE(triples_factory=factory, random_seed=0, **shape)
    model.load_state_dict(pykeen_state(params, buffers), strict=True)
    model.eval()
    result = _pykeen_metrics(model, kg)
    ours = evaluate_all_sides(params, buffers, config, kg.testing, kg.all_triples(),
                              batch_size=50)
    names = {"mrr": "inverse_harmonic_mean_rank", "mr": "arithmetic_mean_rank",
             "hits@1": "hits_at_1", "hits@3": "hits_at_3", "hits@5": "hits_at_5",
             "hits@10": "hits_at_10"}
    for side, metrics in ours.items():
        for kind in ("realistic", "optimistic", "pessimistic"):
            for ours_name, theirs in names.items():
                expected = result.get_metric(f"{side}.{kind}.{theirs}")
                assert metrics[f"{kind}.{ours_name}"] == pytest.approx(expected, abs=1e-6), (
                    side, kind, ours_name)
    assert ours["both"]["optimistic.mr"] < ours["both"]["pessimistic.mr"]  # ties present


# ------------------------------------------------------------------ type-constrained ranks


def _kinded_graph(seed, num_entities=11, num_relations=3):
    """Random train/test triples whose heads and tails respect random entity kinds."""
    from kgif.data.graph import KnowledgeGraph

    gen = torch.Generator().manual_seed(seed)
    kind_of = torch.randint(3, (num_entities,), generator=gen)
    kind_of[0], kind_of[1], kind_of[2] = 0, 1, 2  # every kind occurs
    rel_kinds = torch.randint(3, (num_relations, 2), generator=gen)  # (head kind, tail kind)
    rows = []
    while len(rows) < 50:
        h, t = torch.randint(num_entities, (2,), generator=gen).tolist()
        r = int(torch.randint(num_relations, (1,), generator=gen))
        if torch.rand(1, generator=gen) < 0.8:  # most triples typed, some not (wider ranges)
            if kind_of[h] != rel_kinds[r, 0] or kind_of[t] != rel_kinds[r, 1]:
                continue
        rows.append((h, r, t))
    triples = torch.tensor(rows)
    kinds = {e: f"K{int(k)}" for e, k in enumerate(kind_of) if e != 5}  # entity 5: no kind
    return KnowledgeGraph({f"e{i}": i for i in range(num_entities)},
                          {f"r{i}": i for i in range(num_relations)}, triples[:40],
                          testing=triples[40:], entity_kinds=kinds)


def _reference_tc_ranks(params, buffers, config, kg):
    """Slow reference: Python sets of allowed kinds from the training triples, one query."""
    known, domain, range_ = {}, {}, {}
    for h, r, t in kg.all_triples().tolist():
        known.setdefault((h, 2 * r), set()).add(t)
        known.setdefault((t, 2 * r + 1), set()).add(h)
    for h, r, t in kg.training.tolist():
        domain.setdefault(r, set()).add(kg.entity_kinds.get(h))
        range_.setdefault(r, set()).add(kg.entity_kinds.get(t))
    out = {"head": ([], []), "tail": ([], [])}
    for h, r, t in kg.testing.tolist():
        for side, (q, rel, answer), allowed in (("tail", (h, 2 * r, t), range_[r]),
                                                 ("head", (t, 2 * r + 1, h), domain[r])):
            f, _ = hidden(params, buffers, torch.tensor([q]), torch.tensor([rel]), config)
            scores = score_all(params, f)[0].tolist()
            others = [s for e, s in enumerate(scores)
                      if e != answer and e not in known.get((q, rel), set())
                      and e in kg.entity_kinds and kg.entity_kinds[e] in allowed]
            out[side][0].append(1 + sum(s > scores[answer] for s in others))
            out[side][1].append(1 + sum(s >= scores[answer] for s in others))
    return {k: (torch.tensor(a), torch.tensor(b)) for k, (a, b) in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_type_constrained_ranks_equal_counting_loop_float64(seed):
    kg = _kinded_graph(seed)
    config, params, buffers = small_conve(seed=seed, num_entities=kg.num_entities,
                                          num_relations=kg.num_relations)
    params = _with_ties(params)
    expected = _reference_tc_ranks(params, buffers, config, kg)
    got = filtered_ranks(params, buffers, config, kg.testing, kg.all_triples(), batch_size=3,
                         type_constraints=kg.type_constraints())
    for side in ("head", "tail"):
        assert torch.equal(got[side][0], expected[side][0])
        assert torch.equal(got[side][1], expected[side][1])
    plain = filtered_ranks(params, buffers, config, kg.testing, kg.all_triples())
    assert all((got[s][1] <= plain[s][1]).all() for s in ("head", "tail"))
    metrics = evaluate(params, buffers, config, kg, batch_size=4)
    reference = rank_metrics(torch.cat([expected["head"][0], expected["tail"][0]]),
                             torch.cat([expected["head"][1], expected["tail"][1]]))
    for key, value in reference.items():
        if key != "num_ranks":
            assert metrics[f"type_constrained.{key}"] == pytest.approx(value, rel=1e-12)
    assert metrics["realistic.mrr"] == pytest.approx(
        rank_metrics(torch.cat([plain["head"][0], plain["tail"][0]]),
                     torch.cat([plain["head"][1], plain["tail"][1]]))["realistic.mrr"])


def test_type_constrained_without_kinds_equals_filtered():
    from kgif.data.graph import KnowledgeGraph

    kg = _kinded_graph(3)
    kg = KnowledgeGraph(kg.entity_to_id, kg.relation_to_id, kg.training, testing=kg.testing)
    config, params, buffers = small_conve(seed=3, num_entities=kg.num_entities,
                                          num_relations=kg.num_relations)
    assert not any(k.startswith("type_constrained.") for k in evaluate(params, buffers, config,
                                                                        kg))
    metrics = evaluate(params, buffers, config, kg, type_constraints=True)
    for key in ("realistic.mrr", "pessimistic.hits@3", "optimistic.mr"):
        assert metrics[f"type_constrained.{key}"] == metrics[key]
    by_side = evaluate_all_sides(params, buffers, config, kg.testing, kg.all_triples(),
                                 type_constraints=kg.type_constraints())
    assert by_side["tail"]["type_constrained.realistic.mrr"] == by_side["tail"]["realistic.mrr"]
    kinded = _kinded_graph(3)
    assert "type_constrained.realistic.mrr" in evaluate(params, buffers, config, kinded)
    assert "type_constrained.realistic.mrr" not in evaluate(params, buffers, config, kinded,
                                                            type_constraints=False)


# ------------------------------------------------------------------ non-finite values


@pytest.mark.parametrize("name", ["entity_embedding", "fc.weight", "entity_bias"])
def test_nan_parameter_is_refused_and_named(name):
    config, params, buffers = small_conve(seed=0)
    test = random_triples(5, 11, 3, 0)
    params = dict(params)
    params[name] = params[name].clone()
    params[name].view(-1)[1] = float("nan")  # a NaN score would otherwise rank 1
    with pytest.raises(ValueError, match=rf"non-finite parameters.*{name} \(1 of"):
        evaluate(params, buffers, config, test)


def test_overflowing_scores_are_refused():
    config, params, buffers = small_conve(seed=0, dtype=torch.float32)
    params = dict(params)
    params["entity_embedding"] = params["entity_embedding"].clone()
    params["entity_embedding"][4] = 3e38  # finite, but its scores overflow to +-inf
    test = random_triples(5, 11, 3, 0)
    with pytest.raises(ValueError, match="non-finite scores"):
        filtered_ranks(params, buffers, config, test, test)
