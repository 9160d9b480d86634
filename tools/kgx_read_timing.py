"""Time ``kgif.data.kgx.read_kgx_dataset`` on a synthetic KGX graph (docs/data.md quotes it).

Usage: ``python tools/kgx_read_timing.py [--nodes 20000] [--edges 200000] [--repeats 3]`` from
the repository root. Writes ``nodes.tsv`` (4 columns, three categories per node) and
``edges.tsv`` (7 columns: ``id``, ``subject``, ``predicate`` among 20, ``object``, two
provenance columns, two publications) into a temporary folder, reads it ``--repeats`` times and
prints each time, the median, edges per second, torch's version and the load average.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kgif.data.kgx import read_kgx_dataset


def write_graph(folder: Path, nodes: int, edges: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    with open(folder / "nodes.tsv", "w", encoding="utf-8") as f:
        f.write("id\tcategory\tname\tprovided_by\n")
        for i in range(nodes):
            f.write(f"X:{i}\tbiolink:SmallMolecule|biolink:ChemicalEntity|biolink:NamedThing"
                    f"\tnode {i}\tinfores:x\n")
    with open(folder / "edges.tsv", "w", encoding="utf-8") as f:
        f.write("id\tsubject\tpredicate\tobject\tprimary_knowledge_source\tknowledge_level"
                "\tpublications\n")
        for i in range(edges):
            f.write(f"e{i}\tX:{rng.randrange(nodes)}\tbiolink:p{rng.randrange(20)}"
                    f"\tX:{rng.randrange(nodes)}\tinfores:a\tknowledge_assertion"
                    "\tPMID:1|PMID:2\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_graph(folder, args.nodes, args.edges)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            kg = read_kgx_dataset(folder)
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"{kg.summary()}; seconds {[round(t, 2) for t in times]}, median {median:.2f}, "
          f"{len(kg.training) / median:,.0f} edges/s; torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
