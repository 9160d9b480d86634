"""Relation oversampling (``TrainingConfig.relation_repeats``) and how TracIn counts it."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import pytest
import torch
from helpers import TINY, _tiny_graph, small_conve
from reference import reference_influence, reference_self_influence
from tolerances import ATOL64, RTOL64

from kgif.bench.common import random_triples
from kgif.cli.train import parse_repeats
from kgif.data.graph import TailIndex, with_reciprocals
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from kgif.model.conve import ConvEConfig
from kgif.training.loop import (
    TrainingConfig,
    epoch_order,
    relation_repeat_counts,
    train,
)


def test_epoch_order_visits_each_row_its_repeat_count_and_defaults_to_randperm():
    gen = torch.Generator().manual_seed(5)
    repeats = torch.randint(1, 5, (40,), generator=gen)
    order = epoch_order(40, repeats, torch.Generator().manual_seed(1))
    assert torch.equal(torch.bincount(order, minlength=40), repeats)
    assert not torch.equal(order, torch.sort(order).values)  # shuffled, not grouped
    plain = epoch_order(40, None, torch.Generator().manual_seed(1))
    assert torch.equal(plain, torch.randperm(40, generator=torch.Generator().manual_seed(1)))


def test_train_visits_repeated_relation_rows_and_records_counts(tmp_path, monkeypatch):
    kg = _tiny_graph(seed=4)
    config = ConvEConfig(**TINY)
    tc = TrainingConfig(epochs=1, batch_size=8, checkpoint_every=1, eval_every=0,
                        relation_repeats={"r1": 3})
    seen = []
    train_module = sys.modules["kgif.training.loop"]
    real = train_module.make_step

    def counting_make_step(cfg, tcfg):
        step = real(cfg, tcfg)

        def wrapped(params, buffers, h, r, pos_rows, pos_cols):
            seen.extend(zip(h.tolist(), r.tolist(), strict=True))
            return step(params, buffers, h, r, pos_rows, pos_cols)
        return wrapped

    monkeypatch.setattr(train_module, "make_step", counting_make_step)
    result = train(kg, config, tc, output_dir=tmp_path, show_progress=False)
    index = TailIndex.from_triples(with_reciprocals(kg.training), 2 * kg.num_relations)
    expected = {}
    for h, r in index.rows.tolist():
        expected[(h, r)] = 3 if r // 2 == 1 else 1
    visits = {}
    for row in seen:
        visits[row] = visits.get(row, 0) + 1
    assert visits == expected
    assert result.final.relation_repeats == (1, 3, 1)
    assert "relation_repeats" not in result.final.config.extra
    saved = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_epoch_0001.pt")
    assert saved.relation_repeats == (1, 3, 1)
    assert "relation_repeats" not in saved.config.extra


def test_repeat_counts_resolve_labels_and_refuse_bad_values():
    kg = _tiny_graph()
    assert relation_repeat_counts(kg, {}) is None
    assert relation_repeat_counts(kg, {"r0": 1}) is None
    assert relation_repeat_counts(kg, {"r2": 7}) == [1, 1, 7]
    with pytest.raises(KeyError, match="nope"):
        relation_repeat_counts(kg, {"nope": 2})
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="relation_repeats"):
            TrainingConfig(relation_repeats={"r1": bad})
    assert parse_repeats("TREATS_CtD=20, A=B=3") == {"TREATS_CtD": 20, "A=B": 3}
    for bad, message in (("TREATS_CtD", "'TREATS_CtD' is not LABEL=N"),
                         ("X=two", "'two' is not an integer"), ("=4", "'=4' is not LABEL=N")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            parse_repeats(bad)


@pytest.mark.parametrize("method", ["structured", "generic"])
def test_tracin_counts_an_edge_once_per_visit_against_the_autograd_reference(method):
    """An edge of a relation visited m times per epoch has m times the TracIn score and
    self-influence of the reference (which counts one visit), others are unchanged."""
    repeats = [1, 4, 2]
    ckpts = []
    for seed, lr in ((1, 0.3), (2, 0.05)):
        config, params, buffers = small_conve(seed=seed, num_entities=11, num_relations=3)
        ckpts.append(Checkpoint(params, buffers, config, learning_rate=lr, epoch=seed,
                                relation_repeats=tuple(repeats)))
    train_edges = random_triples(9, 11, 3, seed=3)
    test = random_triples(2, 11, 3, seed=4)
    tracin = TracIn(ckpts, train_edges, method=method, batch_size=4, show_progress=False)
    names = tracin.names
    m = torch.tensor(repeats, dtype=torch.float64)[train_edges[:, 1]]
    expected = reference_influence(ckpts, test, train_edges, "score", "score", names) * m
    torch.testing.assert_close(tracin.influence(test), expected, rtol=RTOL64, atol=ATOL64)
    expected_self = reference_self_influence(ckpts, train_edges, "score", names) * m
    torch.testing.assert_close(tracin.self_influence(), expected_self, rtol=RTOL64,
                               atol=ATOL64)


def test_tracin_refuses_malformed_repeat_counts():
    config, params, buffers = small_conve(seed=1, num_entities=11, num_relations=3)
    for bad in ([1, 0, 1], "3", [1.5, 1, 1], [], [1, True, 1], (1, 2)):
        with pytest.raises(ValueError, match="relation_repeats"):
            TracIn([Checkpoint(params, buffers, config, learning_rate=0.1, epoch=1,
                               relation_repeats=bad)], show_progress=False)


def test_tracin_refuses_checkpoints_with_different_repeat_counts():
    ckpts = []
    for seed, repeats in ((1, (1, 2, 1)), (2, (1, 3, 1))):
        config, params, buffers = small_conve(seed=seed, num_entities=11, num_relations=3)
        ckpts.append(Checkpoint(params, buffers, config, learning_rate=0.1, epoch=seed,
                                relation_repeats=repeats))
    with pytest.raises(ValueError, match=r"different relation_repeats: .*\(1, 2, 1\).*"
                                         r"\(1, 3, 1\)"):
        TracIn(ckpts, show_progress=False)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_relation_repeats_round_trip_through_save_and_load(tmp_path, suffix):
    config, params, buffers = small_conve(seed=1, num_entities=11, num_relations=3)
    for repeats in ((2, 1, 5), None):
        ckpt = Checkpoint(params, buffers, config, learning_rate=0.1, epoch=1,
                          relation_repeats=repeats)
        back = load_checkpoint(save_checkpoint(ckpt, tmp_path / f"c{suffix}"))
        assert back.relation_repeats == repeats and back.config == config


def test_version_1_checkpoint_with_repeats_in_config_extra_is_migrated_on_load(tmp_path):
    """Files written before the field existed kept the counts in ``config.extra``."""
    config, params, buffers = small_conve(seed=1, num_entities=11, num_relations=3)
    legacy = dataclasses.replace(config, extra={"dataset": "tiny", "relation_repeats": [1, 4, 2]})
    torch.save({"format": "kgif-checkpoint", "version": 1, "config": legacy.to_dict(),
                "learning_rate": 0.1, "epoch": 3, "entity_to_id": {}, "relation_to_id": {},
                "metrics": {}, "run_id": "", "params": params, "buffers": buffers,
                "training_state": None}, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt")
    assert old.relation_repeats == (1, 4, 2)
    assert old.config.extra == {"dataset": "tiny"}
    plain = TracIn([old], random_triples(6, 11, 3, seed=1), show_progress=False)
    assert plain.settings.relation_repeats == (1, 4, 2)
    assert plain.edge_repeats.tolist() == [1, 4, 2]


def test_validation_side_and_metric_select_best_pt(tmp_path):
    kg = _tiny_graph(seed=6)
    kg = dataclasses.replace(kg, entity_kinds={i: "A" if i % 2 else "B" for i in range(12)})
    tc = TrainingConfig(epochs=4, batch_size=8, checkpoint_every=0, eval_every=1,
                        validation_side="tail",
                        validation_metric="type_constrained.realistic.hits@3")
    result = train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path, show_progress=False)
    key = "validation.type_constrained.realistic.hits@3"
    values = [m[key] for m in result.metrics_history]
    assert result.best.epoch == 1 + values.index(max(values))
    assert load_checkpoint(tmp_path / "best.pt").metrics[key] == max(values)
    # the metrics of best.pt are those of the tail side: compare with evaluate
    from kgif.evaluation.ranks import evaluate
    tail = evaluate(result.best.params, result.best.buffers, result.best.config, kg,
                    split="validation", side="tail")
    assert result.best.metrics[key] == tail["type_constrained.realistic.hits@3"]


def test_unknown_validation_metric_is_refused_before_training(tmp_path):
    kg = _tiny_graph(seed=6)  # no entity kinds: no type-constrained metrics
    tc = TrainingConfig(epochs=1, eval_every=1, validation_metric="type_constrained.realistic.mrr")
    with pytest.raises(ValueError, match="validation_metric='type_constrained.realistic.mrr'"):
        train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path, show_progress=False)
    assert not (tmp_path / "checkpoints").exists() or not list(
        (tmp_path / "checkpoints").iterdir())
    with pytest.raises(ValueError, match="validation_side"):
        TrainingConfig(validation_side="left")
