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

from kgif._version import __version__
from kgif.cli._common import expand_config, finish_subparser, setup_logging

#: Sub-command modules, in the order ``--help`` lists them.
COMMANDS = ("split", "train", "evaluate", "predict", "explain", "convert", "report",
            "faithfulness", "drugmechdb", "workflow")


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available sub-command registered.

    Every sub-command gets :func:`~kgif.cli._common.finish_subparser`: prefix matching of
    flags off (``--output`` never means ``--output-dir``), defaults in ``--help`` and
    ``--config FILE``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m kgif", allow_abbrev=False,
        description="TracIn training-data influence for ConvE knowledge-graph embeddings.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    parser.add_argument("--version", action="version", version=f"kgif {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"kgif.cli.{name}")
        module.add_parser(subparsers)
    for sub in subparsers.choices.values():
        finish_subparser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code.

    A sub-command's ``--config FILE`` is expanded into flags first
    (:func:`kgif.cli._common.expand_config`); a bad file or setting exits 2 with one line.

    Logging goes through a tqdm-aware handler, on rank 0 only under ``torchrun``
    (:func:`kgif.cli._common.setup_logging`).
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = expand_config(parser, argv)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, KeyError, OSError) as error:  # OSError: a named unreadable/unwritable file
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2
