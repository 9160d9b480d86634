"""A small named, typed graph with a real TracIn explanation and ranked paths (figure tests)."""

from __future__ import annotations

import dataclasses

from helpers import graph_checkpoints

from kgif.bench.common import random_triples
from kgif.data.build import from_label_triples
from kgif.explanation.explanation import explain
from kgif.explanation.paths import rank_paths
from kgif.influence.candidates import Adjacency
from kgif.influence.tracin import TracIn

N_ENT = 12
KINDS = ("Compound", "Disease", "Gene")


def named_graph():
    """12 entities of three kinds with long display names, 3 relations, 3 test triples."""
    labels = [f"X::{i}" for i in range(N_ENT)]
    rels = ["treats", "binds", "associates"]
    train = random_triples(40, N_ENT, 3, seed=3).tolist()
    train += [[i, 2, (i + 1) % N_ENT] for i in range(N_ENT)]
    rows = [(labels[h], rels[r], labels[t]) for h, r, t in train]
    test = [(labels[0], "treats", labels[5]), (labels[1], "treats", labels[7]),
            (labels[2], "binds", labels[9])]
    kg = from_label_triples(rows, test=test, name="named", unseen="keep")
    names = {kg.entity_to_id[x]: f"entity number {x[3:]} with a long display name"
             for x in labels}
    kinds = {kg.entity_to_id[x]: KINDS[int(x[3:]) % 3] for x in labels}
    return dataclasses.replace(kg, entity_names=names, entity_kinds=kinds,
                               relation_names={0: "associates with", 1: "binds to",
                                               2: "treats"})


def explained(k: int = 4):
    """``(kg, tracin, explanations, ranked_paths)`` for the test triples of :func:`named_graph`."""
    kg = named_graph()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16)
    explanations = explain(tracin, kg.testing, k=k)
    adj = Adjacency.from_triples(kg.training, kg.num_entities)
    paths = [rank_paths(tracin, row, adj, max_length=2, top=5) for row in kg.testing]
    return kg, tracin, explanations, paths
