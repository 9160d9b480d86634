"""``python -m kgif report OUTPUT_DIR``: run-level plots and a self-contained report.html."""

from __future__ import annotations

import argparse

from kgif.jobs.html_report import write_run_report


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``report`` sub-command."""
    parser = subparsers.add_parser(
        "report", help="plots and report.html for a batch explain --output-dir",
        description="Read the per-triple JSON files of a batch explain run and write "
                    "influence_distribution.png, proponents_by_relation.png, "
                    "self_influence.png and report.html (figures embedded, no network access "
                    "needed) into OUTPUT_DIR.")
    parser.add_argument("output_dir", metavar="OUTPUT_DIR", help="a batch explain --output-dir")
    parser.add_argument("--html", default=None,
                        help="report file (default: OUTPUT_DIR/report.html)")
    parser.add_argument("--top-relations", type=int, default=20,
                        help="relations in the proponents-by-relation chart")
    parser.add_argument("--top", type=int, default=3,
                        help="proponent ranks 1..TOP form the top self-influence group")
    parser.add_argument("--detailed", type=int, default=50,
                        help="the first DETAILED test triples get a section with their figure, "
                             "interactive network and influence table")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path."""
    for flag, value in (("--top-relations", args.top_relations), ("--top", args.top)):
        if value < 1:
            raise ValueError(f"report: {flag}={value} must be at least 1")
    if args.detailed < 0:
        raise ValueError(f"report: --detailed={args.detailed} must be at least 0")
    path = write_run_report(args.output_dir, output=args.html, top_relations=args.top_relations,
                            top=args.top, detailed=args.detailed)
    print(f"wrote {path}")
    return 0
