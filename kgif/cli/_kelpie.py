"""``python -m kgif faithfulness --protocol kelpie``: Kelpie's end-to-end necessary protocol on
an existing original run (:mod:`kgif.studies.kelpie`).

Every argument is checked before the first expensive step (loading checkpoints, ranking the
targets, extracting explanations, retraining); an error is one line naming the flag or file.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from kgif._environment import environment
from kgif._io import atomic_write_json, atomic_write_text, check_writable_folder


def _original_training_config(original: Path):
    """The original run's TrainingConfig, from ``original/metrics.json`` (kgif train)."""
    from kgif.training.loop import TrainingConfig

    path = original / "metrics.json"
    if not path.is_file():
        raise FileNotFoundError(f"faithfulness: --original {original} has no metrics.json "
                                "(written by python -m kgif train)")
    fields = json.loads(path.read_text()).get("training_config")
    if not isinstance(fields, dict):
        raise ValueError(f"faithfulness: {path} has no training_config object")
    return TrainingConfig(**fields)


def _writable(folder: Path, flag: str) -> None:
    check_writable_folder(folder, f"faithfulness: {flag}")


def _check(args: argparse.Namespace):
    """Validate the kelpie flags; returns (original folder, TrainingConfig, cache folder)."""
    from kgif.model.checkpoint import list_checkpoints
    from kgif.studies.kelpie import KELPIE_METHODS, MAX_FACTS, job_names

    if args.original is None:
        raise ValueError("faithfulness: --protocol kelpie needs --original (the original run's "
                         "folder)")
    original = Path(args.original)
    list_checkpoints(original / "checkpoints")  # FileNotFoundError names the folder
    tc = _original_training_config(original)
    args.methods = args.methods or list(KELPIE_METHODS)
    unknown = [m for m in args.methods if m not in KELPIE_METHODS]
    if unknown:
        raise ValueError(f"faithfulness: --methods {unknown} are not kelpie methods; use "
                         f"{list(KELPIE_METHODS)}")
    args.k = args.k or [1]
    if any(k > MAX_FACTS for k in args.k):
        raise ValueError(f"faithfulness: --k {args.k}: kelpie explanations have 1 to "
                         f"{MAX_FACTS} facts")
    args.targets = args.targets or 100
    if args.budget is not None and args.budget > MAX_FACTS * args.targets:
        raise ValueError(f"faithfulness: --budget {args.budget} exceeds {MAX_FACTS} facts for "
                         f"each of --targets {args.targets}")
    if args.targets_file is not None and not Path(args.targets_file).is_file():
        raise FileNotFoundError(f"faithfulness: --targets-file {args.targets_file} does not "
                                "exist")
    names = job_names(args.methods, args.k, args.budget, tc.seed, args.noise_seeds)
    unknown = sorted(set(args.jobs or ()) - set(names))
    if unknown:
        raise ValueError(f"faithfulness: --jobs {unknown} are not jobs of this study; it has "
                         f"{names}")
    cache = Path(args.cache_dir) if args.cache_dir else original / "kelpie-cache"
    _writable(cache, "--cache-dir")
    for flag in ("output", "markdown", "write_targets"):
        if getattr(args, flag):
            _writable(Path(getattr(args, flag)).resolve().parent, f"--{flag.replace('_', '-')}")
    return original, tc, cache


def run_kelpie_cli(args: argparse.Namespace) -> int:
    """Run the kelpie protocol from parsed ``faithfulness`` arguments; print the table."""
    from kgif.data.datasets import load_dataset
    from kgif.model.checkpoint import check_compatible, load_checkpoints
    from kgif.studies.kelpie import (
        rank1_targets,
        read_targets,
        run_kelpie,
        summarize_kelpie,
        write_targets,
    )
    from kgif.studies.kelpie_report import markdown_table, result_json
    from kgif.studies.retrain_cache import RetrainCache

    original, tc, cache_dir = _check(args)
    kg = load_dataset(args.dataset)
    targets = read_targets(args.targets_file, kg) if args.targets_file else None
    checkpoints = load_checkpoints(original / "checkpoints")
    check_compatible(checkpoints, kg)
    if targets is None:
        targets = rank1_targets(checkpoints[-1], kg, args.targets, args.seed)
    if args.write_targets:
        write_targets(args.write_targets, kg, targets)
        print(f"written {args.write_targets} ({len(targets)} targets)")
    cache = RetrainCache(cache_dir, kg, checkpoints[-1].config, tc, threads=args.threads,
                         protocol=args.retraining, checkpoint_every=args.checkpoint_every)
    start = time.perf_counter()
    result = run_kelpie(kg, checkpoints, cache, targets=targets, methods=args.methods,
                        ks=args.k, budget=args.budget, candidates=args.candidates,
                        seed=args.seed, noise_seeds=args.noise_seeds,
                        run_jobs=[] if args.no_retrain else args.jobs)
    rows = summarize_kelpie(result.before["rank"], result.after)
    extraction = ", ".join(f"{m} {s:.1f} s" + (" (cached)" if m in result.extraction_cached
                                                else "")
                           for m, s in result.extraction_seconds.items())
    null = {None: "not run yet", True: "yes", False: "NO"}[result.null_reproduces_original]
    title = (f"Kelpie necessary protocol, {kg.name or args.dataset}: {len(targets)} targets, "
             f"candidates {args.candidates}, {len(checkpoints)} checkpoints, {args.retraining} "
             f"retraining on {args.threads} thread(s); extraction "
             f"({torch.get_num_threads()} threads when computed here): {extraction}; null "
             f"retraining reproduces the original: {null}; "
             f"{time.perf_counter() - start:.0f} s, torch {torch.__version__}")
    text = markdown_table(result, rows)
    print(title + "\n\n" + text)
    if args.output:
        atomic_write_json(args.output, {**environment(), "dataset": kg.name,
                                        "cache_dir": str(cache_dir),
                          "args": {k: v for k, v in vars(args).items() if k != "func"},
                          **result_json(kg, result, rows)})
        print(f"written {args.output}")
    if args.markdown:
        atomic_write_text(args.markdown, f"{title}\n\n{text}")
        print(f"written {args.markdown}")
    return 0
