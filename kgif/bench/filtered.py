"""``tracin-filtered``: top-k with candidate filters against the unfiltered run, on UMLS.

For each T, both rows explain the first T test triples of UMLS with the top-10 proponents and
opponents of a random-weight ConvE of UMLS's size, in this process, warm:
``unfiltered`` streams all training edges; ``filtered k=1`` passes the 1-hop intersection
candidate sets of :func:`kgif.influence.candidates.candidate_edges_batch`, whose union TracIn
scores once against all T triples (:meth:`kgif.influence.tracin.TracIn.top_influences`). The
ratio is filtered /
unfiltered seconds: below 1 means filtering is faster.
"""

from __future__ import annotations

from dataclasses import replace

from kgif.bench.common import MODELS, BenchSize, median_time, random_checkpoint, row, skipped

SUITE = "tracin-filtered"

#: preset -> (model size, test-set sizes T, hop radius k)
SIZES = {"smoke": ("tiny", (3,), 1), "quick": ("umls", (1, 10), 1),
         "full": ("umls", (1, 10, 100), 1)}


def run_filtered(preset: BenchSize, device: str) -> list[dict]:
    """Rows ``unfiltered`` (baseline) and ``filtered k=...`` per T: seconds per top-k call."""
    from kgif.data.datasets import load_dataset
    from kgif.influence.candidates import Adjacency
    from kgif.influence.tracin import TracIn

    model, test_sizes, hops = SIZES.get(preset.name, SIZES["quick"])
    try:
        kg = load_dataset("umls")
    except FileNotFoundError as error:
        return [skipped(SUITE, "umls", "filtered", f"UMLS not found: {error}")]
    size = replace(MODELS[model], num_entities=kg.num_entities,
                   num_relations=kg.num_relations)
    tracin = TracIn([random_checkpoint(size, device=device)], kg.training,
                    batch_size=preset.batch_size, device=device, show_progress=False)
    tracin.top_influences(kg.testing[:1], 10, kg.training[: preset.batch_size])  # warm-up
    adjacency = Adjacency.from_triples(kg.training, kg.num_entities)
    rows = []
    for n_test in test_sizes:
        rows += _case(tracin, kg, adjacency, f"umls {model}-size T={n_test}", n_test, hops,
                      replace(preset, warmup=0, repeats=max(1, preset.repeats - 2)), device)
    return rows


def _case(tracin, kg, adjacency, case, n_test, hops, preset, device) -> list[dict]:
    from kgif.influence.candidates import candidate_edges_batch

    test = kg.testing[:n_test]
    candidates = candidate_edges_batch(adjacency, test, k=hops)
    union = len(set().union(*(c.tolist() for c in candidates)))
    unfiltered = median_time(lambda: tracin.top_influences(test, 10), preset, device)
    filtered = median_time(lambda: tracin.top_influences(test, 10, candidates=candidates),
                           preset, device)
    sizes = [len(c) for c in candidates]
    note = f"candidate sets mean {sum(sizes) / len(sizes):.0f}, union {union}"
    return [row(SUITE, case, "unfiltered", "seconds", unfiltered, "s", baseline="unfiltered",
                note=f"all {len(kg.training)} edges", edges=len(kg.training)),
            row(SUITE, case, f"filtered k={hops}", "seconds", filtered, "s",
                baseline="unfiltered", note=note, edges=union)]
