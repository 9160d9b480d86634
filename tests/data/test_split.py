"""kgif.split: held-out fractions, every entity and relation kept in training, seeds, reverse
edges held out together, write_split read back by load_dataset; and the refusals."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from kgif.data.build import from_label_triples
from kgif.data.datasets import load_dataset
from kgif.data.split import SplitSettings, split, write_split


def _bipartite(n: int = 4):
    """Drugs d0..d{n-1} treat diseases s0..s{n-1} (complete, n*n edges, every degree n), plus
    one ``marker`` edge per drug."""
    rows = [(f"d{i}", "treats", f"s{j}") for i in range(n) for j in range(n)]
    rows += [(f"d{i}", "marker", f"g{i}") for i in range(n)]
    return from_label_triples(rows, name="bip")


def _edges(kg, triples):
    e, r = kg.id_to_entity, kg.id_to_relation
    return {(e[h], r[k], e[t]) for h, k, t in triples.tolist()}


def _covered(kg) -> tuple[set[int], set[int]]:
    train = kg.training
    return set(train[:, [0, 2]].flatten().tolist()), set(train[:, 1].tolist())


def test_fractions_and_every_entity_kept():
    kg = _bipartite()
    out = split(kg, "treats", valid=0.25, test=0.25, seed=0)
    assert (len(out.training), len(out.validation), len(out.testing)) == (12, 4, 4)
    assert _covered(out) == (set(range(kg.num_entities)), set(range(kg.num_relations)))
    held = _edges(out, out.validation) | _edges(out, out.testing)
    assert len(held) == 8 and all(r == "treats" for _, r, _ in held)
    assert _edges(out, out.training) | held == _edges(kg, kg.training)
    assert not _edges(out, out.training) & held
    assert out.entity_to_id == kg.entity_to_id and out.relation_to_id == kg.relation_to_id


def test_last_edges_stay_in_training(caplog):
    # a star: every leaf has one edge, so nothing can go without losing a leaf
    star = from_label_triples([("hub", "treats", f"leaf{i}") for i in range(5)])
    with caplog.at_level(logging.WARNING, logger="kgif.data.split"):
        out = split(star, "treats", valid=0.2, test=0.2)
    assert (len(out.training), len(out.validation), len(out.testing)) == (5, 0, 0)
    assert "held out 0 test and 0 validation edges of 'treats', not 1 and 1" in caplog.text
    # a relation with one edge keeps it, even when all relations are candidates
    kg = _bipartite()
    out = split(kg, None, valid=0.4, test=0.4, seed=1)
    assert _covered(out) == (set(range(kg.num_entities)), set(range(kg.num_relations)))


def test_self_loops_count_once():
    kg = from_label_triples([("a", "r", "a"), ("a", "r", "b"), ("b", "r", "b")])
    out = split(kg, "r", valid=0.0, test=0.4, seed=0)  # round(0.4 * 3) = 1 test edge
    assert len(out.testing) == 1 and _covered(out)[0] == {0, 1}


def test_seed_reproducibility():
    kg = _bipartite(6)
    a = split(kg, "treats", valid=0.2, test=0.2, seed=7)
    b = split(kg, "treats", valid=0.2, test=0.2, seed=7)
    c = split(kg, "treats", valid=0.2, test=0.2, seed=8)
    assert torch.equal(a.testing, b.testing) and torch.equal(a.validation, b.validation)
    assert torch.equal(a.training, b.training)
    assert not torch.equal(torch.cat([a.testing, a.validation]),
                           torch.cat([c.testing, c.validation]))


def test_reverse_edges_go_together_and_no_inverse_relations():
    rows = [(f"p{i}", "interacts", f"p{(i + 1) % 6}") for i in range(6)]
    rows += [(b, r, a) for a, r, b in rows]  # symmetric: both directions
    rows += [(f"p{i}", "interacts", f"p{(i + 2) % 6}") for i in range(6)]
    kg = from_label_triples(rows)
    out = split(kg, "interacts", valid=0.0, test=0.25, seed=2)
    train = _edges(out, out.training)
    for h, r, t in _edges(out, out.testing):
        assert (t, r, h) not in train  # no test edge answered by its mirror image
    assert out.testing[:, 1].max() < kg.num_relations  # base relation ids, no inverses
    assert _covered(out)[0] == set(range(kg.num_entities))


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(valid=0.6, test=0.5), r"valid \+ test must be in \(0, 1\)"),
    (dict(valid=0.0, test=0.0), r"valid \+ test must be in \(0, 1\)"),
    (dict(valid=-0.1, test=0.1), r"valid must be a fraction in \[0, 1\), got -0.1"),
    (dict(valid=0.1, test=1.0), r"test must be a fraction in \[0, 1\), got 1.0"),
])
def test_bad_fractions_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split(_bipartite(), "treats", **kwargs)


def test_graphs_that_cannot_be_split_are_refused():
    kg = from_label_triples([("a", "r", "b"), ("b", "r", "c")], [("a", "r", "c")])
    with pytest.raises(ValueError, match="already has 1 validation and 0 test triples"):
        split(kg, "r")
    dup = from_label_triples([("a", "r", "b"), ("a", "r", "b"), ("b", "r", "c")],
                             duplicates="keep")
    with pytest.raises(ValueError, match="repeat some edges"):
        split(dup, "r")
    with pytest.raises(KeyError, match="unknown relation 'treat'"):
        split(_bipartite(), "treat")


def test_write_split_reads_back_with_names_and_kinds(tmp_path):
    kg = _bipartite()
    kg.entity_names = {kg.entity_to_id["d0"]: "drug zero"}
    kg.entity_kinds = {i: ("Drug" if label.startswith("d") else "Other")
                       for label, i in kg.entity_to_id.items()}
    kg.entity_categories = {kg.entity_to_id["d0"]: ("biolink:Drug", "biolink:NamedThing")}
    out = split(kg, "treats", valid=0.25, test=0.25, seed=0)
    settings = SplitSettings("treats", 0.25, 0.25, 0, 16)
    write_split(out, tmp_path / "s", settings=settings)
    back = load_dataset(tmp_path / "s")
    assert back.entity_to_id == kg.entity_to_id and back.relation_to_id == kg.relation_to_id
    for attr in ("training", "validation", "testing"):
        assert torch.equal(getattr(back, attr), getattr(out, attr))
    assert back.entity_names == {kg.entity_to_id["d0"]: "drug zero"}
    assert back.entity_kinds == kg.entity_kinds
    assert back.entity_categories == kg.entity_categories
    record = json.loads((tmp_path / "s" / "split.json").read_text())
    assert record["settings"] == {"relation": "treats", "valid": 0.25, "test": 0.25, "seed": 0,
                                  "candidates": 16}
    assert (record["train"], record["valid"], record["test"]) == (12, 4, 4)
    with pytest.raises(ValueError, match="already holds"):
        write_split(out, tmp_path / "s")
    write_split(out, tmp_path / "s", overwrite=True)


def test_cli_split_refuses_bad_fractions(capsys):
    from kgif.cli import main

    with pytest.raises(SystemExit):
        main(["split", "--dataset", "nations", "--test", "1.5", "--output-dir", "x"])
    assert "argument --test: must be a fraction in [0, 1), got 1.5" in capsys.readouterr().err
