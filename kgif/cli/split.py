"""``python -m kgif split``: hold out one relation's edges of an all-training graph into
validation and test (:func:`kgif.data.split.split`) and write a dataset folder."""

from __future__ import annotations

import argparse

from kgif.cli._common import add_subparser, non_negative_int
from kgif.data.datasets import load_dataset
from kgif.data.split import SplitSettings, split, write_split


def fraction(text: str) -> float:
    """argparse type: a number in ``[0, 1)``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1), got {value}")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``split`` sub-command."""
    parser = add_subparser(
        subparsers, "split", help="hold out a relation's edges into validation and test",
        description="Move a seeded random fraction of one relation's training edges (e.g. "
                    "biolink:treats) of an all-training graph, such as a KGX export, into "
                    "validation and test, keeping every entity and relation in training, and "
                    "write train.txt, valid.txt, test.txt, entities.tsv and split.json to "
                    "--output-dir (read back by --dataset FOLDER).")
    parser.add_argument("--dataset", required=True,
                        help="dataset name or folder (a KGX folder with nodes.tsv/edges.tsv)")
    parser.add_argument("--relation", default=None,
                        help="the relation to hold out (label or id; default: all relations)")
    parser.add_argument("--valid", type=fraction, default=0.1,
                        help="fraction of the relation's edges for validation (default 0.1)")
    parser.add_argument("--test", type=fraction, default=0.1,
                        help="fraction of the relation's edges for test (default 0.1)")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="seed of the random order (default 0)")
    parser.add_argument("--output-dir", required=True, help="folder to write the split to")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the files of an earlier split in --output-dir")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``split``: print the sizes and the folder; returns 0."""
    kg = load_dataset(args.dataset)
    result = split(kg, args.relation, valid=args.valid, test=args.test, seed=args.seed)
    relation = None if args.relation is None else kg.relation_label(
        kg.resolve_relation(args.relation))
    n = len(kg.training) if relation is None else int(
        (kg.training[:, 1] == kg.relation_to_id[relation]).sum())
    settings = SplitSettings(relation, args.valid, args.test, args.seed, n)
    write_split(result, args.output_dir, settings=settings, overwrite=args.overwrite)
    print(f"{result.summary()}; held out of {relation or 'all relations'} ({n} edges), "
          f"seed {args.seed}")
    print(f"wrote train.txt, valid.txt, test.txt, entities.tsv and split.json to "
          f"{args.output_dir}; use --dataset {args.output_dir}")
    return 0
