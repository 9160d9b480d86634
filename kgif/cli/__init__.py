"""Command line: ``python -m kgif COMMAND ...`` (COMMAND: one of :data:`COMMANDS`).

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)``, which registers an :mod:`argparse` parser (through
:func:`kgif.cli._common.add_subparser`) whose ``func`` default is the function that runs the
command and returns the process exit code. Shared helpers live in :mod:`kgif.cli._common`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from kgif.cli._common import setup_logging

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("split", "train", "evaluate", "predict", "explain", "convert", "report", "faithfulness")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered.

    Prefix matching of flags is off on every parser (``--output`` never means
    ``--output-dir``), also for a sub-command that registered itself without
    :func:`~kgif.cli._common.add_subparser`.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kgif", allow_abbrev=False,
        description="TracIn training-data influence for ConvE knowledge-graph embeddings.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"kgif.cli.{name}")
        module.add_parser(subparsers)
    for sub in subparsers.choices.values():
        sub.allow_abbrev = False
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code.

    Logging goes through a tqdm-aware handler, on rank 0 only under ``torchrun``
    (:func:`kgif.cli._common.setup_logging`).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, OSError) as error:  # OSError: a named unreadable/unwritable file
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
