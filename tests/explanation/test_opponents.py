"""Opponents have negative influence and proponents positive, in every output (issue 22)."""

from __future__ import annotations

import csv
import re

import torch
from helpers import graph_checkpoints

from kgif.bench.common import random_triples
from kgif.data.build import from_label_triples
from kgif.explanation.explanation import explain
from kgif.explanation.network import explanation_subgraph
from kgif.explanation.tables import format_explanation, to_json, write_csv
from kgif.influence.topk import KMostInfluentialResults, signed_topk
from kgif.influence.tracin import TracIn

N_ENT, N_REL = 9, 2


def _graph():
    names = [f"ent{i}" for i in range(N_ENT)]
    rels = ["treats", "causes"]
    train = random_triples(20, N_ENT, N_REL, seed=3).tolist()
    train += [[i, 1, (i + 1) % N_ENT] for i in range(N_ENT)]
    rows = [(names[h], rels[r], names[t]) for h, r, t in train]
    return from_label_triples(rows, test=[("ent1", "treats", "ent2"), ("ent4", "causes", "ent7")],
                              name="toy")


def test_signed_topk_hand_made():
    result = KMostInfluentialResults(torch.tensor([[4, 2, 7, -1], [1, 0, 3, 5]]),
                                     torch.tensor([[3.0, 0.5, 0.0, float("nan")],
                                                   [-2.0, -1.0, 1.0, 2.0]]))
    pro = signed_topk(result, largest=True)
    assert pro.indices.tolist() == [[4, 2, -1, -1], [-1, -1, 3, 5]]
    opp = signed_topk(result, largest=False)
    assert opp.indices.tolist() == [[-1, -1, -1, -1], [1, 0, -1, -1]]
    assert torch.isnan(opp.influence_scores[0]).all()


def test_opponents_never_positive_in_any_output(tmp_path):
    kg = _graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=8, show_progress=False)
    n = len(kg.training)
    full = tracin.influence(kg.testing)
    # the case: the k lowest scores (Captum's selection) hold positive edges
    _, lowest = tracin.top_influences(kg.testing, n)
    assert (lowest.influence_scores > 0).any()
    explanations = explain(tracin, kg.testing, k=n)
    for j, ex in enumerate(explanations):
        assert len(ex.proponents) == int((full[j] > 0).sum()) < n
        assert len(ex.opponents) == int((full[j] < 0).sum()) < n
        assert all(p.influence > 0 and p.kind == "proponent" for p in ex.proponents)
        assert all(o.influence < 0 and o.kind == "opponent" for o in ex.opponents)
        assert [o.rank for o in ex.opponents] == list(range(1, len(ex.opponents) + 1))
        text = format_explanation(ex, kg)
        side = "proponents"
        for line in text.splitlines()[1:]:
            if line.strip().startswith("opponents"):
                side = "opponents"
            score = re.match(r"\s+\d+\. ([+-]\S+)", line)
            if score:
                assert (float(score.group(1)) > 0) == (side == "proponents"), line
        sub = explanation_subgraph(ex, kg, k=None)
        assert all(e["influence"] < 0 for e in sub.edges if e["role"] == "opponent")
        assert all(e["influence"] > 0 for e in sub.edges if e["role"] == "proponent")
    for item in to_json(explanations, kg)["results"]:
        for inf in item["influences"]:
            assert (inf["influence"] > 0) == (inf["kind"] == "proponent"), inf
    write_csv(tmp_path / "x.csv", explanations, kg)
    with open(tmp_path / "x.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all((float(r["TracInScore"]) > 0) == (r["Kind"] == "proponent")
                        for r in rows)
    assert {r["Kind"] for r in rows} == {"proponent", "opponent"}


def test_no_opponents_is_said_in_text():
    kg = _graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=8, show_progress=False)
    ex = explain(tracin, kg.testing[:1], k=2, candidates=[torch.tensor([0])])[0]
    score = tracin.influence(kg.testing[:1])[0, 0]
    empty = "opponents" if score > 0 else "proponents"
    assert f"{empty}: none (no candidate edge has" in format_explanation(ex, kg)
