"""``python -m kgif faithfulness``: deletion-retraining faithfulness of attribution methods.

Trains ConvE on a dataset (the *original* run), picks well-ranked test triples, deletes the
top-k edges each attribution method names for each target, retrains from scratch with the same
seed and configuration, and prints the change of the targets' MRR, logit and rank per method
with bootstrap intervals and paired tests against the baselines (:mod:`kgif.studies.faithfulness`).

``--protocol kelpie`` runs Kelpie's end-to-end necessary protocol instead on an existing
original run (``--original``): rank-1 targets, explanations among the facts mentioning the
head, one cached, resumable retraining per (method, k) (:mod:`kgif.studies.kelpie`).
"""

from __future__ import annotations

import argparse

import torch

from kgif._environment import environment
from kgif._io import atomic_write_json, atomic_write_text
from kgif.cli._common import (
    add_subparser,
    check_output_file,
    non_negative_int,
    positive_float,
    positive_int,
    rank_bound,
)

#: Small, fast defaults: a UMLS/Kinships retraining takes seconds on one CPU thread.
DEFAULTS = dict(embedding_dim=32, output_channels=8, epochs=30, learning_rate=0.01,
                checkpoint_every=10)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``faithfulness`` sub-command."""
    from kgif.studies.faithfulness import METHODS
    from kgif.studies.kelpie import KELPIE_METHODS

    parser = add_subparser(
        subparsers, "faithfulness", help="delete the edges an explanation names, retrain, "
                                         "measure the target",
        description=__doc__.split("\n\n")[1])
    parser.add_argument("--dataset", required=True, help="dataset name or folder")
    parser.add_argument("--methods", nargs="+", default=None,
                        choices=list(dict.fromkeys([*METHODS, *KELPIE_METHODS])),
                        metavar="METHOD", help=f"attribution methods ({', '.join(METHODS)}; "
                                               "default: all; kelpie: "
                                               f"{', '.join(KELPIE_METHODS)})")
    parser.add_argument("--k", nargs="+", type=positive_int, default=None,
                        help="edges deleted per target (several allowed; default 10, kelpie 1)")
    parser.add_argument("--targets", type=positive_int, default=None,
                        help="target test triples (default 16, kelpie 100)")
    parser.add_argument("--max-rank", type=rank_bound, default=3.0,
                        help="targets have realistic filtered tail rank <= this")
    parser.add_argument("--group-size", type=positive_int, default=1,
                        help="targets deleted together per retraining (1: per-target)")
    parser.add_argument("--protocol", choices=["stable", "reshuffle", "kelpie"],
                        default="stable",
                        help="stable: retrain over the original run's rows, order "
                             "and batches, so the deletion is the only change; reshuffle: a "
                             "plain new run on the reduced graph; kelpie: Kelpie's end-to-end "
                             "necessary protocol on --original (flags below)")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="parallel retraining processes, one thread each")
    parser.add_argument("--seed", type=non_negative_int, default=0,
                        help="training, targets, baselines")
    parser.add_argument("--embedding-dim", type=positive_int, default=DEFAULTS["embedding_dim"],
                        help="ConvE embedding dimension d of the retrained models")
    parser.add_argument("--output-channels", type=positive_int,
                        default=DEFAULTS["output_channels"],
                        help="ConvE convolution filters of the retrained models")
    parser.add_argument("--epochs", type=positive_int, default=DEFAULTS["epochs"],
                        help="training epochs of the original run and of each retraining")
    parser.add_argument("--learning-rate", type=positive_float, default=DEFAULTS["learning_rate"],
                        help="Adam step size of every run")
    parser.add_argument("--checkpoint-every", type=positive_int,
                        default=DEFAULTS["checkpoint_every"],
                        help="TracInCP checkpoints of the original run every k epochs "
                             "(kelpie: resume checkpoints of each retraining)")
    kelpie = parser.add_argument_group("--protocol kelpie")
    kelpie.add_argument("--original", default=None,
                        help="the original run's folder (checkpoints/, metrics.json of "
                             "python -m kgif train)")
    kelpie.add_argument("--targets-file", default=None,
                        help="label TSV of target test facts (default: --targets rank-1 test "
                             "facts drawn with --seed)")
    kelpie.add_argument("--write-targets", default=None, help="write the targets here (TSV)")
    kelpie.add_argument("--budget", type=positive_int, default=None,
                        help="also spend this many facts in total over the targets")
    kelpie.add_argument("--candidates", choices=["head", "all"], default="head",
                        help="head (default, Kelpie): training facts mentioning h; all")
    kelpie.add_argument("--cache-dir", default=None,
                        help="retraining and ranking cache (default: ORIGINAL/kelpie-cache)")
    kelpie.add_argument("--retraining", choices=["reshuffle", "stable"], default="reshuffle",
                        help="reshuffle (default, Kelpie's): a plain new run on the reduced "
                             "graph; stable: the original run's rows, order and batches")
    kelpie.add_argument("--threads", type=positive_int, default=1,
                        help="CPU threads of every retraining (default 1, as the original)")
    kelpie.add_argument("--noise-seeds", nargs="+", type=int, default=[],
                        help="training seeds of extra null retrainings (retraining noise)")
    kelpie.add_argument("--jobs", nargs="+", default=None,
                        help="retrain only these jobs now (e.g. tracin@1 null); the others "
                             "are reported with their cache status")
    kelpie.add_argument("--no-retrain", action="store_true",
                        help="extract the explanations and report; train nothing")
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
    from kgif.cli._kelpie import run_kelpie_cli
    from kgif.data.datasets import load_dataset
    from kgif.studies.faithfulness import (
        METHODS,
        markdown_table,
        result_json,
        run_faithfulness,
        summarize,
    )

    check_output_file("faithfulness", "--output", args.output, suffixes=(".json",))
    check_output_file("faithfulness", "--markdown", args.markdown,
                      {"--output": args.output})
    if args.protocol == "kelpie":
        return run_kelpie_cli(args)
    args.methods = args.methods or list(METHODS)
    kelpie_only = [m for m in args.methods if m not in METHODS]
    if kelpie_only:
        raise ValueError(f"faithfulness: --methods {kelpie_only} exist only with --protocol "
                         f"kelpie; --protocol {args.protocol} takes {list(METHODS)}")
    args.k = args.k or [10]
    args.targets = args.targets or 16
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
        atomic_write_json(args.output, {
            **environment(), "dataset": kg.name, "config": config.to_dict(),
            "training_config": vars(tc),
            "args": {k: v for k, v in vars(args).items() if k != "func"},
            **result_json(result, rows)})
        print(f"written {args.output}")
    if args.markdown:
        atomic_write_text(args.markdown, f"{title}\n\n{text}")
        print(f"written {args.markdown}")
    return 0
