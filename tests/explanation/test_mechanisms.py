"""Mechanism view: path scores and metapaths against a brute-force enumeration on a toy graph."""

from __future__ import annotations

import csv
import dataclasses
import math

import pytest
import torch
from helpers import nondirect_paths_brute_force

from kgif.data.build import from_label_triples
from kgif.explanation.mechanisms import (
    direct_relations,
    format_mechanisms,
    mechanism_view,
    mechanisms_to_json,
    metapath_label,
    write_mechanisms_csv,
)
from kgif.explanation.paths import PATH_AGGREGATES
from kgif.influence.candidates import Adjacency

TRAIN = [
    ("C1", "BINDS_CbG", "G1"), ("D1", "ASSOCIATES_DaG", "G1"),          # CbGaD
    ("C1", "BINDS_CbG", "G2"), ("G3", "REGULATES_Gr>G", "G2"),          # CbG<rGaD
    ("D1", "ASSOCIATES_DaG", "G3"), ("G2", "INTERACTS_GiG", "G1"),      # CbGiGaD, CbGaD...
    ("C1", "TREATS_CtD", "D2"), ("C2", "TREATS_CtD", "D1"),            # direct edges
    ("C1", "RESEMBLES_CrC", "C2"), ("C2", "PALLIATES_CpD", "D1"),
    ("C2", "BINDS_CbG", "G3"), ("D2", "ASSOCIATES_DaG", "G1"),
]
KINDS = {"C": "Compound", "D": "Disease", "G": "Gene"}


def _graph():
    kg = from_label_triples(TRAIN, test=[("C1", "TREATS_CtD", "D1")], name="toy")
    kinds = {i: KINDS[label[0]] for label, i in kg.entity_to_id.items()}
    return dataclasses.replace(kg, entity_kinds=kinds)


AGG = {"sum": sum, "mean": lambda s: sum(s) / len(s), "min": min,
       "geomean": lambda s: math.prod(s) ** (1 / len(s)) if min(s) > 0 else 0.0}


@pytest.mark.parametrize("aggregate", sorted(PATH_AGGREGATES))
def test_paths_scores_and_metapaths_match_brute_force(aggregate):
    kg = _graph()
    rel = kg.relation_to_id
    g = torch.Generator().manual_seed(4)
    scores = torch.rand(len(kg.training), generator=g, dtype=torch.float64) - 0.25
    h, r, t = kg.testing[0].tolist()
    direct = direct_relations(kg, r)
    assert direct == tuple(sorted([rel["TREATS_CtD"], rel["PALLIATES_CpD"]]))
    view = mechanism_view(scores, (h, r, t), kg, aggregate=aggregate, top_paths=100)
    expected = nondirect_paths_brute_force(kg, h, t, set(direct))
    assert view.total_paths == len(expected) == len(view.paths)
    got = {(p.nodes, p.edges): p for p in view.paths}
    assert set(got) == set(expected)
    for key, path in got.items():
        want = AGG[aggregate]([float(scores[e]) for e in key[1]])
        assert path.score == pytest.approx(want, rel=1e-12, abs=1e-15)
    ranked = [p.score for p in view.paths]
    assert ranked == sorted(ranked, reverse=True)
    names = {frozenset(kg.entity_label(n) for n in p.nodes): p.metapath for p in view.paths}
    assert names[frozenset({"C1", "G1", "D1"})] == "CbGaD"
    assert names[frozenset({"C1", "G2", "G3", "D1"})] == "CbG<rGaD"
    assert names[frozenset({"C1", "G2", "G1", "D1"})] == "CbGiGaD"
    assert names[frozenset({"C1", "C2", "G3", "D1"})] == "CrCbGaD"
    assert names[frozenset({"C1", "G1", "G2", "D1"})] == "CbGiGaD"  # two orders, one label
    counts = {m["metapath"]: m["paths"] for m in view.metapaths}
    assert sum(counts.values()) == len(expected)
    assert view.metapaths[0]["best_rank"] == 1


def test_direct_edges_are_set_apart_and_signs_kept():
    kg = _graph()
    rel = kg.relation_to_id
    scores = torch.linspace(-1.0, 2.0, len(kg.training), dtype=torch.float64)
    h, r, t = kg.testing[0].tolist()
    view = mechanism_view(scores, (h, r, t), kg, k=20)
    direct = {rel["TREATS_CtD"], rel["PALLIATES_CpD"]}
    assert {x.triple[1] for x in view.direct} <= direct and view.direct
    assert all(x.triple[1] not in direct for x in view.proponents)
    assert all(x.influence > 0 for x in view.direct + view.proponents)
    n_pos = sum(1 for i, s in enumerate(scores.tolist())
                if s > 0 and kg.training[i, 1].item() not in direct)
    assert len(view.proponents) == n_pos
    only = mechanism_view(scores, (h, r, t), kg, direct=["TREATS_CtD"])
    assert only.direct_relations == (rel["TREATS_CtD"],)


def test_metapath_generic_without_abbreviations():
    kg = from_label_triples([("a", "binds", "b"), ("c", "links", "b")], name="g")
    kg = dataclasses.replace(kg, entity_kinds={0: "X", 1: "Y", 2: "Z"})
    a, b, c = (kg.entity_to_id[x] for x in "abc")
    assert metapath_label(kg, kg.training, [a, b, c], [0, 1]) == "(X)-[binds]->(Y)<-[links]-(Z)"


def test_outputs_carry_paths_and_metapaths(tmp_path):
    kg = _graph()
    scores = torch.linspace(-1.0, 2.0, len(kg.training), dtype=torch.float64)
    view = mechanism_view(scores, kg.testing[0].tolist(), kg, top_paths=3)
    doc = mechanisms_to_json([view], kg)["results"][0]
    assert [p["rank"] for p in doc["paths"]] == [1, 2, 3]
    assert doc["paths"][0]["metapath"] == view.paths[0].metapath
    assert doc["direct_relations"] == ["PALLIATES_CpD", "TREATS_CtD"]
    write_mechanisms_csv(tmp_path / "m.csv", [view], kg)
    lines = (tmp_path / "m.csv").read_text().splitlines()
    assert len(lines) == 4 and view.paths[0].metapath in lines[1]
    # display names beside the labels, in the CSV and the JSON (biologists read names)
    named = dataclasses.replace(kg, entity_names={i: f"name of {label}" for label, i
                                                  in kg.entity_to_id.items()})
    write_mechanisms_csv(tmp_path / "n.csv", [view], named)
    rows = list(csv.DictReader((tmp_path / "n.csv").read_text(encoding="utf-8").splitlines()))
    first = view.paths[0]
    want = " ".join(["name of " + kg.entity_label(first.nodes[0])])
    assert rows[0]["PathNames"].startswith(want + " ")
    assert rows[0]["PathNames"].endswith(" name of " + kg.entity_label(first.nodes[-1]))
    assert rows[0]["Path"].startswith(kg.entity_label(first.nodes[0]) + " ")
    named_doc = mechanisms_to_json([view], named)["results"][0]["paths"][0]
    assert named_doc["node_names"] == [f"name of {kg.entity_label(n)}" for n in first.nodes]
    assert named_doc["text_names"] == rows[0]["PathNames"]
    text = format_mechanisms(view, kg)
    assert "direct edges (set apart)" in text and view.paths[0].metapath in text
    # long names are printed whole (nothing that identifies an entity is cut)
    long = dataclasses.replace(kg, entity_names={i: f"{label} " + "x" * 150 for label, i
                                                 in kg.entity_to_id.items()})
    long_text = format_mechanisms(view, long)
    for node in {n for path in view.paths for n in path.nodes}:
        assert f"{kg.entity_label(node)} " + "x" * 150 in long_text
    assert all(f"{m['metapath']} {m['paths']} (best #{m['best_rank']})" in text
               for m in view.metapaths)
    with pytest.raises(ValueError, match="expected"):
        mechanism_view(scores[:-1], kg.testing[0].tolist(), kg, Adjacency.from_triples(
            kg.training, kg.num_entities))


def test_explain_cli_mechanisms(tmp_path, capsys):
    import json

    from helpers import graph_checkpoints

    from kgif.cli import main
    from kgif.data.datasets import load_dataset
    from kgif.data.tsv import write_label_triples
    from kgif.model.checkpoint import save_checkpoint

    folder = tmp_path / "data"
    folder.mkdir()
    write_label_triples(folder / "train.txt", TRAIN)
    write_label_triples(folder / "test.txt", [("C1", "TREATS_CtD", "D1")])
    kg = load_dataset(folder)
    for ckpt in graph_checkpoints(kg, dtype=torch.float32):
        save_checkpoint(ckpt, tmp_path / "ckpts" / f"checkpoint_epoch_{ckpt.epoch:04d}.pt")
    code = main(["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset", str(folder),
                 "--test-relation", "TREATS_CtD", "--top-k", "3", "--mechanisms",
                 "--direct-relations", "PALLIATES_CpD", "--path-aggregate", "min",
                 "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mechanisms of C1" in printed and "CbGaD" in printed  # labels as names: no kinds
    doc = json.loads((tmp_path / "out" / "mechanisms.json").read_text())
    result = doc["results"][0]
    assert result["aggregate"] == "min"
    assert result["direct_relations"] == ["PALLIATES_CpD", "TREATS_CtD"]
    assert {p["metapath"] for p in result["paths"]} >= {"CbGaD", "CbG<rGaD"}
    assert (tmp_path / "out" / "mechanisms.csv").read_text().count("\n") == 1 + len(
        result["paths"])
    assert main(["report", str(tmp_path / "out")]) == 0
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Mechanisms</h2>" in page and "CbGaD" in page and "mechanisms.json" in page
    # with display names, the report's best paths read in names, not labels
    nodes = sorted({x for h, _, t in TRAIN for x in (h, t)})
    (folder / "entities.tsv").write_text("id\tname\n" + "".join(f"{x}\tname of {x}\n"
                                                             for x in nodes))
    code = main(["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset", str(folder),
                 "--test-relation", "TREATS_CtD", "--top-k", "3", "--mechanisms",
                 "--output-dir", str(tmp_path / "named"), "--no-progress"])
    assert code == 0 and main(["report", str(tmp_path / "named")]) == 0
    page = (tmp_path / "named" / "report.html").read_text()
    mechanisms = page[page.index("<h2>Mechanisms</h2>"):]
    assert "name of C1 --" in mechanisms and "-- name of D1" in mechanisms


def test_mechanism_figure_labels_relations(tmp_path):
    from kgif.explanation.mechanisms import mechanism_explanation
    from kgif.explanation.plot import plot_explanation, write_figures

    kg = _graph()
    scores = torch.linspace(-1.0, 2.0, len(kg.training), dtype=torch.float64)
    view = mechanism_view(scores, kg.testing[0].tolist(), kg, top_paths=3)
    ex = mechanism_explanation(view)
    assert ex.opponents == [] and all(p.influence > 0 for p in ex.proponents)
    fig = plot_explanation(ex, kg, k=5, paths=view.paths, title="mechanisms")
    legend = " ".join(t.get_text() for legend in fig.legends + [fig.axes[0].get_legend()]
                      if legend is not None for t in legend.get_texts())
    assert "BINDS_CbG" in legend and "ASSOCIATES_DaG" in legend  # every edge's relation named
    assert fig.axes[0].get_title().endswith("mechanisms")
    written = write_figures(ex, kg, tmp_path / "m", view.paths, k=5)
    assert [p.suffix for p in written] == [".png", ".svg"]
