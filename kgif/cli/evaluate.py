"""``python -m kgif evaluate``: filtered rank metrics of a checkpoint, as a table and JSON."""

from __future__ import annotations

import argparse
import time

from kgif._environment import environment
from kgif._io import atomic_write_json
from kgif.cli._common import (
    add_subparser,
    check_device,
    check_output_file,
    load_graph_for,
    positive_int,
)
from kgif.evaluation.ranks import RANK_TYPES, SIDES, evaluate_all_sides
from kgif.model.checkpoint import load_checkpoint

COLUMNS = ("mrr", "mr", "hits@1", "hits@3", "hits@5", "hits@10")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``evaluate`` sub-command."""
    parser = add_subparser(
        subparsers, "evaluate", help="filtered MRR / MR / Hits@k of a checkpoint",
        description="Rank every triple of a split against all entities, filtered with train + "
                    "valid + test, and print realistic, optimistic and pessimistic metrics.")
    parser.add_argument("--checkpoint", required=True, help="a .pt/.safetensors checkpoint")
    parser.add_argument("--dataset", default=None,
                        help="dataset name or folder (default: the name stored in the "
                             "checkpoint's config.extra['dataset'])")
    parser.add_argument("--split", choices=("testing", "validation"), default="testing",
                        help="the dataset split to rank")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="queries scored at once")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    parser.add_argument("--output", default=None,
                        help="metrics JSON path (default: <checkpoint>.<split>.metrics.json)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=_run)


def format_metrics_table(by_side: dict[str, dict[str, float]], title: str = "") -> str:
    """A fixed-width table: one line per (side, rank type), columns MRR, MR, Hits@k; the
    type-constrained ranks (``typed ...`` rows) follow when ``by_side`` has them."""
    lines = [title] if title else []
    lines.append(f"{'side':<6}{'rank':<13}" + "".join(f"{c:>10}" for c in COLUMNS))
    for side in SIDES:
        if side not in by_side:
            continue
        for prefix, label in (("", ""), ("type_constrained.", "typed ")):
            for kind in RANK_TYPES:
                if f"{prefix}{kind}.mrr" not in by_side[side]:
                    continue
                values = "".join(f"{by_side[side][f'{prefix}{kind}.{c}']:>10.4f}"
                                 for c in COLUMNS)
                lines.append(f"{side:<6}{label + kind:<13}{values}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    output = args.output or f"{args.checkpoint}.{args.split}.metrics.json"
    check_output_file("evaluate", "--output", output, {"--checkpoint": args.checkpoint,
                                                       "--dataset": args.dataset})
    ckpt = load_checkpoint(args.checkpoint, map_location=check_device(args.device))
    kg = load_graph_for(ckpt, args.dataset, "evaluate", args.checkpoint)
    start = time.perf_counter()
    by_side = evaluate_all_sides(ckpt.params, ckpt.buffers, ckpt.config, getattr(kg, args.split),
                                 kg.all_triples(), batch_size=args.batch_size,
                                 type_constraints=kg.type_constraints() if kg.entity_kinds
                                 else None,
                                 show_progress=not args.no_progress)
    seconds = time.perf_counter() - start
    print(format_metrics_table(by_side, f"{kg.name or args.dataset} {args.split} (filtered, "
                                        f"{len(getattr(kg, args.split))} triples, epoch "
                                        f"{ckpt.epoch}, {seconds:.1f} s)"))
    atomic_write_json(output, {**environment(args.device), "checkpoint": str(args.checkpoint),
                        "dataset": kg.name, "split": args.split, "epoch": ckpt.epoch,
                        "seconds": seconds, "metrics": by_side})
    print(f"metrics written to {output}")
    return 0
