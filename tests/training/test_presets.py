"""Training presets (kgif.training.presets, ``train --preset``) and the type-constrained tail
ranks."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from kgif.bench.preset import popularity_scores, type_constrained_tail_ranks
from kgif.cli import build_parser
from kgif.cli.train import apply_preset
from kgif.data.graph import KnowledgeGraph
from kgif.model.conve import ConvEConfig
from kgif.training.loop import TrainingConfig
from kgif.training.presets import PRESETS, Preset, preset_configs


def _train_args(*argv: str):
    return apply_preset(build_parser().parse_args(["train", *argv]))


# --------------------------------------------------------------------------- presets


def test_every_preset_builds_valid_configs():
    for name, preset in PRESETS.items():
        config, tc = preset_configs(name)
        for key, value in preset.model.items():
            assert getattr(config, key) == value, (name, key)
        for key, value in preset.training.items():
            assert getattr(tc, key) == value, (name, key)


def test_preset_configs_overrides_win():
    config, tc = preset_configs("hetionet", epochs=7, embedding_dim=64, embedding_height=8)
    assert (tc.epochs, config.embedding_dim, config.embedding_width) == (7, 64, 8)
    assert tc.batch_size == PRESETS["hetionet"].training["batch_size"]


def test_preset_errors_name_the_bad_value():
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        preset_configs("nope")
    with pytest.raises(ValueError, match="learning_rat"):
        preset_configs("hetionet", learning_rat=0.1)
    with pytest.raises(ValueError, match="embedding_dimension"):
        Preset("x", "umls", "", model={"embedding_dimension": 3})


# --------------------------------------------------------------------------- CLI


def test_cli_preset_fills_unset_flags_and_dataset():
    args = _train_args("--preset", "hetionet")
    preset = PRESETS["hetionet"]
    assert args.dataset == preset.dataset
    for key, value in {**preset.model, **preset.training}.items():
        assert getattr(args, key) == value, key


def test_cli_explicit_flags_beat_the_preset_even_at_the_dataclass_default():
    default_batch = TrainingConfig().batch_size
    default_dropout = ConvEConfig().input_dropout
    assert PRESETS["hetionet"].training["batch_size"] != default_batch
    assert PRESETS["hetionet"].model["input_dropout"] != default_dropout
    args = _train_args("--batch-size", str(default_batch), "--preset", "hetionet",
                       "--input-dropout", str(default_dropout), "--dataset", "umls")
    assert args.batch_size == default_batch
    assert args.input_dropout == default_dropout
    assert args.dataset == "umls"
    assert args.epochs == PRESETS["hetionet"].training["epochs"]


def test_cli_explicit_boolean_beats_the_preset(monkeypatch):
    preset = dataclasses.replace(PRESETS["hetionet"], model={"entity_bias": False})
    monkeypatch.setitem(PRESETS, "hetionet", preset)
    assert _train_args("--preset", "hetionet").entity_bias is False
    assert _train_args("--preset", "hetionet", "--entity-bias").entity_bias is True


def test_cli_explicit_flags_do_not_leak_between_parses():
    _train_args("--preset", "hetionet", "--epochs", "1")
    assert _train_args("--preset", "hetionet").epochs == PRESETS["hetionet"].training["epochs"]


def test_cli_without_preset_keeps_dataclass_defaults_and_needs_a_dataset():
    args = _train_args("--dataset", "umls")
    assert args.batch_size == TrainingConfig().batch_size
    with pytest.raises(ValueError, match="--dataset"):
        _train_args()


# --------------------------------------------------------------------------- ranks


def _typed_graph(seed: int = 0) -> KnowledgeGraph:
    """12 entities of kinds A (0-3), B (4-9), C (10-11); relation 0 maps A -> B."""
    gen = torch.Generator().manual_seed(seed)
    kinds = {e: "A" if e < 4 else "B" if e < 10 else "C" for e in range(12)}
    train = [(h, 0, int(t)) for h in range(4) for t in torch.randint(4, 10, (3,), generator=gen)]
    train += [(10, 1, 11), (11, 1, 0)]
    test = [(0, 0, 5), (1, 0, 9), (2, 0, 4), (3, 0, 6)]
    valid = [(0, 0, 7)]
    ids = {f"e{i}": i for i in range(12)}
    return KnowledgeGraph(ids, {"r0": 0, "r1": 1}, torch.tensor(train), torch.tensor(valid),
                          torch.tensor(test), entity_kinds=kinds)


def _reference_ranks(scores, triples, kg):
    """Plain loop: rank of t among range-kind candidates that are no other known tail."""
    known = {tuple(x) for x in kg.all_triples().tolist()}
    out = []
    for row, (h, r, t) in zip(scores.double().tolist(), triples.tolist(), strict=True):
        cands = [e for e in range(kg.num_entities)
                 if kg.entity_kind(e) in kg.relation_range(r) and e != t
                 and (h, r, e) not in known]
        better = sum(row[e] > row[t] for e in cands)
        tied = sum(row[e] == row[t] for e in cands)
        out.append((better + 1, better + tied + 1))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_type_constrained_ranks_match_a_plain_loop(seed):
    kg = _typed_graph(seed)
    gen = torch.Generator().manual_seed(seed)
    # rounded scores make ties, which the optimistic/pessimistic pair must count
    scores = torch.randint(0, 4, (len(kg.testing), kg.num_entities), generator=gen).double()
    opt, pes = type_constrained_tail_ranks(scores, kg.testing, kg)
    assert list(zip(opt.tolist(), pes.tolist(), strict=True)) == _reference_ranks(
        scores, kg.testing, kg)


def test_type_constrained_ranks_ignore_other_kinds_and_known_tails():
    kg = _typed_graph()
    scores = torch.zeros(1, kg.num_entities, dtype=torch.float64)
    h, _, t = kg.testing[0].tolist()
    scores[0, t] = 1.0
    scores[0, [0, 10, 11]] = 5.0  # wrong kinds: never ranked
    known = kg.all_triples()
    for e in known[(known[:, 0] == h) & (known[:, 1] == 0), 2].tolist():
        if e != t:
            scores[0, e] = 9.0  # other known tails: filtered
    opt, pes = type_constrained_tail_ranks(scores, kg.testing[:1], kg)
    assert (opt.item(), pes.item()) == (1, 1)


def test_type_constrained_ranks_refuse_nan_and_out_of_range_answers():
    kg = _typed_graph()
    scores = torch.zeros(len(kg.testing), kg.num_entities)
    scores[0, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        type_constrained_tail_ranks(scores, kg.testing, kg)
    bad = torch.tensor([[0, 0, 10]])  # kind C is not in r0's range
    with pytest.raises(ValueError, match="range kinds"):
        type_constrained_tail_ranks(torch.zeros(1, kg.num_entities), bad, kg)


def test_popularity_scores_count_training_tails():
    kg = _typed_graph()
    scores = popularity_scores(kg, 0, 2)
    tails = [t for _, r, t in kg.training.tolist() if r == 0]
    assert scores.shape == (2, kg.num_entities)
    assert scores[1].tolist() == [float(tails.count(e)) for e in range(kg.num_entities)]


# --------------------------------------------------------------------------- bench row


def test_bench_row_skips_outside_the_full_suite():
    from kgif.bench.common import BENCH_SIZES
    from kgif.bench.preset import bench_preset

    assert not BENCH_SIZES["smoke"].hetionet_preset and BENCH_SIZES["full"].hetionet_preset
    (only,) = bench_preset(BENCH_SIZES["smoke"], "cpu")
    assert only["skipped"] and "full" in only["note"]


def test_bench_row_trains_and_reports_mrr_beside_the_baseline(monkeypatch):
    import kgif.data.datasets
    import kgif.training.presets
    from kgif.bench.common import BENCH_SIZES
    from kgif.bench.preset import bench_preset

    kg = _typed_graph()
    kg = KnowledgeGraph(kg.entity_to_id, {"TREATS_CtD": 0, "r1": 1}, kg.training,
                        kg.validation, kg.testing, entity_kinds=kg.entity_kinds)
    monkeypatch.setattr(kgif.data.datasets, "load_dataset", lambda name: kg)
    tiny = Preset("hetionet", "hetionet", "tiny", model={"embedding_dim": 6,
                  "embedding_height": 2, "embedding_width": 3, "output_channels": 2},
                  training={"epochs": 2, "batch_size": 64, "eval_every": 1})
    monkeypatch.setitem(kgif.training.presets.PRESETS, "hetionet", tiny)
    rows = {(r["method"], r["metric"]): r for r in bench_preset(BENCH_SIZES["full"], "cpu")}
    assert rows[("kgif-preset", "epoch time")]["value"] > 0
    base = rows[("popularity", "test MRR")]["value"]
    ranks = type_constrained_tail_ranks(popularity_scores(kg, 0, 4), kg.testing, kg)
    assert base == pytest.approx((2.0 / (ranks[0] + ranks[1]).double()).mean().item())
    assert 0 < rows[("kgif-preset", "test MRR")]["value"] <= 1
