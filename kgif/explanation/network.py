"""An explanation as a small network: nodes, edges, and exports for Cytoscape and Gephi.

:func:`explanation_subgraph` turns one :class:`~kgif.explanation.explanation.Explanation` into
plain node and edge records; :mod:`kgif.explanation.plot` draws them and this module writes them as

* **Cytoscape.js JSON** (``.cyjs``, :func:`to_cytoscape` / :func:`write_cytoscape`): the
  ``{"format_version", "generated_by", "target_cytoscapejs_version", "data", "elements":
  {"nodes": [{"data": {...}}], "edges": [{"data": {...}}]}}`` document that Cytoscape desktop
  writes and reads (File > Import > Network from File) and that ``cytoscape.js`` takes as
  ``elements`` (https://js.cytoscape.org/#notation/elements-json);
* **GraphML** (``.graphml``, :func:`write_graphml`) through :func:`networkx.write_graphml`, with
  every attribute's type declared in a ``<key>`` element; Gephi and Cytoscape open it.

Nodes are the test triple's head and tail and the endpoints of every drawn edge. Edges are the
test edge (``role="test"``), the top-k proponents and opponents, and the training edges of the
given head-tail paths that are not already among them (``role="path"``). Proponents have
influence > 0 and opponents < 0 (:func:`kgif.explanation.explanation.explain`), so the two lists
never share an edge; should a hand-made explanation repeat one, it appears once, with the role
its sign gives it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from kgif._io import atomic_write, atomic_write_json
from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation, Influence, check_graph

__all__ = ["EDGE_ATTRIBUTES", "NETWORK_FORMATS", "NODE_ATTRIBUTES", "Subgraph",
           "explanation_subgraph", "to_cytoscape", "to_networkx", "write_cytoscape",
           "write_graphml", "write_network"]

#: Node attributes (name -> Python type) of every export.
NODE_ATTRIBUTES = {"id": str, "entity_id": int, "label": str, "name": str, "kind": str,
                   "role": str}
#: Edge attributes (name -> Python type); ``self_influence`` is left out where unknown.
EDGE_ATTRIBUTES = {"id": str, "source": str, "target": str, "relation": str,
                   "relation_name": str, "interaction": str, "influence": float, "rank": int,
                   "role": str, "train_index": int, "on_path": bool, "self_influence": float}
#: ``format`` values of :func:`write_network` and the file suffix each writes.
NETWORK_FORMATS = {"cytoscape": ".cyjs", "graphml": ".graphml"}


@dataclass
class Subgraph:
    """Node and edge records of one explanation (see the module docstring).

    Attributes:
        triple: the test triple ``(head, relation, tail)`` (entity and base relation ids).
        nodes: one dict per entity with :data:`NODE_ATTRIBUTES`; ``role`` is ``"head"``,
            ``"tail"`` or ``"context"``.
        edges: one dict per edge with :data:`EDGE_ATTRIBUTES`; the test edge first, then
            proponents by rank, opponents by rank, path-only edges. The test edge has
            ``rank=0``, ``train_index=-1`` and the test triple's self-influence.
    """

    triple: tuple[int, int, int]
    nodes: list[dict] = field(default_factory=list)
    edges: list[dict] = field(default_factory=list)


def _node(kg: KnowledgeGraph, entity: int, role: str) -> dict:
    return {"id": kg.entity_label(entity), "entity_id": int(entity),
            "label": kg.entity_label(entity), "name": kg.entity_name(entity),
            "kind": kg.entity_kind(entity), "role": role}


def _edge(kg: KnowledgeGraph, triple, influence: float, rank: int, role: str, train_index: int,
          self_influence: float | None) -> dict:
    h, r, t = (int(x) for x in triple)
    edge = {"id": "", "source": kg.entity_label(h), "target": kg.entity_label(t),
            "relation": kg.relation_label(r), "relation_name": kg.relation_name(r),
            "interaction": kg.relation_label(r), "influence": float(influence),
            "rank": int(rank), "role": role, "train_index": int(train_index), "on_path": False}
    if self_influence is not None:
        edge["self_influence"] = float(self_influence)
    return edge


def _unique_influences(explanation: Explanation, k: int | None) -> list[Influence]:
    """Top-k proponents then opponents, each training row once (role by sign if in both)."""
    chosen: dict[int, Influence] = {}
    for inf in explanation.proponents[:k] + explanation.opponents[:k]:
        if inf.train_index in chosen:
            if (inf.kind == "proponent") == (inf.influence >= 0):
                chosen[inf.train_index] = inf
            continue
        chosen[inf.train_index] = inf
    return sorted(chosen.values(), key=lambda x: (x.kind != "proponent", x.rank))


def _path_list(paths, n_paths: int | None) -> list:
    """The first ``n_paths`` :class:`~kgif.explanation.paths.PathScore` of a RankedPaths or a
    list."""
    if paths is None:
        return []
    items = list(getattr(paths, "paths", paths))
    return items[:n_paths]


def _check_explanation(explanation: Explanation, kg: KnowledgeGraph) -> None:
    check_graph([explanation], kg, "explanation_subgraph")
    for inf in [None, *explanation.influences]:
        triple = explanation.triple if inf is None else inf.triple
        h, r, t = triple
        if not (0 <= h < kg.num_entities and 0 <= t < kg.num_entities
                and 0 <= r < kg.num_relations):
            raise ValueError(f"explanation_subgraph: triple {tuple(triple)} has ids outside "
                             f"this graph ({kg.num_entities} entities, {kg.num_relations} "
                             "relations): explanation and graph do not match")
        if inf is not None and not math.isfinite(inf.influence):
            raise ValueError(f"explanation_subgraph: influence of training row "
                             f"{inf.train_index} is {inf.influence}, not finite")


def explanation_subgraph(explanation: Explanation, kg: KnowledgeGraph, k: int | None = 20,
                         paths=None, *, n_paths: int | None = 3,
                         train_triples=None) -> Subgraph:
    """The network of one explanation: test edge, top-k proponents and opponents, paths.

    Args:
        explanation: one test triple's explanation (:func:`kgif.explanation.explanation.explain`).
        kg: the graph whose ids the explanation uses (names, kinds, labels).
        k: proponents and opponents each to include (None: all in the explanation).
        paths: optional :class:`~kgif.explanation.paths.RankedPaths` (or a list of
            :class:`~kgif.explanation.paths.PathScore`) of this test triple; their edges get
            ``on_path=True`` and are added as ``role="path"`` when not among the top-k.
        n_paths: how many of the best paths to include (None: all given).
        train_triples: (n, 3) int64 training rows the explanation's ``train_index`` and the
            paths' edge ids refer to; default ``kg.training``.

    Returns:
        The :class:`Subgraph` records.

    Raises:
        ValueError: if an id is outside ``kg``, an influence is not finite, a path edge id is
            outside ``train_triples`` or a path's nodes do not match its edges.
    """
    _check_explanation(explanation, kg)
    train = kg.training if train_triples is None else train_triples
    h, r, t = explanation.triple
    sub = Subgraph((int(h), int(r), int(t)))
    edges = [_edge(kg, explanation.triple, 0.0, 0, "test", -1, explanation.self_influence)]
    by_row = {}
    for inf in _unique_influences(explanation, k):
        by_row[inf.train_index] = _edge(kg, inf.triple, inf.influence, inf.rank, inf.kind,
                                        inf.train_index, inf.self_influence)
    for path in _path_list(paths, n_paths):
        _add_path(kg, train, path, by_row)
    edges += list(by_row.values())
    for n, edge in enumerate(edges):
        edge["id"] = f"e{n}"
    entities = [h, t] + [e for x in edges[1:] for e in _endpoints(kg, x)]
    seen: dict[int, dict] = {}
    for e in entities:
        if e not in seen:
            seen[e] = _node(kg, e, "head" if e == h else "tail" if e == t else "context")
    sub.nodes, sub.edges = list(seen.values()), edges
    return sub


def _endpoints(kg: KnowledgeGraph, edge: dict) -> tuple[int, int]:
    return kg.entity_to_id[edge["source"]], kg.entity_to_id[edge["target"]]


def _add_path(kg: KnowledgeGraph, train, path, by_row: dict) -> None:
    """Mark a path's edges ``on_path`` (adding the missing ones as ``role="path"``)."""
    for i, (row, score) in enumerate(zip(path.edges, path.edge_scores, strict=True)):
        if not 0 <= row < len(train):
            raise ValueError(f"explanation_subgraph: path {path.rank} has training row {row}, "
                             f"outside the {len(train)} training triples")
        triple = tuple(int(x) for x in train[row].tolist())
        if {triple[0], triple[2]} != {path.nodes[i], path.nodes[i + 1]}:
            raise ValueError(f"explanation_subgraph: path {path.rank} edge {row} {triple} does "
                             f"not join nodes {path.nodes[i]} and {path.nodes[i + 1]}; were "
                             "the paths computed on other training triples?")
        if row not in by_row:
            by_row[row] = _edge(kg, triple, score, path.rank, "path", row, None)
        by_row[row]["on_path"] = True


# --------------------------------------------------------------------------- Cytoscape.js


def to_cytoscape(sub: Subgraph, kg: KnowledgeGraph) -> dict:
    """A Cytoscape.js / Cytoscape desktop ``.cyjs`` document of the subgraph.

    Edges also carry ``name`` = ``"source (interaction) target"`` and ``shared_name``, as
    Cytoscape desktop writes them.

    Returns:
        ``{"format_version": "1.0", "generated_by", "target_cytoscapejs_version", "data":
        {"name", "test_triple"}, "elements": {"nodes": [...], "edges": [...]}}``.
    """
    from kgif._version import __version__

    h, r, t = sub.triple
    title = f"{kg.entity_name(h)} {kg.relation_name(r)} {kg.entity_name(t)}"
    edges = []
    for edge in sub.edges:
        name = f"{edge['source']} ({edge['interaction']}) {edge['target']}"
        edges.append({"data": {**edge, "name": name, "shared_name": name}})
    return {
        "format_version": "1.0", "generated_by": f"kgif-{__version__}",
        "target_cytoscapejs_version": "~2.1",
        "data": {"name": title, "shared_name": title, "test_triple": [
            kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)]},
        "elements": {"nodes": [{"data": dict(node)} for node in sub.nodes], "edges": edges},
    }


def write_cytoscape(path: str | os.PathLike, sub: Subgraph, kg: KnowledgeGraph) -> Path:
    """Write :func:`to_cytoscape` as JSON (atomic); returns the path."""
    return atomic_write_json(path, to_cytoscape(sub, kg))


# --------------------------------------------------------------------------- GraphML


def _networkx():
    try:
        import networkx as nx
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("kgif.explanation.network GraphML needs networkx: "
                          "pip install 'kgif[plot]'") from error
    return nx


def to_networkx(sub: Subgraph):
    """A :class:`networkx.MultiDiGraph` with the subgraph's node and edge attributes.

    Node keys are the node ``id`` (entity label); edge keys the edge ``id``.

    Raises:
        ImportError: without networkx (``pip install 'kgif[plot]'``).
    """
    nx = _networkx()
    graph = nx.MultiDiGraph(test_triple=" ".join(
        [sub.edges[0]["source"], sub.edges[0]["relation"], sub.edges[0]["target"]]))
    for node in sub.nodes:
        graph.add_node(node["id"], **{k: v for k, v in node.items() if k != "id"})
    for edge in sub.edges:
        attrs = {k: v for k, v in edge.items() if k not in ("source", "target")}
        graph.add_edge(edge["source"], edge["target"], key=edge["id"], **attrs)
    return graph


def write_graphml(path: str | os.PathLike, sub: Subgraph) -> Path:
    """Write the subgraph as GraphML through :func:`networkx.write_graphml` (atomic).

    Every attribute is declared with its type (``string``, ``long``, ``double``, ``boolean``).

    Raises:
        ImportError: without networkx.
    """
    nx = _networkx()
    graph = to_networkx(sub)
    return atomic_write(path, lambda tmp: nx.write_graphml(graph, tmp, named_key_ids=True))


def write_network(explanation: Explanation, kg: KnowledgeGraph, stem: str | os.PathLike,
                  format: str, *, k: int | None = 20, paths=None, n_paths: int | None = 3,
                  train_triples=None) -> Path:
    """Write one explanation's network as ``<stem>.cyjs`` or ``<stem>.graphml``.

    Args:
        explanation, kg, k, paths, n_paths, train_triples: as :func:`explanation_subgraph`.
        stem: output path without suffix (e.g. the batch run's per-triple stem).
        format: ``"cytoscape"`` or ``"graphml"`` (:data:`NETWORK_FORMATS`).

    Returns:
        The path written.

    Raises:
        ValueError: on an unknown ``format`` or as :func:`explanation_subgraph`.
    """
    if format not in NETWORK_FORMATS:
        raise ValueError(f"write_network: format={format!r}, expected one of "
                         f"{sorted(NETWORK_FORMATS)}")
    sub = explanation_subgraph(explanation, kg, k, paths, n_paths=n_paths,
                               train_triples=train_triples)
    path = Path(f"{os.fspath(stem)}{NETWORK_FORMATS[format]}")
    writers = {"cytoscape": lambda: write_cytoscape(path, sub, kg),
               "graphml": lambda: write_graphml(path, sub)}
    return writers[format]()

