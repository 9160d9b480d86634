"""``faithfulness``: deletion-retraining faithfulness of kgif's TracIn against baselines.

Each row is the mean change over target test triples of one quantity (targets' MRR ``ΔMRR``,
mean logit ``Δlogit``, mean filtered rank ``Δrank``) after deleting the k edges an attribution
method names for each target and retraining from scratch with the same seed, by the stable
protocol (the original run's rows, order and batches; :func:`kgif.studies.faithfulness.retrain`);
the note gives the 95% paired bootstrap interval and the sign-flip p-values against the
baselines; ``ratio`` is the change relative to the ``random`` baseline's.

* ``smoke``: a random toy graph (24 entities, 120 edges), tiny ConvE, 2 targets: seconds.
* ``quick``: UMLS, 6 targets, kgif's default TracIn and the three baselines.
* ``full``: UMLS, 48 targets (filtered tail rank <= 3), every method of
  :data:`kgif.studies.faithfulness.METHODS` per target, plus the grouped protocol (4 targets per
  retraining) on four methods, to show whether grouping changes the ranking of methods.
  Two retraining processes with one thread each.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kgif.bench.common import BenchSize, row

SUITE = "faithfulness"
CORE = ("tracin", "tracin_opponents", "random", "random_1hop", "similarity")
GROUPED = ("tracin", "random", "random_1hop", "similarity")
NAMES = {"rr": "ΔMRR", "logit": "Δlogit", "rank": "Δrank"}


@dataclass(frozen=True)
class Case:
    """One faithfulness configuration."""

    dataset: str  # "toy" or a dataset name
    methods: tuple[str, ...]
    targets: int
    k: int = 10
    dim: int = 32
    channels: int = 8
    epochs: int = 30
    learning_rate: float = 0.01
    checkpoint_every: int = 10
    max_rank: float = 3.0  # targets: realistic filtered tail rank <= 3 (Hits@3)
    workers: int = 2
    grouped: int = 0  # group size of the grouped comparison (0: none)
    protocol: str = "stable"  # kgif.studies.faithfulness.PROTOCOLS


def _cases() -> dict[str, Case]:
    from kgif.studies.faithfulness import METHODS

    return {"smoke": Case("toy", ("tracin", "random", "random_1hop", "similarity",
                                  "tracin_cosine"), 2, k=3, dim=12, channels=2, epochs=2,
                          checkpoint_every=1, max_rank=float("inf"), workers=1, grouped=2),
            "quick": Case("umls", GROUPED, 6),
            "full": Case("umls", tuple(METHODS), 48, grouped=4)}


def toy_graph():
    """A random graph: 24 entities, 3 relations, 120 training and 8 test triples (seed 0)."""
    from kgif.data.graph import KnowledgeGraph

    gen = torch.Generator().manual_seed(0)
    n_ent, n_rel = 24, 3
    triples = torch.stack([torch.randint(n_ent, (128,), generator=gen),
                           torch.randint(n_rel, (128,), generator=gen),
                           torch.randint(n_ent, (128,), generator=gen)], 1)
    triples = torch.unique(triples, dim=0)
    triples = triples[torch.randperm(len(triples), generator=gen)]
    return KnowledgeGraph({f"e{i}": i for i in range(n_ent)},
                          {f"r{i}": i for i in range(n_rel)}, training=triples[8:],
                          testing=triples[:8], name="toy")


def configs(case: Case, seed: int = 0):
    """(ConvEConfig, TrainingConfig) of a case; the same for the original run and retrains."""
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig

    height = 3 if case.dim == 12 else None
    return (ConvEConfig(embedding_dim=case.dim, embedding_height=height,
                        output_channels=case.channels),
            TrainingConfig(epochs=case.epochs, learning_rate=case.learning_rate,
                           checkpoint_every=case.checkpoint_every, eval_every=0, seed=seed))


def run_faithfulness_bench(preset: BenchSize, device: str) -> list[dict]:
    """Rows of the case of ``preset`` (module docstring); CPU only (retraining is)."""
    from kgif.data.datasets import load_dataset
    from kgif.studies.faithfulness import run_faithfulness, summarize

    case = _cases().get(preset.name, _cases()["quick"])
    kg = toy_graph() if case.dataset == "toy" else load_dataset(case.dataset)
    config, tc = configs(case)
    result = run_faithfulness(kg, config, tc, methods=case.methods, ks=(case.k,),
                              n_targets=case.targets, max_rank=case.max_rank,
                              protocol=case.protocol, workers=case.workers)
    label = (f"{case.dataset} d={case.dim} C={case.channels} {case.epochs} ep, "
             f"T={len(result.targets)} k={case.k}, {case.protocol}")
    rows = [row(SUITE, label, "original model", "test tail MRR", result.test_mrr, "",
                note="filtered, realistic, whole test split")]
    rows += _rows(summarize(result), f"{label} per-target", result)
    if case.grouped:
        grouped = run_faithfulness(kg, config, tc, methods=GROUPED, ks=(case.k,),
                                   group_size=case.grouped, protocol=case.protocol,
                                   workers=case.workers, targets=result.targets)
        rows += _rows(summarize(grouped), f"{label} grouped g={case.grouped}", grouped)
    return rows


def _rows(summary: list[dict], case: str, result) -> list[dict]:
    out = []
    for s in summary:
        tests = ", ".join(f"p vs {b} {v['p']:.3g}" for b, v in s["vs"].items())
        note = f"95% CI [{s['low']:+.3f}, {s['high']:+.3f}]" + (f"; {tests}" if tests else "")
        out.append(row(SUITE, case, s["method"], NAMES[s["quantity"]], s["mean"], "",
                       baseline="random", note=note, low=s["low"], high=s["high"],
                       vs=s["vs"], retrains=result.retrains, seconds=result.seconds))
    return out
