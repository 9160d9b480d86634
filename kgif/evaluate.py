"""Filtered rank-based link-prediction metrics for the functional ConvE.

For a test triple (h, r, t) the tail rank compares the score of t in the row (h, 2r) against
every other entity; the head rank does the same for h in the row (t, 2r + 1) (head prediction
is tail prediction of the reciprocal relation, PyKEEN numbering). *Filtered* setting (Bordes
et al. 2013): every other entity e with (h, r, e) among the filter triples (usually train +
valid + test) is left out of the comparison. With ties the rank is (PyKEEN's
``RankBasedEvaluator``, Berrendorf et al. 2020, "Interpretable and Fair Comparison of Link
Prediction or Entity Alignment Methods"):

* optimistic  = 1 + #{e kept : s_e >  s_t}
* pessimistic = 1 + #{e kept : s_e >= s_t}
* realistic   = (optimistic + pessimistic) / 2, the expected rank under random tie-breaking.

Metrics per rank type: MRR = mean(1 / rank), MR = mean(rank), Hits@k = mean(rank <= k).
``side="both"`` pools the head and tail ranks of every triple (2n ranks).
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
from torch import Tensor
from tqdm.auto import tqdm

from kgif.graph import TailIndex, reciprocal_queries
from kgif.model import ConvEConfig, Params, hidden, score_all

__all__ = [
    "HITS_AT",
    "RANK_TYPES",
    "SIDES",
    "TailIndex",
    "evaluate",
    "evaluate_all_sides",
    "filtered_ranks",
    "rank_metrics",
    "reciprocal_queries",
]

logger = logging.getLogger(__name__)

Side = Literal["both", "head", "tail"]
SIDES = ("both", "head", "tail")
RANK_TYPES = ("realistic", "optimistic", "pessimistic")
HITS_AT = (1, 3, 5, 10)


# --------------------------------------------------------------------------- ranks


def _batch_ranks(scores: Tensor, answers: Tensor, filter_rows: Tensor, filter_cols: Tensor
                 ) -> tuple[Tensor, Tensor]:
    """Optimistic and pessimistic filtered ranks (B,) int64 of ``answers`` in ``scores`` (B, N).

    Filtered entries and the answer itself become NaN, which compares False both ways.
    """
    true = scores.gather(1, answers[:, None])  # (B, 1)
    nan = scores.new_tensor(float("nan"))
    scores = scores.index_put((filter_rows, filter_cols), nan)
    scores = scores.scatter(1, answers[:, None], float("nan"))
    optimistic = (scores > true).sum(1) + 1
    pessimistic = (scores >= true).sum(1) + 1
    return optimistic, pessimistic


@torch.no_grad()
def _side_ranks(params: Params, buffers: Params, config: ConvEConfig, queries: Tensor,
                index: TailIndex, batch_size: int, show_progress: bool) -> tuple[Tensor, Tensor]:
    """Filtered ranks (n,) of the answers of ``queries`` (n, 3), batch by batch."""
    device = params["entity_embedding"].device
    optimistic, pessimistic = [], []
    for start in tqdm(range(0, len(queries), batch_size), disable=not show_progress,
                      desc="evaluate", leave=False):
        batch = queries[start:start + batch_size]
        f, _ = hidden(params, buffers, batch[:, 0].to(device), batch[:, 1].to(device), config)
        scores = score_all(params, f)  # (B, N)
        rows, cols = index.gather(index.lookup(batch[:, 0], batch[:, 1]))
        opt, pes = _batch_ranks(scores, batch[:, 2].to(device), rows.to(device), cols.to(device))
        optimistic.append(opt.cpu())
        pessimistic.append(pes.cpu())
    return torch.cat(optimistic), torch.cat(pessimistic)


def filtered_ranks(
    params: Params,
    buffers: Params,
    config: ConvEConfig,
    triples: Tensor,
    filter_triples: Tensor,
    *,
    sides: tuple[str, ...] = ("head", "tail"),
    batch_size: int = 256,
    show_progress: bool = False,
) -> dict[str, tuple[Tensor, Tensor]]:
    """Filtered optimistic and pessimistic ranks of every triple, per side.

    Args:
        params, buffers: ConvE parameters and buffers (attribution/eval mode is used).
        config: the model hyper-parameters; must have ``reciprocal=True``.
        triples: (n, 3) int64 (head, base relation, tail) triples to rank.
        filter_triples: (m, 3) int64 base-relation triples whose other answers are left out.
        sides: any of ``"head"``, ``"tail"``.
        batch_size: queries scored at once (memory ~ batch_size * N floats).
        show_progress: tqdm bar over batches.

    Returns:
        ``{side: (optimistic, pessimistic)}``, each (n,) int64 in [1, N].

    Raises:
        ValueError: on a non-reciprocal config, a bad side or a bad batch size.
    """
    if not config.reciprocal:
        raise ValueError("filtered_ranks: head prediction needs config.reciprocal=True")
    if batch_size < 1:
        raise ValueError(f"filtered_ranks: batch_size={batch_size} must be positive")
    bad = [s for s in sides if s not in ("head", "tail")]
    if bad:
        raise ValueError(f"filtered_ranks: sides={sides!r}; expected 'head' and/or 'tail'")
    filters = torch.cat([reciprocal_queries(filter_triples, "tail"),
                         reciprocal_queries(filter_triples, "head")])
    index = TailIndex.from_triples(filters, params["relation_embedding"].shape[0])
    return {
        side: _side_ranks(params, buffers, config, reciprocal_queries(triples, side), index,
                          batch_size, show_progress)
        for side in sides
    }


def rank_metrics(optimistic: Tensor, pessimistic: Tensor) -> dict[str, float]:
    """MRR, MR and Hits@{1,3,5,10} for the three rank types.

    Args:
        optimistic, pessimistic: (n,) ranks.

    Returns:
        Flat dict with keys ``"{rank_type}.{metric}"``, e.g. ``"realistic.mrr"``,
        ``"optimistic.hits@10"``, plus ``"num_ranks"``.

    Raises:
        ValueError: on empty or mismatched inputs.
    """
    if optimistic.shape != pessimistic.shape or optimistic.numel() == 0:
        raise ValueError(f"rank_metrics: need two equal non-empty shapes, got "
                         f"{tuple(optimistic.shape)} and {tuple(pessimistic.shape)}")
    opt, pes = optimistic.double(), pessimistic.double()
    out: dict[str, float] = {"num_ranks": float(opt.numel())}
    for kind, ranks in zip(RANK_TYPES, (0.5 * (opt + pes), opt, pes), strict=True):
        out[f"{kind}.mrr"] = ranks.reciprocal().mean().item()
        out[f"{kind}.mr"] = ranks.mean().item()
        for k in HITS_AT:
            out[f"{kind}.hits@{k}"] = (ranks <= k).double().mean().item()
    return out


def _side_metrics(ranks: dict[str, tuple[Tensor, Tensor]], side: str) -> dict[str, float]:
    parts = list(ranks.values()) if side == "both" else [ranks[side]]
    return rank_metrics(torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts]))


def evaluate(
    params: Params,
    buffers: Params,
    config: ConvEConfig,
    data,
    filter_triples: Tensor | None = None,
    *,
    side: Side = "both",
    split: str = "testing",
    batch_size: int = 256,
    show_progress: bool = False,
) -> dict[str, float]:
    """Filtered rank-based metrics, equal to PyKEEN's ``RankBasedEvaluator`` (filtered=True).

    Args:
        params, buffers: ConvE parameters and buffers.
        config: the model hyper-parameters (``reciprocal=True``).
        data: a :class:`kgif.data.KnowledgeGraph` (its ``split`` is ranked) or (n, 3) int64
            (head, base relation, tail) triples.
        filter_triples: (m, 3) base-relation triples to filter with. Default: for a graph,
            train + valid + test (``kg.all_triples()``); for a tensor, the ranked triples only
            (PyKEEN's default without ``additional_filter_triples``).
        side: ``"both"`` (head and tail ranks pooled), ``"head"`` or ``"tail"``.
        split: ``"testing"`` or ``"validation"`` when ``data`` is a graph.
        batch_size: queries scored at once.
        show_progress: tqdm bar.

    Returns:
        See :func:`rank_metrics`: ``"realistic.mrr"``, ``"pessimistic.hits@10"``, ...

    Raises:
        ValueError: on an unknown side or split, or no triples to rank.
    """
    if side not in SIDES:
        raise ValueError(f"evaluate: side={side!r}; expected one of {SIDES}")
    if isinstance(data, Tensor):
        triples = data
        filter_triples = triples if filter_triples is None else filter_triples
    else:
        if split not in ("testing", "validation", "training"):
            raise ValueError(f"evaluate: split={split!r}; expected 'testing' or 'validation'")
        triples = getattr(data, split)
        filter_triples = data.all_triples() if filter_triples is None else filter_triples
    if len(triples) == 0:
        raise ValueError(f"evaluate: no triples to rank (split={split!r} is empty)")
    sides = ("head", "tail") if side == "both" else (side,)
    ranks = filtered_ranks(params, buffers, config, triples, filter_triples, sides=sides,
                           batch_size=batch_size, show_progress=show_progress)
    return _side_metrics(ranks, side)


def evaluate_all_sides(params: Params, buffers: Params, config: ConvEConfig, triples: Tensor,
                       filter_triples: Tensor, batch_size: int = 256,
                       show_progress: bool = False) -> dict[str, dict[str, float]]:
    """``{side: metrics}`` for both, head and tail, scoring every query once."""
    ranks = filtered_ranks(params, buffers, config, triples, filter_triples,
                           batch_size=batch_size, show_progress=show_progress)
    return {side: _side_metrics(ranks, side) for side in SIDES}
