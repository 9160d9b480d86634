"""Where TracIn's strongest training facts lie when the candidates are not restricted to h.

    python benchmarks/kelpie_scope.py --dataset fb15k237 \
        --head-cache /work/studies/kelpie/cache --all-cache /work/studies/kelpie/cache-all \
        --targets-file benchmarks/kelpie-targets-fb15k237.tsv \
        --output benchmarks/results-cpu-kelpie-scope.json > benchmarks/results-cpu-kelpie-scope.md

Kelpie's necessary protocol draws explanation facts among the training facts that mention the
target's head h (``--candidates head``). TracInCP (Pruthi et al., NeurIPS 2020) scores every
training fact; this script reads the study's two cached ``tracin`` rankings (one per cache
folder: ``--head-cache`` made with ``--candidates head``, ``--all-cache`` with ``--candidates
all``; both by ``python -m kgif faithfulness --protocol kelpie ... --no-retrain``) and tells,
for the top 1 to 4 facts over **all** training facts, how many mention h, how many mention the
target's tail t but not h, how many share the target's relation r, and how many have the shape
(x, r, t) (another entity with the same relation to t: raises t for every head of r); and how
much TracIn score the head restriction gives up (best head fact's score over the best fact's),
and how many (x, r, t) facts each target has in training.
Prints Markdown; ``--output`` writes the per-target classes as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from kgif._io import atomic_write_json
from kgif.data.datasets import load_dataset
from kgif.studies.kelpie import read_targets


def _tracin_ranking(cache_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    found = sorted((cache_dir / "rankings").glob("tracin-*.json"))
    if len(found) != 1:
        raise SystemExit(f"kelpie_scope: expected one cached tracin ranking in "
                         f"{cache_dir / 'rankings'}, found {len(found)}")
    saved = json.loads(found[0].read_text())
    rows = torch.tensor(saved["rows"], dtype=torch.long)
    scores = torch.tensor([[math.nan if s is None else s for s in r] for r in saved["scores"]],
                          dtype=torch.float64)
    return rows, scores


def classify(fact: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    """One of ``"h"`` (mentions the target's head), ``"(x, r, t)"``, ``"t"`` (mentions the
    tail, other shape) or ``"neither"``, for a training fact (head, relation, tail) ids."""
    h, r, t = target
    if h in (fact[0], fact[2]):
        return "h"
    if fact[1] == r and fact[2] == t:
        return "(x, r, t)"
    if t in (fact[0], fact[2]):
        return "t"
    return "neither"


CLASSES = ("h", "(x, r, t)", "t", "neither")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fb15k237")
    parser.add_argument("--head-cache", required=True, help="cache made with --candidates head")
    parser.add_argument("--all-cache", required=True, help="cache made with --candidates all")
    parser.add_argument("--targets-file", default="benchmarks/kelpie-targets-fb15k237.tsv")
    parser.add_argument("--output", default=None, help="write the per-target classes as JSON")
    args = parser.parse_args(argv)
    kg = load_dataset(args.dataset)
    targets = read_targets(args.targets_file, kg)
    head_rows, head_scores = _tracin_ranking(Path(args.head_cache))
    all_rows, all_scores = _tracin_ranking(Path(args.all_cache))
    if len(head_rows) != len(targets) or len(all_rows) != len(targets):
        raise SystemExit(f"kelpie_scope: the rankings hold {len(head_rows)} and {len(all_rows)} "
                         f"targets; {args.targets_file} holds {len(targets)}")
    train = kg.training.tolist()
    tgt = [tuple(x) for x in targets.tolist()]
    classes = [[classify(tuple(train[i]), tgt[j]) for i in all_rows[j].tolist() if i >= 0]
               for j in range(len(tgt))]
    same_relation = [[train[i][1] == tgt[j][1] for i in all_rows[j].tolist() if i >= 0]
                     for j in range(len(tgt))]
    n = len(tgt)
    print(f"# Kelpie targets: where TracIn's strongest training facts lie ({n} targets, "
          f"{len(train):,} training facts)\n")
    print("| facts (all training facts, TracIn order) | mention h | (x, r, t) | mention t, other "
          "| neither | same relation r |")
    print("|---|---|---|---|---|---|")
    for depth in (1, 4):
        picked = [c for row in classes for c in row[:depth]]
        rel = sum(s for row in same_relation for s in row[:depth])
        counts = [sum(c == k for c in picked) for k in CLASSES]
        label = "top 1" if depth == 1 else "top 4"
        print(f"| {label} ({len(picked)} facts) | " + " | ".join(str(c) for c in counts)
              + f" | {rel} |")
    ratio = head_scores[:, 0] / all_scores[:, 0]
    q = ratio.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)).tolist()
    same = int((head_rows[:, 0] == all_rows[:, 0]).sum())
    in4 = sum(int(head_rows[j, 0]) in all_rows[j].tolist() for j in range(n))
    print(f"\nThe best head fact is the best fact overall for {same} of {n} targets and among "
          f"the top 4 overall for {in4}. Its TracIn score over the best fact's: 10 % {q[0]:.2f}, "
          f"median {q[1]:.2f}, 90 % {q[2]:.2f}.")
    pair = {}
    for _, r, t in train:
        pair[(r, t)] = pair.get((r, t), 0) + 1
    peers = torch.tensor([pair.get((r, t), 0) for _, r, t in tgt], dtype=torch.float64)
    q = peers.quantile(torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64),
                       interpolation="lower").tolist()
    print(f"\nTraining facts of the shape (x, r, t) per target (other heads with the target's "
          f"relation to its tail): 10 % {q[0]:.0f}, median {q[1]:.0f}, 90 % {q[2]:.0f}; "
          f"{int((peers <= 4).sum())} targets have at most 4.")
    if args.output:
        out = {"targets": [[kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)]
                           for h, r, t in tgt],
               "all_top4": [[[kg.entity_label(train[i][0]), kg.relation_label(train[i][1]),
                              kg.entity_label(train[i][2])] for i in all_rows[j].tolist() if i >= 0]
                            for j in range(n)],
               "classes": classes, "score_ratio_head_over_all": ratio.tolist(),
               "peers_x_r_t": peers.tolist()}
        atomic_write_json(args.output, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
