"""``python -m kgif explain``: TracIn proponents and opponents of test triples, with names."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import torch

from kgif.checkpoint import load_checkpoints
from kgif.data import KnowledgeGraph, load_dataset, read_label_triples
from kgif.loss import OBJECTIVES
from kgif.report import explain, format_explanation, write_csv, write_json
from kgif.tracin import TracIn

logger = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``explain`` sub-command."""
    parser = subparsers.add_parser(
        "explain", help="explain predictions by TracIn influence of training edges",
        description="Top proponents and opponents (TracInCP, Pruthi et al. 2020) of test "
                    "triples among the training edges, over a folder of checkpoints.")
    parser.add_argument("--checkpoints", required=True, nargs="+",
                        help="a folder of checkpoints (e.g. runs/umls/checkpoints) or files")
    parser.add_argument("--dataset", help="dataset name or folder (default: from the checkpoint)")
    which = parser.add_argument_group("test triples (labels or ids; combine freely)")
    which.add_argument("--test-triple", nargs=3, action="append", default=[],
                       metavar=("HEAD", "RELATION", "TAIL"))
    which.add_argument("--test-file", help="TSV of head<TAB>relation<TAB>tail labels")
    which.add_argument("--test-relation",
                       help="take the test-split triples of this relation (e.g. treats)")
    which.add_argument("--limit", type=int, default=None,
                       help="at most this many triples from --test-relation")
    parser.add_argument("--top-k", type=int, default=10, help="proponents and opponents each")
    parser.add_argument("--train-objective", default="score", choices=sorted(OBJECTIVES))
    parser.add_argument("--test-objective", default="score", choices=sorted(OBJECTIVES))
    parser.add_argument("--parameters", nargs="+", default=None,
                        help="parameter subset: names or groups (embeddings, conv, fc)")
    parser.add_argument("--method", choices=("structured", "generic"), default="structured")
    parser.add_argument("--batch-size", type=int, default=256, help="training edges per batch")
    parser.add_argument("--compile", action="store_true", help="torch.compile the kernel")
    parser.add_argument("--no-self-influence", action="store_true")
    parser.add_argument("--device", default=None, help="e.g. cuda (default: cpu)")
    parser.add_argument("--output-dir", default=None,
                        help="write explanations.json and explanations.csv here")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def _test_triples(args: argparse.Namespace, kg: KnowledgeGraph) -> torch.Tensor:
    rows = [tuple(row) for row in args.test_triple]
    if args.test_file:
        rows += read_label_triples(args.test_file)
    triples = [kg.resolve_triples(rows)] if rows else []
    if args.test_relation:
        r = kg.resolve_relation(args.test_relation)
        chosen = kg.testing[kg.testing[:, 1] == r][: args.limit]
        if not len(chosen):
            raise ValueError(f"explain: no test-split triples with relation {args.test_relation!r}")
        triples.append(chosen)
    if not triples:
        raise ValueError("explain: give --test-triple, --test-file or --test-relation")
    return torch.cat(triples)


def _dataset(args: argparse.Namespace, checkpoints) -> KnowledgeGraph:
    name = args.dataset or checkpoints[-1].config.extra.get("dataset")
    if not name:
        raise ValueError("explain: the checkpoints name no dataset; pass --dataset")
    kg = load_dataset(name)
    if checkpoints[-1].entity_to_id and checkpoints[-1].entity_to_id != kg.entity_to_id:
        raise ValueError(f"explain: the entity ids of dataset {name!r} differ from the "
                         "checkpoints'; pass the dataset the model was trained on")
    return kg


def run(args: argparse.Namespace) -> int:
    """Run ``explain``; prints one block per test triple, returns 0."""
    sources = args.checkpoints[0] if len(args.checkpoints) == 1 else args.checkpoints
    checkpoints = load_checkpoints(sources)
    kg = _dataset(args, checkpoints)
    test = _test_triples(args, kg)
    tracin = TracIn(checkpoints, kg.training, train_objective=args.train_objective,
                    test_objective=args.test_objective, parameters=args.parameters,
                    method=args.method, batch_size=args.batch_size, compile=args.compile,
                    device=args.device, show_progress=not args.no_progress)
    print(f"TracInCP over {len(checkpoints)} checkpoints (learning rates "
          f"{[c.learning_rate for c in checkpoints]}), {len(kg.training)} training edges, "
          f"{len(test)} test triples; objectives train={args.train_objective} "
          f"test={args.test_objective}")
    explanations = explain(tracin, test, args.top_k,
                           self_influence=not args.no_self_influence)
    for ex in explanations:
        print()
        print(format_explanation(ex, kg))
    if args.output_dir:
        out = Path(args.output_dir)
        metadata = {"checkpoints": [str(p) for p in args.checkpoints],
                    "learning_rates": [c.learning_rate for c in checkpoints],
                    "epochs": [c.epoch for c in checkpoints],
                    "train_objective": args.train_objective,
                    "test_objective": args.test_objective,
                    "parameters": list(tracin.names), "top_k": args.top_k}
        write_json(out / "explanations.json", explanations, kg, metadata)
        write_csv(out / "explanations.csv", explanations, kg)
        print(f"\nwrote {out / 'explanations.json'} and {out / 'explanations.csv'}")
    return 0
