"""The Hetionet example figure of docs/figures.md (and the README).

    python docs/notebooks/hetionet_figure.py docs/figures/hetionet_sunitinib

Explains the first ``TREATS_CtD`` test triple of the bundled Hetionet (Sunitinib treats
pancreatic cancer) with a randomly initialised ConvE (d = 32 as 4 x 8, two checkpoints with
learning rates 0.01 and 0.005): the top 20 proponents and opponents among the training edges
within 2 hops of both ends that lie on a head-tail walk of at most 3 edges, and the 3 best
head-tail paths of up to 3 edges. Writes ``STEM.png``, ``STEM.svg``, ``STEM.cyjs`` and
``STEM.graphml``. The model is untrained, so the figure shows the encoding, not biology.
"""

from __future__ import annotations

import sys

import kgif
from kgif.checkpoint import Checkpoint
from kgif.filters import Adjacency


def main(stem: str) -> None:
    kg = kgif.load_dataset("hetionet")
    config = kgif.ConvEConfig(embedding_dim=32)
    checkpoints = []
    for seed, lr in ((1, 0.01), (2, 0.005)):
        params, buffers = kgif.init_conve(config, kg.num_entities, kg.num_relations, seed=seed)
        checkpoints.append(Checkpoint(params, buffers, config, lr, epoch=seed,
                                      entity_to_id=kg.entity_to_id,
                                      relation_to_id=kg.relation_to_id))
    treats = kg.relation_to_id["TREATS_CtD"]
    triple = kg.testing[kg.testing[:, 1] == treats][0]
    h, _, t = triple.tolist()
    adj = Adjacency.from_triples(kg.training, kg.num_entities)
    tracin = kgif.TracIn(checkpoints, kg.training, batch_size=4096)
    candidates = kgif.candidate_edges(adj, h, t, 2, max_path_length=3)
    explanation = kgif.explain(tracin, triple[None], k=20, candidates=[candidates])[0]
    paths = kgif.rank_paths(tracin, triple, adj, max_length=3, top=5, max_paths=2000)
    for path in kgif.write_figures(explanation, kg, stem, paths, k=20):
        print("wrote", path)
    for fmt in ("cytoscape", "graphml"):
        print("wrote", kgif.write_network(explanation, kg, stem, fmt, k=20, paths=paths))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "hetionet_example")
