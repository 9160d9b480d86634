"""Hetionet ground truth: do kgif's TracIn rankings put the metapath edges first?

For every held-out ``compound TREATS_CtD disease`` test edge, the supporting edges are the
training edges on the CbGaD, CrCtD and CtDrD metapaths (Himmelstein et al., eLife 2017,
figure 4; :func:`kgif.studies.groundtruth.metapath_edges`). TracIn (kgif's default: score objective,
all checkpoints, all parameters) scores all training edges; the script reports MRR, MAP,
Hits@k and Recall@k of the supporting edges against random rankings and the 1-hop candidate
filter, with bootstrap intervals and sign-flip tests over test edges.

    python benchmarks/hetionet_groundtruth.py --checkpoints runs/hetionet/checkpoints \
        --output benchmarks/results-cpu-hetionet-groundtruth.json \
        --markdown benchmarks/results-cpu-hetionet-groundtruth.md
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from kgif._environment import cpu_model
from kgif.data.datasets import load_dataset
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import check_compatible, load_checkpoints
from kgif.studies.groundtruth import (
    HETIONET_METAPATHS,
    ground_truth_report,
    metapath_edges,
    write_ground_truth,
)

METRICS = ("rr", "ap", "hits@10", "hits@100", "recall@100", "recall@1000")
LABELS = {"tracin": "kgif TracIn (all edges)", "tracin_khop": "TracIn, 1-hop candidates first",
          "khop": "1-hop filter (random order)", "random": "random ranking"}


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder of one run")
    parser.add_argument("--dataset", default="hetionet")
    parser.add_argument("--limit", type=int, default=None, help="first N test edges only")
    parser.add_argument("--last", type=int, default=None,
                        help="TracInCP over the last N checkpoints only (default: all)")
    parser.add_argument("--hops", type=int, default=1, help="k of the k-hop candidate filter")
    parser.add_argument("--draws", type=int, default=100, help="random rankings per test edge")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--output", required=True, help="JSON results")
    parser.add_argument("--markdown", required=True, help="Markdown table")
    parser.add_argument("--ground-truth-tsv", default=None,
                        help="also write the ground truth as a TSV here")
    return parser.parse_args(argv)


def _cell(entry: dict) -> str:
    return f"{entry['mean']:.4f} [{entry['low']:.4f}, {entry['high']:.4f}]"


def markdown(report: dict, meta: dict) -> str:
    lines = [f"# Hetionet metapath ground truth ({meta['n_test']} TREATS_CtD test edges, "
             f"{report['skipped']} without metapath edges skipped)", "",
             f"- command: `{meta['command']}`", f"- checkpoints: `{meta['checkpoints']}` "
             f"(epochs {meta['epochs']})", f"- {meta['device']}, torch {meta['torch']}, "
             f"load average before {meta['load_before']}, after {meta['load_after']}",
             f"- TracIn over {meta['n_train']:,} training edges: {meta['tracin_seconds']:.0f} s; "
             f"whole script {meta['seconds']:.0f} s, peak RSS {meta['peak_rss_mib']:.0f} MiB",
             f"- supporting edges per test edge: median {meta['median_supporting']}, "
             f"max {meta['max_supporting']}", "",
             "| ranking | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for method, values in report["overall"].items():
        lines.append(f"| {LABELS[method]} | " + " | ".join(_cell(values[m]) for m in METRICS)
                     + " |")
    lines += ["", "Paired over test edges, TracIn minus baseline (95% bootstrap CI, sign-flip p):",
              "", "| baseline | " + " | ".join(METRICS) + " |", "|---|" + "---|" * len(METRICS)]
    for base, values in report["versus"].items():
        lines.append(f"| {LABELS[base]} | " + " | ".join(
            f"{values[m]['diff']:+.4f} [{values[m]['low']:+.4f}, {values[m]['high']:+.4f}], "
            f"p = {values[m]['p']:.2g}" for m in METRICS) + " |")
    return "\n".join(lines) + "\n"


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv=None) -> int:
    args = parse(argv)
    start, load_before = time.perf_counter(), os.getloadavg()
    kg = load_dataset(args.dataset)
    treats = kg.relation_to_id["TREATS_CtD"]
    test = kg.testing[kg.testing[:, 1] == treats][: args.limit]
    edges = metapath_edges(kg, test, HETIONET_METAPATHS)
    if args.ground_truth_tsv:
        write_ground_truth(args.ground_truth_tsv, kg, test, edges)
    ckpts = load_checkpoints(args.checkpoints)[-args.last if args.last else 0:]
    check_compatible(ckpts, kg)
    tracin = TracIn(ckpts, kg.training, batch_size=args.batch_size, show_progress=False)
    t0 = time.perf_counter()
    scores = tracin.influence(test)
    tracin_seconds = time.perf_counter() - t0
    candidates = candidate_edges_batch(Adjacency.from_triples(kg.training, kg.num_entities),
                                       test, k=args.hops)
    report = ground_truth_report(scores, edges, candidates, draws=args.draws)
    sizes = sorted(len(e) for e in edges)
    meta = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
            "checkpoints": str(args.checkpoints), "epochs": [c.epoch for c in ckpts],
            "n_test": len(test), "n_train": len(kg.training), "tracin_seconds": tracin_seconds,
            "seconds": time.perf_counter() - start, "peak_rss_mib": _peak_rss_mib(),
            "device": f"{cpu_model()} CPU, "
                      f"{os.cpu_count()} cores, {torch.get_num_threads()} threads",
            "torch": torch.__version__, "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
            "median_supporting": sizes[len(sizes) // 2], "max_supporting": sizes[-1],
            "metapaths": HETIONET_METAPATHS}
    names = {i: e for e, i in kg.entity_to_id.items()}
    for entry in report["per_triple"]:
        h, _, t = test[entry["index"]].tolist()
        entry["test_edge"] = [kg.entity_names.get(h, names[h]), "TREATS_CtD",
                              kg.entity_names.get(t, names[t])]
    Path(args.output).write_text(json.dumps({**meta, **report}, indent=1) + "\n")
    Path(args.markdown).write_text(markdown(report, meta))
    print(markdown(report, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
