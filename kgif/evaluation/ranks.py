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

*Type-constrained* ranks (Krompass et al. 2015) also leave out every entity whose kind is not
in the relation's range (tail queries) or domain (head queries), the kinds seen at that position
in training (:class:`kgif.data.graph.TypeConstraints`). Non-finite parameters or scores are refused.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch
from torch import Tensor

from kgif._progress import progress
from kgif.data.graph import TailIndex, TypeConstraints, reciprocal_queries
from kgif.data.validate import check_triples, model_bounds
from kgif.model.conve import ConvEConfig, Params, score_all_tails

__all__ = ["HITS_AT", "RANK_TYPES", "SETTINGS", "SIDES", "TC_PREFIX", "check_finite_params",
           "evaluate", "evaluate_all_sides", "filtered_ranks", "rank_metrics"]

logger = logging.getLogger(__name__)

Side = Literal["both", "head", "tail"]
SIDES = ("both", "head", "tail")
RANK_TYPES = ("realistic", "optimistic", "pessimistic")
HITS_AT = (1, 3, 5, 10)


# --------------------------------------------------------------------------- ranks


#: Rank settings: filtered (Bordes et al. 2013) and, in addition, type-constrained.
SETTINGS = ("filtered", "type_constrained")
#: Prefix of the type-constrained metric keys in :func:`evaluate`'s result.
TC_PREFIX = "type_constrained."


def check_finite_params(who: str, params: Params) -> None:
    """Refuse parameters with NaN or infinite entries, naming each one and the count.

    Raises:
        ValueError: Some parameter holds a non-finite value.
    """
    bad = [f"{name} ({int((~torch.isfinite(v)).sum())} of {v.numel()} entries)"
           for name, v in params.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{who}: non-finite parameters (NaN or inf): {', '.join(bad)}; the "
                         f"model diverged or the checkpoint is damaged")


def _check_finite_scores(scores: Tensor, queries: Tensor) -> None:
    finite = torch.isfinite(scores)
    if not finite.all():
        row = int((~finite).any(1).nonzero()[0, 0])
        h, r, _ = queries[row].tolist()
        raise ValueError(f"evaluate: non-finite scores (NaN or inf) for the query (entity {h}, "
                         f"relation row {r}): {int((~finite[row]).sum())} of {scores.shape[1]} "
                         f"entities; refusing to rank (a NaN true score would rank first)")


def _ranks_of(scores: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    """Optimistic and pessimistic ranks (B,) int64; NaN entries compare False both ways."""
    return (scores > true).sum(1) + 1, (scores >= true).sum(1) + 1


def batch_ranks(scores: Tensor, answers: Tensor, filter_rows: Tensor, filter_cols: Tensor,
                 allowed: Tensor | None = None) -> dict[str, tuple[Tensor, Tensor]]:
    """Filtered (and type-constrained) ranks (B,) int64 of ``answers`` in ``scores`` (B, N).

    Filtered entries and the answer itself become NaN, which compares False both ways; with
    ``allowed`` (B, N) bool, entities of a disallowed kind become NaN too, for the
    ``"type_constrained"`` ranks.
    """
    true = scores.gather(1, answers[:, None])  # (B, 1)
    nan = scores.new_tensor(float("nan"))
    scores = scores.index_put((filter_rows, filter_cols), nan)
    scores = scores.scatter(1, answers[:, None], float("nan"))
    out = {"filtered": _ranks_of(scores, true)}
    if allowed is not None:
        out["type_constrained"] = _ranks_of(scores.masked_fill(~allowed, float("nan")), true)
    return out


@torch.no_grad()
def _side_ranks(params: Params, buffers: Params, config: ConvEConfig, queries: Tensor,
                index: TailIndex, batch_size: int, show_progress: bool,
                types: TypeConstraints | None) -> dict[str, tuple[Tensor, Tensor]]:
    """``{setting: (optimistic, pessimistic)}`` ranks (n,) of the answers of ``queries``."""
    device = params["entity_embedding"].device
    parts: dict[str, list[tuple[Tensor, Tensor]]] = {}
    for start in progress(range(0, len(queries), batch_size), show_progress,
                          desc="evaluate", leave=False):
        batch = queries[start:start + batch_size]
        scores = score_all_tails(params, buffers, batch[:, 0], batch[:, 1], config)  # (B, N)
        _check_finite_scores(scores, batch)
        rows, cols = index.gather(index.lookup(batch[:, 0], batch[:, 1]))
        allowed = types.mask(batch[:, 1]).to(device) if types is not None else None
        ranks = batch_ranks(scores, batch[:, 2].to(device), rows.to(device), cols.to(device),
                             allowed)
        for setting, (opt, pes) in ranks.items():
            parts.setdefault(setting, []).append((opt.cpu(), pes.cpu()))
    return {setting: (torch.cat([p[0] for p in v]), torch.cat([p[1] for p in v]))
            for setting, v in parts.items()}


def _all_ranks(params: Params, buffers: Params, config: ConvEConfig, triples: Tensor,
               filter_triples: Tensor, sides: tuple[str, ...], batch_size: int,
               show_progress: bool, types: TypeConstraints | None, who: str = "filtered_ranks"
               ) -> dict[str, dict[str, tuple[Tensor, Tensor]]]:
    """``{side: {setting: (optimistic, pessimistic)}}``, scoring every query once; ``who``
    names the public caller in messages."""
    if not config.reciprocal:
        raise ValueError(f"{who}: head prediction needs config.reciprocal=True")
    if batch_size < 1:
        raise ValueError(f"{who}: batch_size={batch_size} must be positive")
    bad = [s for s in sides if s not in ("head", "tail")]
    if bad:
        raise ValueError(f"{who}: sides={sides!r}; expected 'head' and/or 'tail'")
    check_finite_params("evaluate", params)
    rows = params["relation_embedding"].shape[0]
    n_ent, n_rel = model_bounds(params, config.reciprocal)
    triples = check_triples(triples, who, "triples", num_entities=n_ent, num_relations=n_rel,
                            device="cpu")
    filter_triples = check_triples(filter_triples, who, "filter_triples", num_entities=n_ent,
                                   num_relations=n_rel, device="cpu")
    if types is not None and types.allowed.shape[0] != rows:
        raise ValueError(f"{who}: type constraints cover {types.allowed.shape[0]} relation rows, "
                         f"the model has {rows}")
    filters = torch.cat([reciprocal_queries(filter_triples, "tail"),
                         reciprocal_queries(filter_triples, "head")])
    index = TailIndex.from_triples(filters, rows)
    return {side: _side_ranks(params, buffers, config, reciprocal_queries(triples, side), index,
                              batch_size, show_progress, types)
            for side in sides}


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
    type_constraints: TypeConstraints | None = None,
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
        type_constraints: when given (:meth:`kgif.data.graph.KnowledgeGraph.type_constraints`),
            the ranks are **type-constrained**: the answer is ranked only among the entities of
            the kinds allowed for the query's relation row (the relation's range for tails, its
            domain for heads), as in Krompass et al. 2015, "Type-constrained representation
            learning in knowledge graphs".

    Returns:
        ``{side: (optimistic, pessimistic)}``, each (n,) int64 in [1, N].

    Raises:
        ValueError: on a non-reciprocal config, a bad side or batch size, type constraints of
            the wrong size, or non-finite parameters or scores (names them).
    """
    ranks = _all_ranks(params, buffers, config, triples, filter_triples, tuple(sides), batch_size,
                       show_progress, type_constraints)
    setting = "filtered" if type_constraints is None else "type_constrained"
    return {side: r[setting] for side, r in ranks.items()}


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


def _side_metrics(ranks: dict[str, dict[str, tuple[Tensor, Tensor]]], side: str
                  ) -> dict[str, float]:
    """Metrics of one side (or both pooled); type-constrained ones under :data:`TC_PREFIX`."""
    parts = list(ranks.values()) if side == "both" else [ranks[side]]
    out: dict[str, float] = {}
    for setting in SETTINGS:
        if setting not in parts[0]:
            continue
        metrics = rank_metrics(torch.cat([p[setting][0] for p in parts]),
                               torch.cat([p[setting][1] for p in parts]))
        prefix = TC_PREFIX if setting == "type_constrained" else ""
        out.update({prefix + k: v for k, v in metrics.items()
                    if not (prefix and k == "num_ranks")})
    return out


def _resolve_types(data, type_constraints: bool | TypeConstraints | None
                   ) -> TypeConstraints | None:
    if isinstance(type_constraints, TypeConstraints):
        return type_constraints
    if type_constraints is False:
        return None
    if not hasattr(data, "type_constraints"):
        if type_constraints:
            raise ValueError("evaluate: type_constraints=True needs a KnowledgeGraph (its node "
                             "table gives the kinds); pass a TypeConstraints for a tensor")
        return None
    if type_constraints is None and not data.entity_kinds:
        return None  # they would equal the filtered metrics
    return data.type_constraints()


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
    type_constraints: bool | TypeConstraints | None = None,
) -> dict[str, float]:
    """Filtered rank-based metrics, equal to PyKEEN's ``RankBasedEvaluator`` (filtered=True).

    For a graph with entity kinds (a node table), type-constrained filtered metrics are reported
    besides the filtered ones, under keys prefixed ``"type_constrained."`` (e.g.
    ``"type_constrained.realistic.mrr"``): the true tail is ranked only among entities of the
    relation's range kinds and the true head among its domain kinds (see
    :func:`filtered_ranks`). Both come from one scoring pass. Without kinds every entity is
    allowed, so they would equal the filtered ones and are left out unless asked for
    (``type_constraints=True``).

    Args:
        params, buffers: ConvE parameters and buffers.
        config: the model hyper-parameters (``reciprocal=True``).
        data: a :class:`kgif.data.graph.KnowledgeGraph` (its ``split`` is ranked) or (n, 3) int64
            (head, base relation, tail) triples.
        filter_triples: (m, 3) base-relation triples to filter with. Default: for a graph,
            train + valid + test (``kg.all_triples()``); for a tensor, the ranked triples only
            (PyKEEN's default without ``additional_filter_triples``).
        side: ``"both"`` (head and tail ranks pooled), ``"head"`` or ``"tail"``.
        split: ``"testing"`` or ``"validation"`` when ``data`` is a graph.
        batch_size: queries scored at once.
        show_progress: tqdm bar.
        type_constraints: ``None`` (default): computed when ``data`` is a graph with entity
            kinds; ``True``: computed for any graph (all entities allowed without kinds);
            ``False``: not computed; a :class:`kgif.data.graph.TypeConstraints`: used as given.

    Returns:
        See :func:`rank_metrics`: ``"realistic.mrr"``, ``"pessimistic.hits@10"``, ..., plus
        the same keys prefixed ``"type_constrained."`` when type constraints are computed.

    Raises:
        ValueError: on an unknown side or split, no triples to rank, or non-finite parameters
            or scores (names the parameters or the query).
    """
    if side not in SIDES:
        raise ValueError(f"evaluate: side={side!r}; expected one of {SIDES}")
    if not hasattr(data, "all_triples"):  # triples (a tensor, array or list), checked later
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
    ranks = _all_ranks(params, buffers, config, triples, filter_triples, sides, batch_size,
                       show_progress, _resolve_types(data, type_constraints), "evaluate")
    return _side_metrics(ranks, side)


def evaluate_all_sides(params: Params, buffers: Params, config: ConvEConfig, triples: Tensor,
                       filter_triples: Tensor, batch_size: int = 256,
                       show_progress: bool = False,
                       type_constraints: TypeConstraints | None = None
                       ) -> dict[str, dict[str, float]]:
    """``{side: metrics}`` for both, head and tail, scoring every query once.

    With ``type_constraints`` (:meth:`kgif.data.graph.KnowledgeGraph.type_constraints`) each side
    also holds the ``"type_constrained."`` metrics (see :func:`evaluate`).
    """
    ranks = _all_ranks(params, buffers, config, triples, filter_triples, ("head", "tail"),
                       batch_size, show_progress, type_constraints, "evaluate_all_sides")
    return {side: _side_metrics(ranks, side) for side in SIDES}
