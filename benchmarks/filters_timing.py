"""Time candidate-set extraction (kgif.influence.candidates) for test triples of FB15k-237.

Usage:
    python benchmarks/filters_timing.py [--dataset fb15k237] [--num-test 10] [--repeats 5]
        [--threads N] [--networkx]

Builds the CSR adjacency of the training edges once, then for each filter configuration
extracts the candidate sets of ``--num-test`` random test triples (entities seen in training),
``--repeats`` times after one warm-up pass, and prints the median time per pass and the
candidate-set sizes. ``--networkx`` also times an ego-graph-intersection baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

from kgif.data.datasets import load_dataset
from kgif.influence.candidates import Adjacency, candidate_edges_batch

CONFIGS = [
    dict(k=1),
    dict(k=2),
    dict(k=2, min_degree=5),
    dict(k=3),
    dict(k=3, max_path_length=3),
    dict(k=4, max_path_length=4),
]


def timed(fn, repeats: int) -> tuple[float, object]:
    """Median wall time in seconds over ``repeats`` calls after one warm-up call."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def networkx_baseline(train: torch.Tensor, num_entities: int, test: torch.Tensor, k: int):
    """Seconds for the ego-graph intersection with networkx (one pass, graph prebuilt)."""
    import networkx as nx

    graph = nx.MultiGraph()
    graph.add_nodes_from(range(num_entities))
    graph.add_edges_from((h, t, e) for e, (h, _, t) in enumerate(train.tolist()))
    start = time.perf_counter()
    for h, _, t in test.tolist():
        inside = set(nx.ego_graph(graph, h, radius=k)) & set(nx.ego_graph(graph, t, radius=k))
        inside |= {h, t}
        _ = [e for u, v, e in graph.edges(inside, keys=True) if v in inside]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fb15k237")
    parser.add_argument("--num-test", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--networkx", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    kg = load_dataset(args.dataset)
    train, test, num_entities = kg.training, kg.testing, kg.num_entities
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(args.seed))
    test = test[pick[: args.num_test]]
    print(f"command: python {' '.join(sys.argv)}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()} with {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f}), python {platform.python_version()}")
    print(f"{args.dataset}: {len(train)} training edges, {num_entities} entities, "
          f"{len(test)} test triples")
    build, adj = timed(lambda: Adjacency.from_triples(train, num_entities), args.repeats)
    print(f"Adjacency.from_triples: {build * 1e3:.1f} ms")
    print(f"{'config':<32} {'ms / pass':>10} {'ms / triple':>12} {'median |E|':>11} "
          f"{'max |E|':>9}")
    for config in CONFIGS:
        seconds, sets = timed(lambda c=config: candidate_edges_batch(adj, test, **c),
                              args.repeats)
        sizes = [int(s.numel()) for s in sets]
        label = ", ".join(f"{key}={value}" for key, value in config.items())
        print(f"{label:<32} {seconds * 1e3:>10.1f} {seconds * 1e3 / len(test):>12.2f} "
              f"{int(statistics.median(sizes)):>11} {max(sizes):>9}")
    if args.networkx:
        for k in (1, 2):
            seconds = networkx_baseline(train, num_entities, test, k)
            print(f"networkx ego-graph intersection k={k}: {seconds * 1e3:.1f} ms / pass")


if __name__ == "__main__":
    main()
