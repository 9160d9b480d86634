"""Explanations: JSON/CSV/DataFrame fields and names, and the explain command line."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from helpers import graph_checkpoints
from tolerances import ATOL64, RTOL64

from kgif.bench.common import random_triples
from kgif.cli import main
from kgif.data.build import from_label_triples
from kgif.data.datasets import load_dataset
from kgif.data.tsv import write_label_triples
from kgif.explanation.explanation import Explanation, Influence, explain
from kgif.explanation.tables import CSV_COLUMNS, to_dataframe, to_json, write_csv
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import save_checkpoint

N_ENT, N_REL = 11, 3


def _graph():
    names = [f"ent{i}" for i in range(N_ENT)]
    rels = ["treats", "causes", "isa"]
    train = random_triples(30, N_ENT, N_REL, seed=1).tolist()
    train += [[i, 2, (i + 1) % N_ENT] for i in range(N_ENT)]  # every entity and relation seen
    rows = [(names[h], rels[r], names[t]) for h, r, t in train]
    test = [("ent1", "treats", "ent2"), ("ent3", "treats", "ent4"), ("ent5", "causes", "ent0")]
    return from_label_triples(rows, test=test, name="toy")


def test_explanations_match_influence_and_carry_names():
    kg = _graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=8)
    explanations = explain(tracin, kg.testing, k=3)
    full = tracin.influence(kg.testing)
    self_inf = tracin.self_influence()
    for j, ex in enumerate(explanations):
        assert ex.triple == tuple(kg.testing[j].tolist())
        assert [p.rank for p in ex.proponents] == [1, 2, 3]
        expected = torch.sort(full[j], descending=True, stable=True)
        assert [p.train_index for p in ex.proponents] == expected.indices[:3].tolist()
        for inf in ex.influences:
            got = torch.tensor(inf.influence, dtype=torch.float64)
            torch.testing.assert_close(got, full[j, inf.train_index], rtol=RTOL64, atol=ATOL64)
            torch.testing.assert_close(torch.tensor(inf.self_influence, dtype=torch.float64),
                                       self_inf[inf.train_index], rtol=RTOL64, atol=ATOL64)
        assert ex.opponents[0].influence == pytest.approx(full[j].min().item(), rel=1e-12)
    document = to_json(explanations, kg, {"note": "x"})
    first = document["results"][0]
    assert (first["test_head_label"], first["test_relation_label"]) == ("ent1", "treats")
    assert {"test_head_name", "self_influence", "influences"} <= set(first)
    assert {"train_head", "train_relation_label", "train_tail_name", "influence"} <= set(
        first["influences"][0])


def test_csv_and_dataframe(tmp_path):
    kg = _graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    explanations = explain(tracin, kg.testing[:2], k=2)
    write_csv(tmp_path / "x.csv", explanations, kg)
    with open(tmp_path / "x.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 2 * 2 * 2
    h = explanations[0].triple[0]
    assert (rows[0]["TestHead"], rows[0]["TestHead_label"], rows[0]["Kind"]) == (
        str(h), "ent1", "proponent")
    assert rows[0]["TestHead_name"] == kg.entity_name(h)
    assert float(rows[0]["TracInScore"]) == explanations[0].proponents[0].influence
    pytest.importorskip("pandas")
    frame = to_dataframe(explanations, kg)
    assert list(frame.columns) == list(CSV_COLUMNS) and len(frame) == 8


def _write_training(kg, folder):
    write_label_triples(folder / "train.txt",
                        [(kg.entity_label(h), kg.relation_label(r), kg.entity_label(t))
                         for h, r, t in kg.training.tolist()])
    return folder


def test_explain_cli_end_to_end(tmp_path, capsys):
    kg = _graph()
    folder = _write_training(kg, tmp_path / "data")
    write_label_triples(folder / "test.txt", [("ent1", "treats", "ent2"),
                                              ("ent3", "treats", "ent4")])
    kg = load_dataset(folder)
    for ckpt in graph_checkpoints(kg, dtype=torch.float32):
        save_checkpoint(ckpt, tmp_path / "ckpts" / f"checkpoint_epoch_{ckpt.epoch:04d}.pt")
    code = main(["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset", str(folder),
                 "--test-relation", "treats", "--test-triple", "ent5", "causes", "ent0",
                 "--top-k", "2", "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "proponents:" in printed and "opponents:" in printed and "ent5" in printed
    document = json.loads((tmp_path / "out" / "explanations.json").read_text())
    assert len(document["results"]) == 3
    assert document["metadata"]["tracin"]["learning_rates"] == [0.2, 0.1]


def test_explain_cli_unknown_label_suggests(tmp_path, capsys):
    kg = _graph()
    folder = _write_training(kg, tmp_path / "data")
    for ckpt in graph_checkpoints(kg):
        save_checkpoint(ckpt, tmp_path / "ckpts" / f"c{ckpt.epoch}.pt")
    code = main(["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset", str(folder),
                 "--test-triple", "ent1", "treatz", "ent2", "--no-progress"])
    assert code == 2
    assert "treats" in capsys.readouterr().err


def _kinded_graph():
    kg = _graph()
    kg.entity_kinds = {i: ("Compound" if i % 2 else "Disease") for i in range(N_ENT)}
    kg.entity_names = {0: "zero", 3: "three"}
    return kg


def test_kinds_names_and_proponent_summary_in_every_output(tmp_path):
    from collections import Counter

    from kgif.explanation.explanation import relation_summary
    from kgif.explanation.tables import format_explanation, summary_fields

    kg = _kinded_graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    explanations = explain(tracin, kg.testing[:2], k=4, self_influence=False)
    document = to_json(explanations, kg)
    for ex, result in zip(explanations, document["results"], strict=True):
        # reference: a plain count over the proponents' (relation, kinds)
        rel = Counter(kg.id_to_relation[q] for _, q, _ in (p.triple for p in ex.proponents))
        kinds = Counter(f"{kg.entity_kinds[a]}->{kg.entity_kinds[b]}"
                        for a, _, b in (p.triple for p in ex.proponents))
        summary = relation_summary(ex, kg)
        assert {x["key"]: x["count"] for x in summary["by_relation"]} == dict(rel)
        assert {x["key"]: x["count"] for x in summary["by_kinds"]} == dict(kinds)
        counts = [x["count"] for x in summary["by_relation"]]
        assert counts == sorted(counts, reverse=True)
        assert result["proponent_summary"] == summary
        h, _, t = ex.triple
        assert (result["test_head_kind"], result["test_tail_kind"]) == (kg.entity_kinds[h],
                                                                        kg.entity_kinds[t])
        for inf, item in zip(ex.influences, result["influences"], strict=True):
            assert item["train_head_kind"] == kg.entity_kinds[inf.triple[0]]
            assert item["train_tail_name"] == kg.entity_name(inf.triple[2])
        # summary_fields reads the JSON result, relation_summary the explanation: two routes
        fields = summary_fields(result)
        assert fields["proponent_relations"] == ", ".join(
            f"{relation} {n}" for relation, n in sorted(rel.items(), key=lambda x: (-x[1], x[0])))
        text = format_explanation(ex, kg)
        assert f"[{kg.entity_kinds[h]}]" in text.splitlines()[0]
    write_csv(tmp_path / "x.csv", explanations, kg)
    with open(tmp_path / "x.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    ex = explanations[0]
    first = rows[0]  # the first proponent of the first test triple
    a, _, b = ex.proponents[0].triple
    assert (first["TestHead_kind"], first["TrainHead_kind"], first["TrainTail_name"]) == (
        kg.entity_kinds[ex.triple[0]], kg.entity_kinds[a], kg.entity_name(b))
    pytest.importorskip("pandas")
    frame = to_dataframe(explanations, kg)
    assert list(frame["TrainTail_kind"]) == [row["TrainTail_kind"] for row in rows]


def test_kinds_are_empty_without_a_node_table():
    kg = _graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    result = to_json(explain(tracin, kg.testing[:1], k=2, self_influence=False), kg)["results"][0]
    assert result["test_head_kind"] == "" and result["proponent_summary"]["by_kinds"] == []
    assert result["proponent_summary"]["by_relation"]


def _hand_explanation():
    """A drug graph with kinds and names, and an explanation written by hand."""
    rows = [("aspirin", "treats", "headache"), ("aspirin", "binds", "cox1"),
            ("ibuprofen", "treats", "headache"), ("ibuprofen", "binds", "cox1"),
            ("cox1", "associates", "headache"), ("cox1", "associates", "fever")]
    kg = from_label_triples(rows, test=[("aspirin", "treats", "fever")], name="drugs")
    e, r = kg.entity_to_id, kg.relation_to_id
    kg.entity_kinds = {e["aspirin"]: "Compound", e["ibuprofen"]: "Compound",
                       e["headache"]: "Disease", e["fever"]: "Disease", e["cox1"]: "Gene"}
    kg.entity_names = {e["cox1"]: "PTGS1"}

    def edge(index, kind, rank, score):
        a, q, b = rows[index]
        return Influence(index, (e[a], r[q], e[b]), score, 1.5, kind, rank)

    ex = Explanation((e["aspirin"], r["treats"], e["fever"]), 2.0,
                     proponents=[edge(2, "proponent", 1, 0.5), edge(1, "proponent", 2, 0.25),
                                 edge(3, "proponent", 3, 0.125)],
                     opponents=[edge(4, "opponent", 1, -0.0625)])
    return kg, ex


def test_summaries_text_and_csv_of_a_hand_written_explanation(tmp_path):
    from kgif.explanation.explanation import relation_summary
    from kgif.explanation.tables import format_explanation, summary_fields

    kg, ex = _hand_explanation()
    assert relation_summary(ex, kg) == {
        "by_relation": [{"key": "binds", "count": 2}, {"key": "treats", "count": 1}],
        "by_kinds": [{"key": "Compound->Gene", "count": 2},
                     {"key": "Compound->Disease", "count": 1}]}
    expected_fields = {"proponent_relations": "binds 2, treats 1",
                       "proponent_kinds": "Compound->Gene 2, Compound->Disease 1"}
    assert summary_fields(to_json([ex], kg)["results"][0]) == expected_fields
    assert format_explanation(ex, kg).splitlines() == [
        "aspirin [Compound] --treats--> fever [Disease]   (self-influence 2)",
        "  proponents:",
        "      1. +5.0000e-01  ibuprofen [Compound] --treats--> headache [Disease]",
        "      2. +2.5000e-01  aspirin [Compound] --binds--> PTGS1 (cox1) [Gene]",
        "      3. +1.2500e-01  ibuprofen [Compound] --binds--> PTGS1 (cox1) [Gene]",
        "  opponents:",
        "      1. -6.2500e-02  PTGS1 (cox1) [Gene] --associates--> headache [Disease]",
        "  proponents by relation: binds 2, treats 1",
        "  proponents by kinds: Compound->Gene 2, Compound->Disease 1"]
    write_csv(tmp_path / "x.csv", [ex], kg)
    with open(tmp_path / "x.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["Kind"], row["Rank"], row["TrainIndex"], row["TracInScore"]) for row in rows] == [
        ("proponent", "1", "2", "0.5"), ("proponent", "2", "1", "0.25"),
        ("proponent", "3", "3", "0.125"), ("opponent", "1", "4", "-0.0625")]
    last = rows[-1]
    assert (last["TrainHead"], last["TrainHead_label"], last["TrainHead_name"],
            last["TrainHead_kind"], last["TrainTail_kind"], last["TestTail_kind"],
            last["SelfInfluence"], last["TestSelfInfluence"]) == (
        "1", "cox1", "PTGS1", "Gene", "Disease", "Disease", "1.5", "2.0")
    assert {(row["ProponentRelations"], row["ProponentKinds"]) for row in rows} == {
        ("binds 2, treats 1", "Compound->Gene 2, Compound->Disease 1")}
