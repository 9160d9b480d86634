"""``tracin-filtered``: top-k with candidate filters against the unfiltered run, on UMLS.

Both rows explain the same T test triples of UMLS (its first T test triples) with the top-10
proponents and opponents of a random-weight ConvE of UMLS's size, in this process, warm:
``unfiltered`` streams all training edges; ``filtered k=1`` passes the 1-hop intersection
candidate sets of :func:`kgif.filters.candidate_edges_batch`, whose union TracIn scores once
against all T triples (:meth:`kgif.tracin.TracIn.top_influences`). The ratio is filtered /
unfiltered seconds: below 1 means filtering is faster.
"""

from __future__ import annotations

from dataclasses import replace

from kgif.bench.common import MODELS, Preset, median_time, random_checkpoint, row, skipped

SUITE = "tracin-filtered"

#: preset -> (model size, test triples T, hop radius k)
SIZES = {"smoke": ("tiny", 3, 1), "quick": ("umls", 10, 1), "full": ("umls", 100, 1)}


def run_filtered(preset: Preset, device: str) -> list[dict]:
    """Rows ``unfiltered`` (baseline) and ``filtered k=...``: seconds per top-k call."""
    from kgif.data import load_dataset
    from kgif.filters import Adjacency, candidate_edges_batch
    from kgif.tracin import TracIn

    model, n_test, hops = SIZES.get(preset.name, SIZES["quick"])
    case = f"umls {model}-size T={n_test}"
    try:
        kg = load_dataset("umls")
    except FileNotFoundError as error:
        return [skipped(SUITE, case, "filtered", f"UMLS not found: {error}")]
    size = replace(MODELS[model], num_entities=kg.num_entities,
                   num_relations=kg.num_relations)
    tracin = TracIn([random_checkpoint(size, device=device)], kg.training,
                    batch_size=preset.batch_size, device=device, show_progress=False)
    test = kg.testing[:n_test]
    candidates = candidate_edges_batch(Adjacency.from_triples(kg.training, kg.num_entities),
                                       test, k=hops)
    union = len(set().union(*(c.tolist() for c in candidates)))
    tracin.top_influences(test, 10, kg.training[: preset.batch_size])  # warm the kernels
    quick = replace(preset, warmup=0, repeats=max(1, preset.repeats - 2))
    unfiltered = median_time(lambda: tracin.top_influences(test, 10), quick, device)
    filtered = median_time(lambda: tracin.top_influences(test, 10, candidates=candidates),
                           quick, device)
    sizes = [len(c) for c in candidates]
    note = (f"{len(kg.training)} edges; candidate sets mean {sum(sizes) / len(sizes):.0f}, "
            f"union {union}")
    return [row(SUITE, case, "unfiltered", "seconds", unfiltered, "s", baseline="unfiltered",
                note=f"all {len(kg.training)} edges", edges=len(kg.training)),
            row(SUITE, case, f"filtered k={hops}", "seconds", filtered, "s",
                baseline="unfiltered", note=note, edges=union)]
