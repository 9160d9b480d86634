"""``python -m kgif explain``: placeholder until its issue lands."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``explain`` sub-command."""
    parser = subparsers.add_parser("explain", help="(not implemented yet)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    raise NotImplementedError("python -m kgif explain is not implemented yet")
