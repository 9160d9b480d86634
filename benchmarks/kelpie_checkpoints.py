"""Which checkpoints decide TracIn's Kelpie explanations: each checkpoint's share and choice.

    python benchmarks/kelpie_checkpoints.py --original /work/studies/kelpie/fb15k237-conve-seed0 \
        --targets-file benchmarks/kelpie-targets-fb15k237.tsv \
        --output benchmarks/results-cpu-kelpie-checkpoints.json \
        > benchmarks/results-cpu-kelpie-checkpoints.md

TracInCP (Pruthi et al., NeurIPS 2020, eq. 3) sums, over the checkpoints k, eta_k times the
inner product of the training fact's and the target's loss gradients. This script scores every
target's head candidates (the protocol's: training facts mentioning h) once per checkpoint, one
checkpoint at a time, and tells for each checkpoint: the share of the summed score of each
target's top fact that it contributes (median over targets), how often its own top fact is the
sum's top fact, and the median Spearman correlation of its candidate scores with the sum's. The
last checkpoint alone is what gradient explainers at the final model (the first-order
approximations of CRIAGE, Pezeshkpour et al. NAACL 2019, and Data Poisoning, Zhang et al.
IJCAI 2019) look at; the first checkpoints carry the large early gradients. Prints Markdown;
``--output`` writes the per-checkpoint numbers as JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from kgif._io import atomic_write_json
from kgif.data.datasets import load_dataset
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import load_checkpoints
from kgif.studies.kelpie import candidate_rows, read_targets


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two 1-D float tensors (ties broken by position; NaN for
    fewer than 2 values): the Pearson correlation of their ranks (Spearman 1904)."""
    if len(a) < 2:
        return float("nan")
    ra = torch.argsort(torch.argsort(a)).double()
    rb = torch.argsort(torch.argsort(b)).double()
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--original", required=True, help="the original run's folder")
    parser.add_argument("--dataset", default="fb15k237")
    parser.add_argument("--targets-file", default="benchmarks/kelpie-targets-fb15k237.tsv")
    parser.add_argument("--output", default=None, help="write the numbers as JSON")
    args = parser.parse_args(argv)
    kg = load_dataset(args.dataset)
    targets = read_targets(args.targets_file, kg)
    checkpoints = load_checkpoints(Path(args.original) / "checkpoints")
    candidates = candidate_rows(kg.training, targets, "head")
    start = time.perf_counter()
    per_ckpt = []  # per checkpoint: T tensors of candidate scores
    for ckpt in checkpoints:
        tracin = TracIn([ckpt], kg.training, show_progress=False)
        per_ckpt.append([s.double() for s in tracin.candidate_influence(targets, candidates)])
    seconds = time.perf_counter() - start
    n = len(targets)
    total = [sum(per_ckpt[c][j] for c in range(len(checkpoints))) for j in range(n)]
    best = [int(torch.argmax(total[j])) for j in range(n)]
    print(f"# Kelpie targets: which checkpoints decide TracIn's choice ({n} targets, their "
          f"{sum(len(c) for c in candidates):,} (target, head candidate) pairs, {len(checkpoints)} "
          f"checkpoints; "
          f"{seconds:.0f} s, one thread, load {os.getloadavg()[0]:.1f})\n")
    print("| checkpoint (epoch) | eta_k | share of the top fact's summed score (median) | its top "
          "fact = the sum's | Spearman with the sum (median) |")
    print("|---|---|---|---|---|")
    rows = []
    for c, ckpt in enumerate(checkpoints):
        share = torch.tensor([float(per_ckpt[c][j][best[j]] / total[j][best[j]])
                              for j in range(n)], dtype=torch.float64)
        agree = sum(int(torch.argmax(per_ckpt[c][j])) == best[j] for j in range(n))
        rho = torch.tensor([spearman(per_ckpt[c][j], total[j]) for j in range(n)],
                           dtype=torch.float64)
        row = {"epoch": ckpt.epoch, "learning_rate": ckpt.learning_rate,
               "share_median": float(share.median()), "top1_agrees": agree,
               "spearman_median": float(rho.nanmedian())}
        rows.append(row)
        print(f"| {ckpt.epoch} | {ckpt.learning_rate:.4f} | {row['share_median']:.2f} | "
              f"{agree} of {n} | {row['spearman_median']:.2f} |")
    if args.output:
        atomic_write_json(args.output, {"checkpoints": rows, "seconds": seconds,
                                        "top_fact_rows": [int(candidates[j][best[j]])
                                                          for j in range(n)]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
