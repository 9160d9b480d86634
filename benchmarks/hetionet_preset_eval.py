"""Type-constrained filtered TREATS_CtD tail MRR of Hetionet checkpoints, beside the baseline.

    python benchmarks/hetionet_preset_eval.py runs/hetionet/best.pt runs/hetionet/checkpoints/*.pt

For every checkpoint: realistic MRR and Hits@10 of the 151 test and 76 validation TREATS_CtD
edges (true disease ranked among the relation's range kinds, other known tails of (h, r) in
train + valid + test filtered; kgif.bench.preset.type_constrained_tail_ranks), then the same
for the popularity baseline (diseases ranked by training TREATS_CtD in-degree).
"""

from __future__ import annotations

import argparse
import sys

import torch

from kgif.bench.preset import type_constrained_metrics
from kgif.data.datasets import load_dataset
from kgif.model.checkpoint import load_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint files (.pt)")
    paths = parser.parse_args(argv).checkpoints
    torch.set_num_threads(2)
    kg = load_dataset("hetionet")
    print("checkpoint\tepoch\ttest_mrr\ttest_hits@10\tvalid_mrr\tvalid_hits@10")
    base = {}
    for path in paths:
        ckpt = load_checkpoint(path)
        test = type_constrained_metrics(ckpt, kg, split="testing")
        valid = type_constrained_metrics(ckpt, kg, split="validation")
        base = {"test": test["popularity"], "valid": valid["popularity"]}
        print(f"{path}\t{ckpt.epoch}\t{test['model']['realistic.mrr']:.4f}\t"
              f"{test['model']['realistic.hits@10']:.4f}\t{valid['model']['realistic.mrr']:.4f}\t"
              f"{valid['model']['realistic.hits@10']:.4f}", flush=True)
    if base:
        print(f"popularity\t-\t{base['test']['realistic.mrr']:.4f}\t"
              f"{base['test']['realistic.hits@10']:.4f}\t{base['valid']['realistic.mrr']:.4f}\t"
              f"{base['valid']['realistic.hits@10']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
