"""The one top-k of kgif: streaming, mergeable, with one tie rule and NaN refused.

Rule: per row, the k entries with the largest scores (proponents) or the smallest (opponents);
equal scores are ordered by the smaller candidate id, whatever order the ids arrive in. Rows
with fewer than k valid entries are padded to width k with index -1 and score NaN, so every
result is (n_rows, k). Scores must be finite: a NaN compares false with everything, so a sort
could rank it first; :class:`TopK` refuses it instead (one ``isfinite().all()`` per update,
which is one host synchronisation per batch on a GPU).

Threshold pre-filter: an update first drops every entry that cannot enter the result, so
only a few candidates per row are sorted instead of the whole (n_rows, B) block. An entry
strictly worse than the row's running k-th value, or than the k-th best entry of its own
batch (found with ``torch.topk``, no sort), has at least k entries ranked above it; entries
*equal* to the threshold are kept, since the id rule may still rank them in. The survivors are
packed into an (n_rows, M) block (M = the most survivors of any row) and merged by the same two
stable sorts as before, so the result is bit-identical to sorting everything
(``tests/influence/test_topk_prefilter.py`` checks it on random, tied, all-equal and masked inputs).

:class:`kgif.influence.tracin.TracIn` streams training batches through :class:`TopK`;
:mod:`kgif.influence.distributed` merges per-shard results with :func:`merge_topk`, which is
the same update applied to the gathered parts, so both give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["KMostInfluentialResults", "TopK", "merge_topk", "pad_topk", "signed_topk"]


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


def _pack(scores: Tensor, ids: Tensor, keep: Tensor, fill: float) -> tuple[Tensor, Tensor]:
    """(n_rows, M) scores and ids of the ``keep`` entries of each row, in their column order;
    M is the largest count of a row, shorter rows are padded with ``fill`` and id -1."""
    width = int(keep.sum(1).max()) if keep.numel() else 0
    rows, cols = keep.nonzero(as_tuple=True)
    slots = (keep.cumsum(1) - 1)[rows, cols]
    values = scores.new_full((scores.shape[0], width), fill)
    packed = torch.full((scores.shape[0], width), -1, dtype=ids.dtype, device=ids.device)
    values[rows, slots] = scores[rows, cols]
    packed[rows, slots] = ids[rows, cols]
    return values, packed


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
        scores, ids = _pack(scores, ids, self._candidates(scores, valid), self.fill)
        values = torch.cat([self.values, scores], 1)
        ids = torch.cat([self.indices, ids], 1)
        order = _rank_order(values, ids, self.largest)[:, : self.k]
        self.values, self.indices = values.gather(1, order), ids.gather(1, order)

    def _candidates(self, scores: Tensor, valid: Tensor | None) -> Tensor:
        """(n_rows, B) bool: valid entries not worse than the row's threshold, the worse of
        the running k-th value and the batch's own k-th value (``fill`` while fewer exist)."""
        threshold = scores.new_full((scores.shape[0],), self.fill)
        if self.values.shape[1] == self.k:
            threshold = self.values[:, -1]
        if scores.shape[1] >= self.k:
            kth = scores.topk(self.k, dim=1, largest=self.largest, sorted=False).values
            best = kth.min(1).values if self.largest else kth.max(1).values
            threshold = torch.maximum(threshold, best) if self.largest \
                else torch.minimum(threshold, best)
        keep = scores >= threshold[:, None] if self.largest else scores <= threshold[:, None]
        return keep if valid is None else keep & valid

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


def signed_topk(result: KMostInfluentialResults, largest: bool) -> KMostInfluentialResults:
    """Keep only the entries whose score has the side's sign: > 0 for proponents, < 0 for
    opponents; the others become padding (index -1, score NaN).

    A top-k list is sorted (descending for proponents, ascending for opponents), so the kept
    entries are a prefix of each row and the result is again a valid, padded top-k list: the
    ``min(k, m)`` highest-scoring of the ``m`` edges with positive (or negative) influence.
    Captum's ``TracInCP.influence(k=...)`` and :meth:`kgif.influence.tracin.TracIn.top_influences`
    return the k largest and k smallest scores whatever their sign; this is the selection that
    makes "opponent" mean an edge that pushed the prediction down (negative TracIn score,
    Pruthi et al. 2020, section 2) and "proponent" one that pushed it up.

    Args:
        result: (T, k) indices and scores of one side.
        largest: proponents (True) or opponents (False).

    Returns:
        (T, k) indices and scores of the same side, padded where an entry had the wrong sign
        (or was zero).
    """
    scores = result.influence_scores
    keep = (scores > 0) if largest else (scores < 0)  # NaN padding compares False
    keep &= result.indices >= 0
    return KMostInfluentialResults(result.indices.masked_fill(~keep, -1),
                                   scores.masked_fill(~keep, float("nan")))
