"""Spot check of a finished ``seedscale_e2e.py`` run: recompute some written explanations.

For a few test triples of ``WORK/out`` it recomputes, with the library's
``TracIn.influence`` (one pass over the listed rows only, no segments, no top-k), the scores of
the written proponents and opponents, and the scores of a random sample of training edges, and
prints the largest relative difference to the written scores and whether any sampled edge
beats the 10th proponent (or opponent): a wrong merge or a lost segment would show as a sampled
edge above the written list.

Usage: ``python benchmarks/seedscale_e2e_check.py --work /work/studies/seedscale [--sample N]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--sample", type=int, default=200_000, help="random edges per triple")
    parser.add_argument("--triples", type=int, nargs="+", default=[0, 400, -1],
                        help="positions in the sorted list of per-triple files")
    args = parser.parse_args(argv)
    from kgif.data.datasets import load_dataset
    from kgif.influence.tracin import TracIn
    from kgif.model.checkpoint import load_checkpoints

    kg = load_dataset(args.work / "data")
    tracin = TracIn(load_checkpoints(sorted(str(p) for p in (args.work / "ckpts").glob("*.pt"))),
                    kg.training, batch_size=2048, show_progress=False)
    files = sorted(p for p in (args.work / "out").glob("[0-9]*.json"))
    sample = torch.randint(0, len(kg.training), (args.sample,),
                           generator=torch.Generator().manual_seed(0))
    bad = 0
    for position in args.triples:
        result = json.loads(files[position].read_text())["results"][0]
        test = torch.tensor([[result["test_head"], result["test_relation"], result["test_tail"]]])
        pro = [x for x in result["influences"] if x["kind"] == "proponent"]
        opp = [x for x in result["influences"] if x["kind"] == "opponent"]
        rows = torch.tensor([x["train_index"] for x in pro + opp])
        again = tracin.influence(test, kg.training[rows])[0].double()
        written = torch.tensor([x["influence"] for x in pro + opp], dtype=torch.float64)
        rel = ((again - written).abs().max() / written.abs().max()).item()
        scores = tracin.influence(test, kg.training[sample])[0]
        above = int((scores > pro[-1]["influence"]).sum()) if pro else 0
        below = int((scores < opp[-1]["influence"]).sum()) if opp else 0
        bad += above + below
        print(f"{files[position].name}: written vs recomputed max relative difference {rel:.2e};"
              f" sampled edges above the last proponent {above}, below the last opponent "
              f"{below} (of {args.sample})")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
