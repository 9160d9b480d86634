"""``python -m kgif faithfulness``: deletion-retraining faithfulness of attribution methods.

Trains ConvE on a dataset (the *original* run), picks well-ranked test triples, deletes the
top-k edges each attribution method names for each target, retrains from scratch with the same
seed and configuration, and prints the change of the targets' MRR, logit and rank per method
with bootstrap intervals and paired tests against the baselines (:mod:`kgif.studies.faithfulness`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kgif.cli._common import (
    add_subparser,
    check_output_file,
    environment,
    non_negative_int,
    positive_float,
    positive_int,
    rank_bound,
    write_json,
)

#: Small, fast defaults: a UMLS/Kinships retraining takes seconds on one CPU thread.
DEFAULTS = dict(embedding_dim=32, output_channels=8, epochs=30, learning_rate=0.01,
                checkpoint_every=10)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``faithfulness`` sub-command."""
    from kgif.studies.faithfulness import METHODS

    parser = add_subparser(
        subparsers, "faithfulness", help="delete the edges an explanation names, retrain, "
                                         "measure the target",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("--dataset", required=True, help="dataset name or folder")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                        metavar="METHOD", help=f"attribution methods ({', '.join(METHODS)})")
    parser.add_argument("--k", nargs="+", type=positive_int, default=[10],
                        help="edges deleted per target (several allowed)")
    parser.add_argument("--targets", type=positive_int, default=16, help="target test triples")
    parser.add_argument("--max-rank", type=rank_bound, default=3.0,
                        help="targets have realistic filtered tail rank <= this")
    parser.add_argument("--group-size", type=positive_int, default=1,
                        help="targets deleted together per retraining (1: per-target)")
    parser.add_argument("--protocol", choices=["stable", "reshuffle"], default="stable",
                        help="stable (default): retrain over the original run's rows, order "
                             "and batches, so the deletion is the only change; reshuffle: a "
                             "plain new run on the reduced graph")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="parallel retraining processes, one thread each")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="training, targets, baselines")
    parser.add_argument("--embedding-dim", type=positive_int, default=DEFAULTS["embedding_dim"])
    parser.add_argument("--output-channels", type=positive_int,
                        default=DEFAULTS["output_channels"])
    parser.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"])
    parser.add_argument("--learning-rate", type=positive_float, default=DEFAULTS["learning_rate"])
    parser.add_argument("--checkpoint-every", type=positive_int,
                        default=DEFAULTS["checkpoint_every"],
                        help="TracInCP checkpoints of the original run every k epochs")
    parser.add_argument("--output", default=None, help="write the results as JSON here")
    parser.add_argument("--markdown", default=None, help="write the tables as Markdown here")
    parser.set_defaults(func=_run)


def configs(args: argparse.Namespace):
    """(ConvEConfig, TrainingConfig) of the original run and every retraining."""
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig

    return (ConvEConfig(embedding_dim=args.embedding_dim, output_channels=args.output_channels),
            TrainingConfig(epochs=args.epochs, learning_rate=args.learning_rate,
                           checkpoint_every=args.checkpoint_every, eval_every=0,
                           seed=args.seed))


def _run(args: argparse.Namespace) -> int:
    from kgif.data.datasets import load_dataset
    from kgif.studies.faithfulness import markdown_table, result_json, run_faithfulness, summarize

    check_output_file("faithfulness", "--output", args.output, suffixes=(".json",))
    check_output_file("faithfulness", "--markdown", args.markdown,
                      {"--output": args.output})
    kg = load_dataset(args.dataset)
    config, tc = configs(args)
    result = run_faithfulness(kg, config, tc, methods=args.methods, ks=args.k,
                              n_targets=args.targets, max_rank=args.max_rank,
                              group_size=args.group_size, protocol=args.protocol,
                              workers=args.workers, seed=args.seed)
    rows = summarize(result)
    title = (f"{kg.name or args.dataset} (original model: filtered tail MRR "
             f"{result.test_mrr:.3f} on the test split): {len(result.targets)} targets, "
             f"{result.retrains} retrainings, group size {result.group_size}, "
             f"{result.protocol} protocol, "
             f"{result.seconds:.0f} s, torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads")
    text = "\n".join(f"### k = {k}\n\n{markdown_table(rows, k)}" for k in args.k)
    print(title + "\n\n" + text)
    if args.output:
        write_json(args.output, {**environment(), "dataset": kg.name, "config": config.to_dict(),
                                 "training_config": vars(tc), "args": {
                                     k: v for k, v in vars(args).items() if k != "func"},
                                 **result_json(result, rows)})
        print(f"written {args.output}")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(f"{title}\n\n{text}")
        print(f"written {args.markdown}")
    return 0
