"""``python -m kgif workflow --output-dir DIR``: write the Snakemake workflow shipped with kgif.

Writes ``Snakefile`` and ``config.yaml`` (package data under ``kgif/workflow/``) into DIR;
``cd DIR && snakemake --cores N`` then runs [split ->] train -> predict -> explain (one job
per chunk of test triples) -> report from that one config file (docs/workflow.md).
"""

from __future__ import annotations

import argparse
from importlib.resources import files
from pathlib import Path

from kgif._io import atomic_write_text
from kgif.cli._common import add_subparser

#: The files of the workflow, read from the package (``kgif/workflow/``).
WORKFLOW_FILES = ("Snakefile", "config.yaml")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``workflow`` sub-command."""
    parser = add_subparser(
        subparsers, "workflow", help="write the Snakemake workflow (Snakefile, config.yaml)",
        description="Write Snakefile and config.yaml (package data under kgif/workflow/) into "
                    "OUTPUT_DIR; `cd OUTPUT_DIR && snakemake --cores N` then runs [split ->] "
                    "train -> predict -> explain (one job per chunk of test triples) -> report "
                    "from that one config file (docs/workflow.md).")
    parser.add_argument("--output-dir", required=True,
                        help="folder to write Snakefile and config.yaml into (created if "
                             "missing)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a Snakefile or config.yaml already in OUTPUT_DIR (without "
                             "it they are refused, so an edited config is never lost)")
    parser.set_defaults(func=run)


def write_workflow(output_dir: str | Path, overwrite: bool = False) -> list[Path]:
    """Copy the workflow files into ``output_dir``.

    Returns:
        The written paths.

    Raises:
        FileExistsError: a file is already there and ``overwrite`` is false (nothing written).
    """
    out = Path(output_dir)
    targets = [out / name for name in WORKFLOW_FILES]
    present = [str(p) for p in targets if p.exists()]
    if present and not overwrite:
        raise FileExistsError(f"workflow: {', '.join(present)} already exist; pass --overwrite "
                              "to replace them")
    out.mkdir(parents=True, exist_ok=True)
    for target in targets:
        text = (files("kgif") / "workflow" / target.name).read_text(encoding="utf-8")
        atomic_write_text(target, text)
    return targets


def run(args: argparse.Namespace) -> int:
    """Write the workflow; print what to run next."""
    written = write_workflow(args.output_dir, args.overwrite)
    print("\n".join(f"wrote {p}" for p in written))
    print(f"next: edit {written[1]}, then: cd {args.output_dir} && snakemake --cores 4")
    return 0
