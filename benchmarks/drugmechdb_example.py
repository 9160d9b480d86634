"""The mechanism view of one DrugMechDB-covered test edge beside its DrugMechDB path(s).

Reads the TracIn terms that ``benchmarks/hetionet_drugmechdb.py`` cached (scores of the pair's
local candidates: 1-hop candidates, edges at the head or tail, edges on head-tail paths; other
edges count as 0, so the mechanism proponents are the best local ones) and prints
:func:`kgif.explanation.mechanisms.format_mechanisms` and the DrugMechDB supporting edges; with
``--figure STEM`` also draws the view (relation labels on edges).

    python benchmarks/drugmechdb_example.py --cache-dir runs/hetionet/dmdb-cache \
        --head Sitagliptin --tail "type 2 diabetes mellitus" --figure docs/figures/x
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from kgif.data.datasets import load_dataset
from kgif.data.drugmechdb import read_drugmechdb
from kgif.explanation.mechanisms import format_mechanisms, mechanism_explanation, mechanism_view
from kgif.explanation.paths import path_text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--head", required=True, help="compound name")
    parser.add_argument("--tail", required=True, help="disease name")
    parser.add_argument("--figure", default=None, help="write STEM.png and STEM.svg")
    args = parser.parse_args(argv)
    kg = load_dataset("hetionet")
    mechanisms = read_drugmechdb(kg)
    cache = Path(args.cache_dir)
    stored = torch.load(cache / "local.pt", weights_only=True)
    union = torch.unique(torch.cat(stored["local"]))
    parts = sorted(cache.glob("tracin_epoch*.pt"))
    local = sum(torch.load(p, weights_only=True)["scores"] for p in parts)
    names = [(kg.entity_name(m.triple[0]), kg.entity_name(m.triple[2])) for m in mechanisms]
    j = names.index((args.head, args.tail))
    mechanism = mechanisms[j]
    scores = torch.zeros(len(kg.training), dtype=torch.float64)
    scores[union] = local[j].double()
    view = mechanism_view(scores, mechanism.triple, kg, k=5, top_paths=10)
    print(f"TracIn terms of {[p.stem for p in parts]}")
    print(format_mechanisms(view, kg))
    print("\nDrugMechDB supporting edges:")
    for path_id, rows in mechanism.paths.items():
        for row in rows.tolist():
            h, r, t = kg.training[row].tolist()
            print(f"  {path_id}: {kg.entity_name(h)} --{kg.relation_label(r)}--> "
                  f"{kg.entity_name(t)}  (influence {float(scores[row]):+.4e})")
    for p in view.paths:
        if any(bool(torch.isin(torch.tensor(p.edges), rows).all())
               for rows in mechanism.paths.values()):
            print(f"DrugMechDB path at rank {p.rank}: {path_text(p, kg, kg.training)}")
    if args.figure:
        from kgif.explanation.plot import write_figures

        write_figures(mechanism_explanation(view), kg, args.figure, view.paths, k=5,
                      n_paths=3, figsize=(13, 9),
                      title=f"mechanism view: top 5 mechanism proponents, best 3 paths by "
                            f"{view.aggregate} (direct relations set apart)")
        print(f"wrote {args.figure}.png and .svg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
