"""``python -m kgif drugmechdb``: do a run's explanations point at DrugMechDB's mechanisms?

Ranks all training edges for each held-out pair that DrugMechDB covers (the bundled Hetionet
mapping, or ``--mechanisms FILE``) by every ranking of the benchmark (kgif's TracIn variants,
the mechanism view, and the random, 1-hop, endpoint-degree, path-count and similarity
baselines) and prints the supporting edges' MRR, MAP, Hits@10/100, Recall@100 and the
DrugMechDB path hit rate, with bootstrap intervals and paired tests
(:mod:`kgif.studies.drugmechdb_run`; docs/hetionet.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kgif._environment import environment
from kgif._io import atomic_write_json, atomic_write_text, check_writable_folder
from kgif.cli._common import add_subparser, check_output_file, positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``drugmechdb`` sub-command."""
    from kgif.data.drugmechdb import DRUGMECHDB_SPLITS
    from kgif.studies.drugmechdb import EDGE_RANKINGS
    from kgif.studies.drugmechdb_run import SCORE_PASSES

    parser = add_subparser(
        subparsers, "drugmechdb", help="rank training edges against DrugMechDB's curated "
                                       "mechanism paths",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("--checkpoints", required=True, help="checkpoint folder of one run")
    parser.add_argument("--dataset", default="hetionet", help="dataset name or folder")
    parser.add_argument("--mechanisms", default=None,
                        help="DrugMechDB supporting-edge TSV (default: the bundled Hetionet "
                             "mapping; kgif.data.drugmechdb.COLUMNS)")
    parser.add_argument("--splits", nargs="+", choices=DRUGMECHDB_SPLITS, default=["test"],
                        help="pairs whose drug-disease edge lies in these splits")
    parser.add_argument("--cache-dir", required=True,
                        help="score passes and paths are cached here (reruns add methods)")
    parser.add_argument("--methods", nargs="*", choices=SCORE_PASSES, default=[],
                        help="extra score passes beside TracInCP")
    parser.add_argument("--rankings", nargs="+", choices=list(EDGE_RANKINGS), default=None,
                        metavar="RANKING", help="report only these rankings (default: all "
                                                "whose scores exist)")
    parser.add_argument("--reference", choices=list(EDGE_RANKINGS), default="mechanism_mean",
                        metavar="RANKING", help="the ranking the paired tests compare with")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="the first N pairs only")
    parser.add_argument("--max-paths", type=positive_int, default=2_000_000,
                        help="head-tail paths kept per pair")
    parser.add_argument("--batch-size", type=positive_int, default=512,
                        help="training edges per TracIn batch")
    parser.add_argument("--draws", type=positive_int, default=100,
                        help="random orders averaged by the random baselines")
    parser.add_argument("--output", required=True, help="result JSON")
    parser.add_argument("--markdown", default=None, help="also write the report as Markdown")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from kgif.data.datasets import load_dataset
    from kgif.data.drugmechdb import read_drugmechdb
    from kgif.model.checkpoint import check_compatible, list_checkpoints, load_checkpoints
    from kgif.studies.drugmechdb_run import markdown, run_drugmechdb

    inputs = {"--checkpoints": args.checkpoints, "--mechanisms": args.mechanisms}
    check_output_file("drugmechdb", "--output", args.output, inputs, suffixes=(".json",))
    check_output_file("drugmechdb", "--markdown", args.markdown,
                      {**inputs, "--output": args.output}, suffixes=(".md",))
    check_writable_folder(args.cache_dir, "drugmechdb: --cache-dir")
    files = list_checkpoints(args.checkpoints)
    checkpoints = load_checkpoints(files)
    kg = load_dataset(args.dataset)
    check_compatible(checkpoints, kg)
    mechanisms = read_drugmechdb(kg, args.mechanisms, splits=args.splits)[: args.limit]
    if not mechanisms:
        raise ValueError(f"drugmechdb: no pair of splits {args.splits} in "
                         f"{args.mechanisms or 'the bundled DrugMechDB mapping'}")
    relations = {m.triple[1] for m in mechanisms}
    if len(relations) > 1:
        raise ValueError(f"drugmechdb: the pairs have {len(relations)} relations "
                         f"({sorted(kg.relation_label(r) for r in relations)}); one expected")
    result = run_drugmechdb(kg, checkpoints, mechanisms, args.cache_dir, methods=args.methods,
                            rankings=args.rankings, reference=args.reference,
                            max_paths=args.max_paths, batch_size=args.batch_size,
                            draws=args.draws, log=lambda line: print(line, flush=True))
    record = environment("cpu")
    result = {"command": record["command"], "checkpoints": str(args.checkpoints), **result,
              "environment": record}
    atomic_write_json(args.output, result)
    text = markdown(result)
    if args.markdown:
        atomic_write_text(Path(args.markdown), text)
    print(text)
    return 0
