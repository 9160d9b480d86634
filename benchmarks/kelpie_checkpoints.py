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
import math
import os
import sys
import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from kgif._io import atomic_write_json
from kgif.data.datasets import load_dataset
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import load_checkpoints
from kgif.studies.kelpie import candidate_rows, read_targets


def summarize(per_ckpt: list[list[torch.Tensor]]) -> tuple[list[dict], list[int]]:
    """Each checkpoint's part in the summed TracInCP choice.

    Args:
        per_ckpt: C lists (one per checkpoint) of T float64 tensors, checkpoint c's TracIn
            scores (eta_c already applied) of target j's candidates, in one order for all c.

    Returns:
        C dicts (``share_median``: median over targets of c's score of the sum's top candidate
        over the sum's score of it; ``top1_agrees``: targets whose top candidate under c alone
        is the sum's; ``spearman_median``: median over targets of Spearman's rho between c's
        and the sum's candidate scores, ``scipy.stats.spearmanr``; NaN for one candidate) and
        the T positions of the sum's top candidates.
    """
    n = len(per_ckpt[0])
    total = [sum(scores[j] for scores in per_ckpt) for j in range(n)]
    best = [int(torch.argmax(total[j])) for j in range(n)]
    rows = []
    for scores in per_ckpt:
        share = torch.tensor([float(scores[j][best[j]] / total[j][best[j]]) for j in range(n)],
                             dtype=torch.float64)
        rho = torch.tensor([spearmanr(scores[j].numpy(), total[j].numpy()).statistic
                            if len(total[j]) > 1 else math.nan for j in range(n)],
                           dtype=torch.float64)
        rows.append({"share_median": float(share.median()),
                     "top1_agrees": sum(int(torch.argmax(scores[j])) == best[j]
                                        for j in range(n)),
                     "spearman_median": float(rho.nanmedian())})
    return rows, best


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
    rows, best = summarize(per_ckpt)
    print(f"# Kelpie targets: which checkpoints decide TracIn's choice ({n} targets, their "
          f"{sum(len(c) for c in candidates):,} (target, head candidate) pairs, {len(checkpoints)} "
          f"checkpoints; {seconds:.0f} s, one thread, load {os.getloadavg()[0]:.1f})\n")
    print("| checkpoint (epoch) | eta_k | share of the top fact's summed score (median) | its top "
          "fact = the sum's | Spearman with the sum (median) |")
    print("|---|---|---|---|---|")
    for ckpt, row in zip(checkpoints, rows, strict=True):
        row.update(epoch=ckpt.epoch, learning_rate=ckpt.learning_rate)
        print(f"| {ckpt.epoch} | {ckpt.learning_rate:.4f} | {row['share_median']:.2f} | "
              f"{row['top1_agrees']} of {n} | {row['spearman_median']:.2f} |")
    if args.output:
        atomic_write_json(args.output, {"checkpoints": rows, "seconds": seconds,
                                        "top_fact_rows": [int(candidates[j][best[j]])
                                                          for j in range(n)]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
