"""``preset``: the Hetionet training preset (``train --preset hetionet``) as a benchmark row.

Also the metric the preset is tuned for: the **type-constrained filtered tail rank** of a test
triple (h, r, t), i.e. the rank of t among the entities of r's range kinds
(:meth:`kgif.data.graph.KnowledgeGraph.type_mask`) after removing every other known tail of (h, r)
in train + valid + test (the filtered setting of Bordes et al. 2013), with PyKEEN's realistic
tie handling (the mean of the optimistic and pessimistic ranks, as in
:func:`kgif.evaluation.ranks.rank_metrics`). :func:`popularity_scores` is the baseline it is
compared with: every candidate scored by its number of training edges as a tail of r.

The row trains the preset (:data:`kgif.training.presets.PRESETS` ``["hetionet"]``) in this process:
median epoch time, training triples per second (training edges / median epoch seconds), the
test type-constrained MRR of the best validation model beside the popularity baseline, and
the rise of the peak resident set (Linux ``VmHWM``). Full suite only: it trains for minutes.
"""

from __future__ import annotations

import statistics

import torch
from torch import Tensor

from kgif.bench.common import BenchSize, peak_rss_rise, reset_peak_rss, row, skipped
from kgif.data.graph import TailIndex, reciprocal_queries
from kgif.evaluation.ranks import batch_ranks, rank_metrics
from kgif.model.conve import score_all_tails

__all__ = ["popularity_scores", "type_constrained_metrics", "type_constrained_tail_ranks"]


def type_constrained_tail_ranks(scores: Tensor, triples: Tensor, kg) -> tuple[Tensor, Tensor]:
    """Optimistic and pessimistic type-constrained filtered tail ranks.

    Args:
        scores: (n, N) float tail scores of the n queries (h, r, ?) (higher is better).
        triples: (n, 3) int64 (head, base relation, tail) triples, one per score row.
        kg: the :class:`kgif.data.graph.KnowledgeGraph`; its ``type_mask(r, "tail")`` gives the
            candidates and ``all_triples()`` the known tails that are filtered out.

    Returns:
        ``(optimistic, pessimistic)``: (n,) int64 ranks in [1, number of candidates].

    Raises:
        ValueError: on mismatched shapes, non-finite scores, or a true tail outside its
            relation's range (it could not be ranked).
    """
    if scores.dim() != 2 or triples.shape != (scores.shape[0], 3):
        raise ValueError(f"type_constrained_tail_ranks: scores {tuple(scores.shape)} and "
                         f"triples {tuple(triples.shape)} do not match")
    if not torch.isfinite(scores).all():
        raise ValueError("type_constrained_tail_ranks: scores contain NaN or inf")
    h, r, t = triples.long().unbind(1)
    rows = 2 * r  # tail queries (h, r, ?) are the forward relation rows
    allowed = kg.type_constraints().mask(rows)  # (n, N)
    if not allowed.gather(1, t[:, None]).all():
        bad = int((~allowed.gather(1, t[:, None])).nonzero()[0, 0])
        raise ValueError(f"type_constrained_tail_ranks: true tail of triple {bad} "
                         f"{triples[bad].tolist()} is not of its relation's range kinds")
    index = TailIndex.from_triples(reciprocal_queries(kg.all_triples(), "tail"),
                                   2 * kg.num_relations)
    known_rows, known_cols = index.gather(index.lookup(h, rows))
    # the ranking code of kgif.evaluation.ranks, on these scores (e.g. the popularity baseline's)
    return batch_ranks(scores, t, known_rows, known_cols, allowed)["type_constrained"]


def popularity_scores(kg, relation: int, num_queries: int) -> Tensor:
    """Baseline scores (num_queries, N) float64: each entity's training in-degree under r.

    The same vector for every query: the number of training triples (., relation, e).
    """
    train = kg.training
    tails = train[train[:, 1] == relation, 2]
    counts = torch.bincount(tails, minlength=kg.num_entities).double()
    return counts.expand(num_queries, -1)


def model_tail_scores(params, buffers, config, triples: Tensor, batch_size: int = 256) -> Tensor:
    """(n, N) float32 tail logits of (h, r, ?) for (n, 3) base-relation triples (eval mode)."""
    return torch.cat([score_all_tails(params, buffers, batch[:, 0], 2 * batch[:, 1], config)
                      for batch in triples.split(batch_size)])


def type_constrained_metrics(checkpoint, kg, relation: str = "TREATS_CtD",
                             split: str = "testing") -> dict[str, dict[str, float]]:
    """Type-constrained filtered tail metrics of a model and of the popularity baseline.

    Args:
        checkpoint: a :class:`kgif.model.checkpoint.Checkpoint` trained on ``kg``.
        kg: the graph; the triples of ``split`` with relation ``relation`` are ranked.
        relation: relation label.
        split: ``"testing"`` or ``"validation"``.

    Returns:
        ``{"model": metrics, "popularity": metrics}``, each from
        :func:`kgif.evaluation.ranks.rank_metrics` (``"realistic.mrr"``,
        ``"realistic.hits@10"``, ...).
    """
    rel = kg.relation_to_id[relation]
    triples = getattr(kg, split)
    triples = triples[triples[:, 1] == rel]
    scores = model_tail_scores(checkpoint.params, checkpoint.buffers, checkpoint.config, triples)
    base = popularity_scores(kg, rel, len(triples))
    return {name: rank_metrics(*type_constrained_tail_ranks(s, triples, kg))
            for name, s in (("model", scores), ("popularity", base))}


def bench_preset(preset: BenchSize, device: str) -> list[dict]:
    """Train the Hetionet preset once: epoch time, triples/s, test MRR vs popularity, peak RSS.

    Returns one skipped row unless ``preset.hetionet_preset`` (the ``full`` suite).
    """
    if not preset.hetionet_preset:
        return [skipped("preset", "hetionet", "kgif-preset",
                        "full suite only (trains the preset for ~10 minutes)")]
    from kgif.data.datasets import load_dataset
    from kgif.training.loop import train
    from kgif.training.presets import preset_configs

    kg = load_dataset("hetionet")
    config, tc = preset_configs("hetionet", device=device)
    before = reset_peak_rss()
    result = train(kg, config, tc, show_progress=False)
    peak = peak_rss_rise(before)
    metrics = type_constrained_metrics(result.best, kg)
    epoch = statistics.median(result.epoch_seconds)
    note = (f"{len(result.epoch_seconds)} epochs, best epoch {result.best.epoch}; MRR: "
            f"type-constrained filtered tail, 151 test TREATS_CtD edges")
    case = "hetionet"
    return [
        row("preset", case, "kgif-preset", "epoch time", epoch, "s", note=note),
        row("preset", case, "kgif-preset", "throughput", len(kg.training) / epoch,
            "triples/s", note="training edges / median epoch seconds"),
        row("preset", case, "kgif-preset", "test MRR", metrics["model"]["realistic.mrr"], "",
            baseline="popularity", note=note),
        row("preset", case, "popularity", "test MRR", metrics["popularity"]["realistic.mrr"],
            "", baseline="popularity", note="diseases by training TREATS_CtD in-degree"),
        row("preset", case, "kgif-preset", "peak RSS rise", peak, "MiB"),
    ]
