"""Recompute Kelpie's published ConvE / FB15k-237 necessary end-to-end table from its files.

Usage:
    python benchmarks/kelpie_published.py KELPIE_END_TO_END_FOLDER [--targets OUT.tsv]

KELPIE_END_TO_END_FOLDER is ``scripts/experiments/end_to_end`` of a checkout of
AndRossi/Kelpie. Each ``{criage,dp,k1,kelpie}_necessary_conve_fb15k237.csv`` line is
``h;r;t;`` then the explanation facts (three fields each, empty fields for unused slots),
then the original and new score and the original and new tail rank. Prints, per method, the
number of targets and explanation facts and ΔH@1 / ΔMRR by :func:`kgif.studies.kelpie.
kelpie_deltas`; ``--targets`` writes the 100 target facts as a label TSV for
``python -m kgif faithfulness --protocol kelpie --targets-file``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kgif.studies.kelpie import kelpie_deltas

FILES = {"CRIAGE": "criage", "Data Poisoning": "dp", "K1": "k1", "Kelpie": "kelpie"}


def read(path: Path) -> tuple[list[tuple[str, str, str]], int, list[float], list[float]]:
    """Targets, explanation facts in all, original ranks, new ranks of one result file."""
    targets, facts, before, after = [], 0, [], []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        bits = line.split(";")
        explanation = bits[3:-4]
        if len(bits) < 7 or len(explanation) % 3:
            raise SystemExit(f"error: line {lineno} of {path} is not a Kelpie necessary row")
        targets.append(tuple(bits[:3]))
        facts += sum(1 for i in range(0, len(explanation), 3) if explanation[i])
        before.append(float(bits[-2]))
        after.append(float(bits[-1]))
    return targets, facts, before, after


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--targets", type=Path, default=None)
    args = parser.parse_args()
    print("| method | targets | facts removed | ΔH@1 | ΔMRR |\n|---|---|---|---|---|")
    for name, stem in FILES.items():
        targets, facts, before, after = read(args.folder / f"{stem}_necessary_conve_fb15k237.csv")
        d = kelpie_deltas(torch.tensor(before), torch.tensor(after))
        print(f"| {name} | {len(targets)} | {facts} | {d['h1']:+.3f} | {d['mrr']:+.3f} |")
    if args.targets:
        args.targets.write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in targets))
        print(f"written {args.targets}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
