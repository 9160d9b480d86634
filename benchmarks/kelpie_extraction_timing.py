"""Time kgif's explanation extraction for Kelpie's end-to-end protocol (issue 21).

Usage:
    python benchmarks/kelpie_extraction_timing.py --original RUN_FOLDER [--dataset fb15k237]
        [--targets-file T.tsv | --targets 100 --seed 0] [--epochs 10 20 ...]
        [--all-slice 20000] [--write-targets T.tsv] [--output R.json] [--markdown R.md]

For every method of :data:`kgif.studies.kelpie.KELPIE_METHODS`, times
:func:`kgif.studies.kelpie.rank_candidates` (top 4 per target, one pass, no warm-up: this is
the cost a user pays once) for all targets:

- **head**: against each target's candidates, the training facts mentioning its head (the
  protocol's explanations);
- **all**: against every training fact; with ``--all-slice N`` only the first N training facts
  are scored and the time is scaled by n / N (streaming is linear in n,
  ``docs/benchmarks.md``), reported as an extrapolation.

``--epochs`` restricts the checkpoints (default: all in RUN_FOLDER/checkpoints); the cost is
linear in their number. Prints and writes the wall times, the candidate counts, the thread
count, torch version and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
from pathlib import Path

import torch

from kgif.data.datasets import load_dataset
from kgif.model.checkpoint import check_compatible, list_checkpoints, load_checkpoints
from kgif.studies.kelpie import (
    KELPIE_METHODS,
    MAX_FACTS,
    candidate_rows,
    rank1_targets,
    rank_candidates,
    read_targets,
    write_targets,
)


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", required=True, help="run folder with checkpoints/")
    parser.add_argument("--dataset", default="fb15k237")
    parser.add_argument("--targets-file", default=None)
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, nargs="+", default=None)
    parser.add_argument("--methods", nargs="+", default=list(KELPIE_METHODS),
                        choices=list(KELPIE_METHODS))
    parser.add_argument("--all-slice", type=int, default=None,
                        help="score only the first N training facts in the 'all' timing")
    parser.add_argument("--skip-all", action="store_true", help="time the head scope only")
    parser.add_argument("--write-targets", default=None)
    parser.add_argument("--output", default=None)
    parser.add_argument("--markdown", default=None)
    return parser.parse_args()


def _checkpoints(folder: Path, epochs: list[int] | None):
    paths = list_checkpoints(folder / "checkpoints")
    if epochs is not None:
        paths = [p for p in paths if int(re.findall(r"\d+", p.stem)[-1]) in set(epochs)]
        if len(paths) != len(set(epochs)):
            sys.exit(f"error: --epochs {epochs}: found only {[p.name for p in paths]}")
    return load_checkpoints(paths)


def main() -> int:
    args = _parse()
    kg = load_dataset(args.dataset)
    ckpts = _checkpoints(Path(args.original), args.epochs)
    check_compatible(ckpts, kg)
    start_load = _load()
    if args.targets_file:
        targets = read_targets(args.targets_file, kg)
    else:
        targets = rank1_targets(ckpts[-1], kg, args.targets, args.seed)
    if args.write_targets:
        write_targets(args.write_targets, kg, targets)
    head = candidate_rows(kg.training, targets, "head")
    n = len(kg.training)
    size = args.all_slice or n
    sliced = [torch.arange(min(size, n))] * len(targets)
    rows = []
    known = kg.all_triples()  # the rivals of tracin_margin are filtered with these
    for method in args.methods:
        ranking = rank_candidates(method, ckpts, kg.training, targets, head, MAX_FACTS, args.seed,
                                  known=known)
        row = {"method": method, "head_seconds": ranking.seconds}
        if not args.skip_all:
            scope = None if size >= n else sliced
            timed = rank_candidates(method, ckpts, kg.training, targets, scope, MAX_FACTS,
                                    args.seed, known=known)
            row["all_seconds"] = timed.seconds * n / min(size, n)
            row["all_measured_facts"] = min(size, n)
        rows.append(row)
        print(json.dumps(row), flush=True)
    union = len(torch.unique(torch.cat(head)))
    report = {
        "command": " ".join(["python", *sys.argv]), "torch": torch.__version__,
        "python": platform.python_version(), "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "load_before": start_load, "load_after": _load(),
        "checkpoints": [c.epoch for c in ckpts], "targets": len(targets),
        "training_facts": n, "head_candidates_total": sum(len(c) for c in head),
        "head_candidates_union": union, "rows": rows,
    }
    lines = [f"Kelpie extraction timing: {len(targets)} targets, checkpoints (epochs) "
             f"{report['checkpoints']}, {n} training facts; head candidates {union} distinct "
             f"({report['head_candidates_total']} target-fact pairs); torch {torch.__version__}, "
             f"{report['threads']} threads, load {start_load} -> {report['load_after']}", "",
             "| method | head candidates (s) | all training facts (s) |", "|---|---|---|"]
    for row in rows:
        extra = "" if row.get("all_measured_facts", n) == n else \
            f" (extrapolated from {row['all_measured_facts']} facts)"
        all_cell = f"{row['all_seconds']:.1f}{extra}" if "all_seconds" in row else "not run"
        lines.append(f"| {row['method']} | {row['head_seconds']:.1f} | {all_cell} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
