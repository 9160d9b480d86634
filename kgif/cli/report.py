"""``python -m kgif report OUTPUT_DIR``: run-level plots and a self-contained report.html."""

from __future__ import annotations

import argparse

from kgif.cli._common import check_output_file, non_negative_int, positive_int
from kgif.jobs.html_report import read_run, write_run_report


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
                        help="report file (default OUTPUT_DIR/report.html)")
    parser.add_argument("--top-relations", type=positive_int, default=20,
                        help="relations in the proponents-by-relation chart (default 20)")
    parser.add_argument("--top", type=positive_int, default=3,
                        help="proponent ranks 1..TOP form the top self-influence group "
                             "(default 3)")
    parser.add_argument("--detailed", type=non_negative_int, default=50,
                        help="the first DETAILED test triples get a section with their figure, "
                             "interactive network and influence table")
    parser.set_defaults(func=run)
    return parser


def _check_html(args: argparse.Namespace) -> None:
    """``--html`` must be an ``.html`` file path: never a file of the run (``run.json``, a
    per-triple JSON, a figure), never the run folder itself."""
    check_output_file("report", "--html", args.html, {"OUTPUT_DIR": args.output_dir},
                      suffixes=(".html",))


def run(args: argparse.Namespace) -> int:
    """Write the report; print its path."""
    _check_html(args)
    data = read_run(args.output_dir)
    path = write_run_report(args.output_dir, output=args.html, top_relations=args.top_relations,
                            top=args.top, data=data, detailed=args.detailed)
    print(f"wrote {path}")
    if data.pending:
        print(f"the run is not finished: {data.pending} of {data.total} test triples pending "
              f"(the report covers the {len(data.triples)} finished); run the same explain "
              "command again to resume it")
    return 0
