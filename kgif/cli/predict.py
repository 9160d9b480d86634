"""``python -m kgif predict``: the top-k new tails of ``(h, r, ?)`` or heads of ``(?, r, t)``."""

from __future__ import annotations

import argparse

from kgif._environment import environment
from kgif.cli._common import (
    add_subparser,
    check_device,
    check_output_file,
    load_graph_for,
    positive_int,
)
from kgif.data.graph import KnowledgeGraph
from kgif.evaluation.predict import Query, make_query, predict_batch, read_queries
from kgif.explanation.tables import format_predictions, write_predictions
from kgif.model.checkpoint import Checkpoint, load_checkpoint


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``predict`` sub-command."""
    parser = add_subparser(
        subparsers, "predict", help="top-k predicted tails (h, r, ?) or heads (?, r, t) with names",
        description="Rank all entities as answers of link-prediction queries with a ConvE "
                    "checkpoint (eval mode); known edges (train/valid/test) filtered out and "
                    "answers restricted to the relation's range/domain kinds by default.")
    parser.add_argument("--checkpoint", required=True, help="a .pt/.safetensors checkpoint")
    parser.add_argument("--dataset", default=None,
                        help="dataset name or folder (default: the checkpoint's dataset)")
    query = parser.add_argument_group(
        "queries (labels, ids or unique display names, case-insensitive)")
    query.add_argument("--relation", help="the relation of a --head or --tail query")
    query.add_argument("--head", help="predict tails of (HEAD, RELATION, ?)")
    query.add_argument("--tail", help="predict heads of (?, RELATION, TAIL)")
    query.add_argument("--file", help="many queries: one head<TAB>relation<TAB>tail line each, "
                                      "with ? on the side to predict; # starts a comment")
    parser.add_argument("--top-k", type=positive_int, default=20, help="answers per query")
    parser.add_argument("--keep-known", action="store_true",
                        help="keep answers already in train/valid/test (marked known)")
    parser.add_argument("--no-type-constraint", action="store_true",
                        help="rank every entity, not only those of the relation's kinds")
    parser.add_argument("--output", default=None,
                        help="also write the predictions to FILE.json or FILE.csv")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="queries scored at once")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--quiet", action="store_true", help="do not print the table")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run)


def _dataset(args: argparse.Namespace, ckpt: Checkpoint) -> KnowledgeGraph:
    """Load the dataset named by ``--dataset`` or the checkpoint, refusing mismatched ids and
    sizes (:func:`kgif.cli._common.load_graph_for`)."""
    return load_graph_for(ckpt, args.dataset, "predict", args.checkpoint)


def _queries(args: argparse.Namespace, kg: KnowledgeGraph) -> list[Query]:
    queries = []
    if args.head is not None or args.tail is not None:
        if args.relation is None:
            raise ValueError("predict: --head/--tail need --relation")
        if args.head is not None and args.tail is not None:
            raise ValueError("predict: give --head (predict tails) or --tail (predict heads), "
                             "not both; to explain a given triple use `kgif explain`")
        queries.append(make_query(kg, args.head, args.relation, args.tail))
    elif args.relation is not None:
        raise ValueError("predict: --relation needs --head or --tail")
    if args.file:
        queries += read_queries(args.file, kg)
    if not queries:
        raise ValueError("predict: give --head or --tail with --relation, or --file")
    return queries


def run(args: argparse.Namespace) -> int:
    """Run ``predict``: print a table per query, optionally write JSON/CSV; returns 0."""
    check_output_file("predict", "--output", args.output,
                      {"--checkpoint": args.checkpoint, "--file": args.file},
                      suffixes=(".json", ".csv"))
    ckpt = load_checkpoint(args.checkpoint, map_location=check_device(args.device))
    kg = _dataset(args, ckpt)
    queries = _queries(args, kg)
    rows = predict_batch(ckpt, kg, queries, args.top_k, filter_known=not args.keep_known,
                         type_constrained=not args.no_type_constraint,
                         batch_size=args.batch_size, show_progress=not args.no_progress)
    if not args.quiet:
        print(format_predictions(rows))
    if args.output:
        metadata = {**environment(args.device), "checkpoint": str(args.checkpoint),
                    "epoch": ckpt.epoch, "dataset": kg.name, "num_entities": kg.num_entities,
                    "graph_fingerprint": kg.fingerprint,
                    "top_k": args.top_k, "filter_known": not args.keep_known,
                    "type_constrained": not args.no_type_constraint,
                    "queries": [q.describe(kg) for q in queries]}
        write_predictions(args.output, rows, metadata)
        print(f"wrote {len(rows)} predictions of {len(queries)} queries to {args.output}")
    return 0
