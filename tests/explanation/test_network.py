"""Network exports: the explanation subgraph, Cytoscape.js JSON and GraphML contents."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import networkx as nx
import pytest
from figure_helpers import explained

from kgif.explanation.explanation import Explanation, Influence
from kgif.explanation.network import (
    explanation_subgraph,
    to_cytoscape,
    write_cytoscape,
    write_graphml,
    write_network,
)

ROLES = {"proponent", "opponent", "test", "path"}


def _expected_edges(ex: Explanation, paths, n_paths: int, train) -> dict[int, tuple]:
    """Training row -> (triple, influence), straight from the explanation and the paths."""
    rows = {inf.train_index: (inf.triple, inf.influence) for inf in ex.influences}
    for p in paths.paths[:n_paths]:
        for row, score in zip(p.edges, p.edge_scores, strict=True):
            rows.setdefault(row, (tuple(train[row].tolist()), score))
    return rows


def check_cytoscape_elements(document: dict) -> None:
    """The Cytoscape.js elements format (js.cytoscape.org, "Elements JSON"), and the fields of
    a Cytoscape desktop .cyjs file."""
    assert {"format_version", "generated_by", "target_cytoscapejs_version", "data",
            "elements"} <= set(document)
    assert set(document["elements"]) == {"nodes", "edges"}
    ids = []
    for group in ("nodes", "edges"):
        for element in document["elements"][group]:
            assert set(element) == {"data"} and isinstance(element["data"]["id"], str)
            ids.append(element["data"]["id"])
    assert len(ids) == len(set(ids)), "element ids must be unique across nodes and edges"
    nodes = {e["data"]["id"] for e in document["elements"]["nodes"]}
    for edge in document["elements"]["edges"]:
        data = edge["data"]
        assert data["source"] in nodes and data["target"] in nodes
        assert data["role"] in ROLES
        assert isinstance(data["influence"], float) and math.isfinite(data["influence"])
        assert isinstance(data["rank"], int) and isinstance(data["on_path"], bool)


def test_cytoscape_document_holds_every_edge_with_its_influence(tmp_path):
    kg, _, explanations, paths = explained(k=4)
    ex = explanations[0]
    path = write_cytoscape(tmp_path / "x.cyjs", explanation_subgraph(ex, kg, 4, paths[0]), kg)
    document = json.loads(path.read_text(encoding="utf-8"))
    check_cytoscape_elements(document)
    edges = [e["data"] for e in document["elements"]["edges"]]
    test = [e for e in edges if e["role"] == "test"]
    h, r, t = ex.triple
    assert len(test) == 1
    assert (test[0]["source"], test[0]["relation"], test[0]["target"]) == (
        kg.entity_label(h), kg.relation_label(r), kg.entity_label(t))
    expected = _expected_edges(ex, paths[0], 3, kg.training)
    got = {e["train_index"]: e for e in edges if e["role"] != "test"}
    assert set(got) == set(expected)
    for row, ((a, q, b), influence) in expected.items():
        e = got[row]
        assert (e["source"], e["relation"], e["target"]) == (
            kg.entity_label(a), kg.relation_label(q), kg.entity_label(b))
        assert e["influence"] == influence
        assert e["relation_name"] == kg.relation_name(q)
    on_path = {row for p in paths[0].paths[:3] for row in p.edges}
    assert {row for row, e in got.items() if e["on_path"]} == on_path
    nodes = {n["data"]["id"]: n["data"] for n in document["elements"]["nodes"]}
    entities = {h, t} | {x for (a, _, b), _ in expected.values() for x in (a, b)}
    assert set(nodes) == {kg.entity_label(e) for e in entities}
    for e in entities:
        node = nodes[kg.entity_label(e)]
        assert (node["name"], node["kind"], node["entity_id"]) == (
            kg.entity_name(e), kg.entity_kind(e), e)
    assert nodes[kg.entity_label(h)]["role"] == "head"


def test_graphml_reads_back_with_typed_attributes(tmp_path):
    kg, _, explanations, paths = explained(k=3)
    ex = explanations[1]
    path = write_network(ex, kg, tmp_path / "stem", "graphml", k=3, paths=paths[1])
    assert path.name == "stem.graphml"
    graph = nx.read_graphml(path, force_multigraph=True)
    expected = _expected_edges(ex, paths[1], 3, kg.training)
    assert graph.number_of_edges() == len(expected) + 1
    h, r, t = ex.triple
    flagged = [(u, v, d) for u, v, d in graph.edges(data=True) if d["role"] == "test"]
    assert [(u, v) for u, v, _ in flagged] == [(kg.entity_label(h), kg.entity_label(t))]
    assert flagged[0][2]["relation"] == kg.relation_label(r)
    for u, v, data in graph.edges(data=True):
        if data["role"] == "test":
            continue
        (a, q, b), influence = expected[data["train_index"]]
        assert (u, v, data["relation"]) == (kg.entity_label(a), kg.entity_label(b),
                                            kg.relation_label(q))
        assert data["influence"] == pytest.approx(influence, rel=1e-15)
        assert isinstance(data["rank"], int) and isinstance(data["on_path"], bool)
    for node, data in graph.nodes(data=True):
        e = kg.entity_to_id[node]
        assert (data["name"], data["kind"], data["entity_id"]) == (
            kg.entity_name(e), kg.entity_kind(e), e)
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    keys = {(k.get("for"), k.get("attr.name")): k.get("attr.type")
            for k in ET.parse(path).getroot().findall("g:key", ns)}
    assert keys[("edge", "influence")] == "double"
    assert keys[("edge", "rank")] in ("int", "long")
    assert keys[("edge", "on_path")] == "boolean"
    assert keys[("node", "name")] == "string"


def test_edge_in_both_lists_appears_once_with_role_by_sign():
    kg, _, _, _ = explained(k=2)
    a, b = tuple(kg.training[0].tolist()), tuple(kg.training[1].tolist())
    ex = Explanation((0, 2, 7), None,
                     [Influence(0, a, 0.5, None, "proponent", 1),
                      Influence(1, b, -0.1, None, "proponent", 2)],
                     [Influence(1, b, -0.1, None, "opponent", 1),
                      Influence(0, a, 0.5, None, "opponent", 2)])
    sub = explanation_subgraph(ex, kg, k=2)
    roles = {e["train_index"]: (e["role"], e["rank"]) for e in sub.edges}
    assert roles == {-1: ("test", 0), 0: ("proponent", 1), 1: ("opponent", 1)}


def test_bad_inputs_are_refused(tmp_path):
    kg, _, explanations, _ = explained(k=2)
    ex = explanations[0]
    with pytest.raises(ValueError, match="format='gexf'"):
        write_network(ex, kg, tmp_path / "x", "gexf")
    nan = Explanation(ex.triple, None, [Influence(0, tuple(kg.training[0].tolist()),
                                                  math.nan, None, "proponent", 1)])
    with pytest.raises(ValueError, match="not finite"):
        explanation_subgraph(nan, kg)
    foreign = Explanation((0, 0, kg.num_entities + 3), None)
    with pytest.raises(ValueError, match="do not match"):
        to_cytoscape(explanation_subgraph(foreign, kg), kg)
    assert not list(tmp_path.iterdir())


def test_paths_from_other_training_triples_are_refused():
    kg, _, explanations, paths = explained(k=2)
    with pytest.raises(ValueError, match="other training triples"):
        explanation_subgraph(explanations[0], kg, paths=paths[0],
                             train_triples=kg.training.flip(0))


def test_graphml_needs_networkx(monkeypatch, tmp_path):
    kg, _, explanations, _ = explained(k=2)
    monkeypatch.setitem(__import__("sys").modules, "networkx", None)
    with pytest.raises(ImportError, match=r"kgif\[plot\]"):
        write_graphml(tmp_path / "x.graphml", explanation_subgraph(explanations[0], kg))
