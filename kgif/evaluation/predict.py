"""Link prediction with a trained ConvE: the top-k answers of ``(h, r, ?)`` and ``(?, r, t)``.

A tail query ``(h, r, ?)`` scores every entity as the tail with the 1-N ConvE scores
``s = E f(h, r) + b`` (Dettmers et al., AAAI 2018) of :func:`kgif.model.conve.score_all_tails`
in eval mode (dropout off, BatchNorm running statistics). A head query ``(?, r, t)`` is the
tail query ``(t, r^-1, ?)`` on the reciprocal relation row ``2r + 1`` (PyKEEN's numbering, see
:mod:`kgif.data.datasets`). Candidates are, by default, restricted to the relation's range (tail
queries) or domain (head queries) kinds (:meth:`kgif.data.graph.KnowledgeGraph.type_mask`), and
edges already in train, valid or test ("known") are removed; with ``filter_known=False`` they
stay and are marked ``known=True``. Candidates are ranked by decreasing logit; equal logits are
ordered by increasing entity id, so the output is deterministic.

Each prediction is a plain dict (:data:`PREDICTION_COLUMNS`), so ``pandas.DataFrame(rows)``
takes a list of them. :mod:`kgif.explanation.tables` writes, reads and prints them
(:func:`~kgif.explanation.tables.write_predictions`,
:func:`~kgif.explanation.tables.format_predictions`).
"""

from __future__ import annotations

import logging
import math
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from kgif._progress import progress
from kgif.data.graph import KnowledgeGraph
from kgif.data.triple_lists import iter_list_rows
from kgif.data.validate import check_count
from kgif.model.checkpoint import Checkpoint, check_compatible, load_checkpoint
from kgif.model.conve import score_all_tails

__all__ = ["PREDICTION_COLUMNS", "SIDES", "Query", "make_query", "predict",
           "predict_batch", "read_queries"]

logger = logging.getLogger(__name__)

#: Which side a query asks for: ``"tail"`` for ``(h, r, ?)``, ``"head"`` for ``(?, r, t)``.
SIDES = ("tail", "head")

#: Fields of every prediction row, in CSV column order.
PREDICTION_COLUMNS = (
    "query", "side", "rank", "entity", "entity_label", "entity_name", "entity_kind",
    "logit", "probability", "known",
    "head", "relation", "tail", "head_label", "relation_label", "tail_label",
    "head_name", "relation_name", "tail_name", "head_kind", "tail_kind",
)


@dataclass(frozen=True)
class Query:
    """One link-prediction query.

    Attributes:
        entity: the given entity id (the head of a tail query, the tail of a head query).
        relation: base relation id ``0..R-1``.
        side: the side asked for, ``"tail"`` (``(entity, relation, ?)``) or ``"head"``
            (``(?, relation, entity)``).
    """

    entity: int
    relation: int
    side: str

    def describe(self, kg: KnowledgeGraph) -> str:
        """``"Doxorubicin --TREATS_CtD--> ?"`` (or ``"? --r--> name"``)."""
        given = kg.entity_name(self.entity)
        rel = kg.relation_label(self.relation)
        return f"{given} --{rel}--> ?" if self.side == "tail" else f"? --{rel}--> {given}"


def make_query(kg: KnowledgeGraph, head: str | int | None, relation: str | int,
               tail: str | int | None) -> Query:
    """A :class:`Query` from labels, ids or display names; exactly one of head/tail is None.

    Raises:
        ValueError: both or neither of ``head`` and ``tail`` given.
        KeyError: unknown entity or relation (with suggestions, see
            :meth:`kgif.data.graph.KnowledgeGraph.resolve_entity`).
    """
    if (head is None) == (tail is None):
        raise ValueError(f"make_query: give exactly one of head and tail (got head={head!r}, "
                         f"tail={tail!r}); the other side is predicted")
    r = kg.resolve_relation(relation)
    if head is not None:
        return Query(kg.resolve_entity(head), r, "tail")
    if tail is not None:
        return Query(kg.resolve_entity(tail), r, "head")
    raise AssertionError("make_query: unreachable, exactly one side was checked above")


def _relation_row(ckpt: Checkpoint, query: Query) -> int:
    """Row of the relation table that scores ``query`` (``2r``/``2r + 1`` with reciprocals)."""
    if not ckpt.config.reciprocal:
        if query.side == "head":
            raise ValueError("predict: head prediction needs a model with reciprocal relations "
                             "(config.reciprocal=True)")
        return query.relation
    return 2 * query.relation + (query.side == "head")


def _known(kg: KnowledgeGraph, triples: Tensor, query: Query) -> Tensor:
    """``(N,)`` bool: answers of ``query`` already in ``triples`` (train + valid + test)."""
    given, answer = (0, 2) if query.side == "tail" else (2, 0)
    hit = (triples[:, given] == query.entity) & (triples[:, 1] == query.relation)
    known = torch.zeros(kg.num_entities, dtype=torch.bool)
    known[triples[hit, answer]] = True
    return known


def _scores(ckpt: Checkpoint, queries: Sequence[Query]) -> Tensor:
    """``(B, N)`` eval-mode logits of every entity as the answer of each query (on the CPU)."""
    given = torch.tensor([q.entity for q in queries], dtype=torch.long)
    rows = torch.tensor([_relation_row(ckpt, q) for q in queries], dtype=torch.long)
    return score_all_tails(ckpt.params, ckpt.buffers, given, rows, ckpt.config).cpu()


def _sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x|."""
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _row(kg: KnowledgeGraph, index: int, query: Query, rank: int, entity: int, logit: float,
         known: bool) -> dict:
    h, t = (query.entity, entity) if query.side == "tail" else (entity, query.entity)
    r = query.relation
    return {
        "query": index, "side": query.side, "rank": rank, "entity": entity,
        "entity_label": kg.entity_label(entity), "entity_name": kg.entity_name(entity),
        "entity_kind": kg.entity_kind(entity), "logit": logit, "probability": _sigmoid(logit),
        "known": known, "head": h, "relation": r, "tail": t,
        "head_label": kg.entity_label(h), "relation_label": kg.relation_label(r),
        "tail_label": kg.entity_label(t), "head_name": kg.entity_name(h),
        "relation_name": kg.relation_name(r), "tail_name": kg.entity_name(t),
        "head_kind": kg.entity_kind(h), "tail_kind": kg.entity_kind(t),
    }


def _rank(kg: KnowledgeGraph, index: int, query: Query, scores: Tensor, known: Tensor, k: int,
          filter_known: bool, type_constrained: bool) -> list[dict]:
    """The top-``k`` rows of one query from its ``(N,)`` scores."""
    bad = ~torch.isfinite(scores)
    if bad.any():
        raise ValueError(f"predict: query {index} ({query.describe(kg)}) has non-finite scores "
                         f"for {int(bad.sum())} of {len(scores)} entities (e.g. entity "
                         f"{kg.entity_label(int(bad.nonzero()[0]))!r}); the checkpoint is "
                         "broken or diverged")
    allowed = torch.ones_like(known)
    if type_constrained:
        allowed &= kg.type_mask(query.relation, query.side)
    if filter_known:
        allowed &= ~known
    candidates = allowed.nonzero().flatten()  # ascending ids
    if len(candidates) < k:
        logger.warning("predict: query %d (%s) has %d candidate answers, fewer than k = %d",
                       index, query.describe(kg), len(candidates), k)
    order = torch.sort(scores[candidates], descending=True, stable=True).indices[:k]
    chosen = candidates[order].tolist()  # stable sort: equal logits keep the smaller id first
    return [_row(kg, index, query, rank, e, float(scores[e]), bool(known[e]))
            for rank, e in enumerate(chosen, 1)]


def _is_integer(value: Any) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _check_query(kg: KnowledgeGraph, index: int, query: Query) -> None:
    if query.side not in SIDES:
        raise ValueError(f"predict: query {index} has side={query.side!r}, expected one of "
                         f"{SIDES}")
    for name in ("entity", "relation"):
        value = getattr(query, name)
        if isinstance(value, bool) or not _is_integer(value):
            raise ValueError(f"predict: query {index} has {name}={value!r}; expected an integer "
                             "id")
    if not (0 <= query.entity < kg.num_entities and 0 <= query.relation < kg.num_relations):
        raise ValueError(f"predict: query {index} ({query}) names an id outside the graph "
                         f"({kg.num_entities} entities, {kg.num_relations} relations)")


def _as_checkpoint(checkpoint: Checkpoint | str | os.PathLike) -> Checkpoint:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    return load_checkpoint(checkpoint)


def predict_batch(checkpoint: Checkpoint | str | os.PathLike, kg: KnowledgeGraph,
                  queries: Sequence[Query], k: int = 20, *, filter_known: bool = True,
                  type_constrained: bool = True, batch_size: int = 256,
                  show_progress: bool = False) -> list[dict]:
    """Top-``k`` answers of many queries, scored ``batch_size`` queries at a time.

    Args:
        checkpoint: a :class:`~kgif.model.checkpoint.Checkpoint` or a path to one.
        kg: the graph the model was trained on (id maps are checked).
        queries: :class:`Query` objects (see :func:`make_query`).
        k: answers per query (fewer when fewer candidates remain).
        filter_known: drop answers whose edge is in train, valid or test; when False they
            are kept and marked ``known=True``.
        type_constrained: only entities of the relation's range (tail queries) or domain
            (head queries) kinds, :meth:`~kgif.data.graph.KnowledgeGraph.type_mask`.
        batch_size: queries scored at once (memory: ``batch_size x N`` logits).
        show_progress: tqdm bar over the batches.

    Returns:
        Rows with :data:`PREDICTION_COLUMNS`, query by query (``query`` = its index in
        ``queries``), each by rank 1..k: ``logit`` is the model's score (float), ``probability``
        its sigmoid, ``known`` whether the edge is in the graph.

    Raises:
        ValueError: ``k`` or ``batch_size`` not an integer >= 1; checkpoint and graph do not match
            (:func:`kgif.model.checkpoint.check_compatible`); a query with a bad side or id; head
            prediction without reciprocal relations; a query whose scores are not all finite
            (named).
    """
    k = check_count(k, "predict", "k")
    batch_size = check_count(batch_size, "predict", "batch_size")
    ckpt = _as_checkpoint(checkpoint)
    check_compatible(ckpt, kg)
    for i, query in enumerate(queries):
        _check_query(kg, i, query)
    if not queries:
        return []
    triples = kg.all_triples()
    rows: list[dict] = []
    for start in progress(range(0, len(queries), batch_size), show_progress,
                          desc="predict", leave=False):
        batch = queries[start:start + batch_size]
        scores = _scores(ckpt, batch)  # (B, N), one batch in memory at a time
        for j, query in enumerate(batch):
            rows += _rank(kg, start + j, query, scores[j], _known(kg, triples, query), k,
                          filter_known, type_constrained)
    logger.info("predict: %d queries, %d predictions", len(queries), len(rows))
    return rows


def predict(checkpoint: Checkpoint | str | os.PathLike, kg: KnowledgeGraph, *,
            head: str | int | None = None, relation: str | int, tail: str | int | None = None,
            k: int = 20, filter_known: bool = True, type_constrained: bool = True
            ) -> list[dict]:
    """Top-``k`` tails of ``(head, relation, ?)``, or heads of ``(?, relation, tail)``.

    Entities and the relation are labels, ids or unique display names (``"Doxorubicin"``).
    See :func:`predict_batch` for the arguments, the rows returned and the errors raised.

    Example::

        rows = predict("runs/hetionet/best.pt", load_dataset("hetionet"),
                       head="Doxorubicin", relation="TREATS_CtD", k=10)
        pandas.DataFrame(rows)[["rank", "entity_name", "probability"]]
    """
    query = make_query(kg, head, relation, tail)
    return predict_batch(checkpoint, kg, [query], k, filter_known=filter_known,
                         type_constrained=type_constrained)


#: The placeholder for the side to predict in a query file.
WILDCARD = "?"


def _parse_query_line(kg: KnowledgeGraph, fields: list[str], where: str) -> Query:
    if len(fields) != 3:
        raise ValueError(f"read_queries: {where} has {len(fields)} tab-separated fields, "
                         f"expected 3 (head, relation, tail, with {WILDCARD!r} on the side "
                         "to predict)")
    head, relation, tail = (x.strip() for x in fields)
    if (head == WILDCARD) == (tail == WILDCARD):
        raise ValueError(f"read_queries: {where}: put {WILDCARD!r} in exactly one of the head "
                         f"and tail columns, got {head!r} and {tail!r}")
    try:
        return make_query(kg, None if head == WILDCARD else head, relation,
                          None if tail == WILDCARD else tail)
    except KeyError as error:
        raise KeyError(f"read_queries: {where}: {error.args[0]}") from error



def read_queries(path: str | os.PathLike, kg: KnowledgeGraph) -> list[Query]:
    """Read a query file: one ``head<TAB>relation<TAB>tail`` line per query, ``?`` for the
    side to predict (``Doxorubicin<TAB>TREATS_CtD<TAB>?``, ``?<TAB>TREATS_CtD<TAB>asthma``).

    Fields are labels, ids or unique display names, matched as
    :meth:`~kgif.data.graph.KnowledgeGraph.resolve_entity` does. Blank lines and lines starting with
    ``#`` are skipped, as in every list of triples (:mod:`kgif.data.triple_lists`). The file is
    UTF-8 text, plain or ``.gz``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line without three fields or without exactly one ``?`` (file and line
            named); invalid UTF-8; no query in the file.
        KeyError: an unknown entity or relation (file and line named, with suggestions).
    """
    queries = [_parse_query_line(kg, fields, f"line {lineno} of {path}")
               for lineno, fields in iter_list_rows(path, "read_queries")]
    if not queries:
        raise ValueError(f"read_queries: {path} holds no query")
    return queries
