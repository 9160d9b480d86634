"""The one top-k of kgif: streaming, mergeable, with one tie rule and NaN refused.

Rule: per row, the k entries with the largest scores (proponents) or the smallest (opponents);
equal scores are ordered by the smaller candidate id, whatever order the ids arrive in. Rows
with fewer than k valid entries are padded to width k with index -1 and score NaN, so every
result is (n_rows, k). Scores must be finite: a NaN compares false with everything, so a sort
could rank it first; :class:`TopK` refuses it instead (one ``isfinite().all()`` per update,
which is one host synchronisation per batch on a GPU).

:class:`kgif.influence.tracin.TracIn` streams training batches through :class:`TopK`;
:mod:`kgif.influence.distributed` merges per-shard results with :func:`merge_topk`, which is
the same update applied to the gathered parts, so both give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["KMostInfluentialResults", "TopK", "merge_topk", "pad_topk"]


class KMostInfluentialResults(NamedTuple):
    """Top-k training edges per test triple (Captum's name and field order).

    Attributes:
        indices: (n_test, k) int64 rows of the training triples; -1 marks padding.
        influence_scores: (n_test, k) TracIn scores, sorted (descending for proponents,
            ascending for opponents); NaN marks padding.
    """

    indices: Tensor
    influence_scores: Tensor


def _rank_order(values: Tensor, ids: Tensor, largest: bool) -> Tensor:
    """(R, M) column order of the rule: score first, then the smaller id (two stable sorts)."""
    by_id = torch.sort(ids, dim=1, stable=True).indices
    by_score = torch.sort(values.gather(1, by_id), dim=1, descending=largest, stable=True).indices
    return by_id.gather(1, by_score)


class TopK:
    """Streaming top-k per row: memory (n_rows, k + batch), independent of the stream length.

    Args:
        n_rows: rows (test triples).
        k: entries kept per row (>= 1).
        largest: proponents (True) or opponents (False).
        like: a tensor whose dtype and device the scores have.

    Raises:
        ValueError: on ``k < 1``.
    """

    def __init__(self, n_rows: int, k: int, largest: bool, like: Tensor):
        if k < 1:
            raise ValueError(f"TopK: k={k} must be positive")
        self.k, self.largest = k, largest
        self.fill = float("-inf") if largest else float("inf")  # masked entries sort last
        self.values = like.new_empty(n_rows, 0)
        self.indices = torch.empty(n_rows, 0, dtype=torch.long, device=like.device)

    def update(self, scores: Tensor, ids: Tensor, valid: Tensor | None = None) -> None:
        """Merge a batch.

        Args:
            scores: (n_rows, B) scores.
            ids: (B,) or (n_rows, B) int64 candidate ids, in any order.
            valid: optional (n_rows, B) bool; False entries are ignored (a candidate filter).

        Raises:
            ValueError: if a valid score is NaN or infinite.
        """
        finite = torch.isfinite(scores) if valid is None else torch.isfinite(scores) | ~valid
        if not bool(finite.all()):
            raise ValueError("TopK: non-finite influence scores; a NaN would rank first")
        ids = ids.to(self.indices.device).expand(scores.shape[0], -1)
        if valid is not None:
            scores = scores.masked_fill(~valid, self.fill)
            ids = ids.masked_fill(~valid, -1)
        values = torch.cat([self.values, scores], 1)
        ids = torch.cat([self.indices, ids], 1)
        order = _rank_order(values, ids, self.largest)[:, : self.k]
        self.values, self.indices = values.gather(1, order), ids.gather(1, order)

    def result(self) -> KMostInfluentialResults:
        """(n_rows, k) indices and scores, padded with -1 / NaN where fewer than k are valid."""
        padded = pad_topk(KMostInfluentialResults(self.indices, self.values), self.k)
        missing = padded.indices < 0
        return KMostInfluentialResults(padded.indices,
                                       padded.influence_scores.masked_fill(missing, float("nan")))


def pad_topk(result: KMostInfluentialResults, k: int) -> KMostInfluentialResults:
    """Pad (T, k') results to exactly (T, k) with index -1 and score NaN (k' <= k)."""
    missing = k - result.indices.shape[1]
    indices = torch.nn.functional.pad(result.indices, (0, missing), value=-1)
    scores = torch.nn.functional.pad(result.influence_scores, (0, missing), value=float("nan"))
    return KMostInfluentialResults(indices, scores)


def merge_topk(parts: Sequence[KMostInfluentialResults], k: int,
               largest: bool) -> KMostInfluentialResults:
    """Exact top-k of several top-k lists of the same rows (e.g. one per shard).

    The result equals the top-k of the union of the parts' entries under the rule of this
    module (every entry of the global top-k is in the top-k of its own part); padding (index
    -1) is ignored.

    Args:
        parts: results with (T, k_s) indices and scores each.
        k: how many to keep.
        largest: proponents (True) or opponents (False).

    Returns:
        (T, k) indices and scores, padded with -1 / NaN.
    """
    first = parts[0].influence_scores
    top = TopK(first.shape[0], k, largest, first)
    for part in parts:
        top.update(part.influence_scores, part.indices, valid=part.indices >= 0)
    return top.result()
