"""Command line: ``python -m kgif {train,evaluate,explain,convert} ...``.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers an :mod:`argparse` parser whose ``func`` default
is the function that runs the command and returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("train", "evaluate", "explain", "convert", "report")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="python -m kgif",
        description="TracIn training-data influence for ConvE knowledge-graph embeddings.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"kgif.cli.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, FileNotFoundError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
