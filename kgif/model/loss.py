"""Losses: the sparse 1-N BCE used for training, and per-triple objectives for attribution.

Training (1-N scoring, "KvsAll"): each (h, r) row scores all N entities; its positives are all
known tails of the row, given as *indices* (CSR-style ``pos_rows``/``pos_cols``), never as a
dense B x N label matrix. With element-wise BCE(s, y) = softplus(s) - y s and smoothed targets
y'_j = a [j in P] + c (P the row's positives) the row loss is

    sum_j softplus(s_j) - a sum_{j in P} s_j - c sum_j s_j.

Label-smoothing conventions (epsilon = smoothing):

* ``"pykeen"`` (default): y' = (1 - eps) y + eps / (N - 1) (1 - y), PyKEEN's
  ``apply_label_smoothing``; so a = 1 - eps - eps / (N - 1), c = eps / (N - 1).
* ``"conve"``: y' = (1 - eps) y + 1 / N, Dettmers et al.'s reference ConvE implementation
  (``main.py``); so a = 1 - eps, c = 1 / N.

Attribution (docs/derivations.md section 2): an objective is a function of one triple's score vector
s = E f + b, and is characterised by u = dl/ds, which is always autograd of the objective's
loss (never a second hand-written formula). ``score`` and ``pointwise_bce`` have a one-hot
u = c(s_t) e_t and never need the N-entity score vector; ``bce_1n`` has a dense u.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "OBJECTIVES",
    "DenseObjective",
    "OneHotObjective",
    "Objective",
    "bce_1n",
    "get_objective",
    "pointwise_bce",
    "score",
    "smoothing_coefficients",
    "sparse_bce_with_logits",
]

Smoothing = Literal["pykeen", "conve"]


def smoothing_coefficients(
    label_smoothing: float, num_entities: int, convention: Smoothing = "pykeen"
) -> tuple[float, float]:
    """(a, c) with smoothed target y' = a * y + c for a 0/1 label y.

    Raises:
        ValueError: on an unknown convention, epsilon outside [0, 1), or fewer than 2 entities.
    """
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing={label_smoothing} is outside [0, 1)")
    if num_entities < 2:
        raise ValueError(f"label smoothing needs at least 2 entities, got {num_entities}")
    eps = label_smoothing
    if convention == "pykeen":
        off = eps / (num_entities - 1)
        return 1.0 - eps - off, off
    if convention == "conve":
        return 1.0 - eps, 1.0 / num_entities
    raise ValueError(f"unknown label-smoothing convention {convention!r}; use 'pykeen' or 'conve'")


def sparse_bce_with_logits(
    logits: Tensor,
    pos_rows: Tensor,
    pos_cols: Tensor,
    label_smoothing: float = 0.0,
    convention: Smoothing = "pykeen",
    reduction: Literal["mean", "sum"] = "mean",
    row_weight: Tensor | None = None,
) -> Tensor:
    """1-N binary cross-entropy with K-hot labels given as indices.

    Equals ``F.binary_cross_entropy_with_logits(logits, y_smoothed, reduction=reduction)`` for
    the dense smoothed labels, without building them (Dettmers et al. 2018, 1-N scoring;
    smoothing conventions in the module docstring).

    Args:
        logits: (B, N) float scores of every entity for each (h, r) row.
        pos_rows: (P,) int64 row index of each positive, in [0, B).
        pos_cols: (P,) int64 entity id of each positive, in [0, N). The (row, col) pairs must be
            unique (duplicates would count twice); K may differ per row, and a row may have none.
        label_smoothing: epsilon in [0, 1).
        convention: ``"pykeen"`` (default) or ``"conve"``.
        reduction: ``"mean"`` over all B * N elements (PyKEEN's and torch's default) or ``"sum"``.
        row_weight: optional (B,) float weight of each row's B-N terms (torch's ``weight=``
            argument broadcast over the row); the ``"mean"`` still divides by B * N, so a row
            of weight 0 contributes nothing and leaves the others' gradients unchanged
            (:func:`kgif.training.loop.train` with ``keep_rows_of``).

    Returns:
        0-dim tensor, dtype of ``logits``.

    Raises:
        ValueError: on a bad ``reduction``, ``convention`` or ``label_smoothing``.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"sparse_bce_with_logits: reduction={reduction!r}, expected mean/sum")
    a, c = smoothing_coefficients(label_smoothing, logits.shape[1], convention)
    if row_weight is None:
        total = F.softplus(logits).sum() - a * logits[pos_rows, pos_cols].sum()
        if c:
            total = total - c * logits.sum()
    else:
        w = row_weight.to(logits.dtype)
        per_row = F.softplus(logits).sum(1)
        if c:
            per_row = per_row - c * logits.sum(1)
        total = (w * per_row).sum() - a * (w[pos_rows] * logits[pos_rows, pos_cols]).sum()
    return total / logits.numel() if reduction == "mean" else total


# --------------------------------------------------------------------------- objectives


def _autograd_derivative(loss: Tensor, s: Tensor) -> Tensor:
    (d,) = torch.autograd.grad(loss.sum(), s)
    return d


@dataclass(frozen=True)
class OneHotObjective:
    """A per-triple objective l(s_t) of the triple's own logit; u = dl/ds = l'(s_t) e_t.

    Only the loss is written by hand; the derivative l'(s_t) is autograd of it
    (:meth:`coefficient`), so the two cannot disagree.

    Attributes:
        name: registry name.
        loss: maps (B,) logits s_t to (B,) losses, element-wise (example b's loss depends on
            s_t[b] only).
        kind: ``"loss"`` (smaller is better) or ``"score"`` (larger is better).
    """

    name: str
    loss: Callable[[Tensor], Tensor]
    kind: Literal["loss", "score"] = "loss"
    one_hot: Literal[True] = True

    def coefficient(self, s_t: Tensor) -> Tensor:
        """(B,) l'(s_t), by autograd of :attr:`loss` (differentiable input not needed)."""
        with torch.enable_grad():
            s_t = s_t.detach().requires_grad_(True)
            return _autograd_derivative(self.loss(s_t), s_t)


@dataclass(frozen=True)
class DenseObjective:
    """A per-triple objective l(s, t) of the full score vector, with dense u = dl/ds.

    Only the loss is written by hand; u is autograd of it (:meth:`u`).

    Attributes:
        name: registry name.
        loss: maps (B, N) logits and (B,) int64 tails to (B,) losses, row by row.
        kind: as :class:`OneHotObjective`.
    """

    name: str
    loss: Callable[[Tensor, Tensor], Tensor]
    kind: Literal["loss", "score"] = "loss"
    one_hot: Literal[False] = False

    def u(self, s: Tensor, t: Tensor) -> Tensor:
        """(B, N) dl/ds of each row, by autograd of :attr:`loss`."""
        with torch.enable_grad():
            s = s.detach().requires_grad_(True)
            return _autograd_derivative(self.loss(s, t), s)


Objective = OneHotObjective | DenseObjective


def score() -> OneHotObjective:
    """l = s_t, the triple's logit; u = e_t.

    As a *training* objective (docs/derivations.md section 2, docs/tracin.md): with the
    sparse 1-N BCE of :func:`sparse_bce_with_logits` (reduction ``"sum"``), removing an edge
    (h, r, t) from the training set changes the loss of row (h, r) by exactly +a s_t (a from
    :func:`smoothing_coefficients`), so its gradient is a times the gradient of s_t, but
    **only when the row keeps another positive**. When t is the row's only known tail, the
    whole row leaves the training set and the loss loses sum_j softplus(s_j) - a s_t -
    c sum_j s_j instead, which ``score`` does not represent (29.9 % of FB15k-237's edges and
    77.6 % of WN18RR's are such edges). With reduction ``"mean"`` both carry a 1/(B N) factor.
    Its ``kind`` is ``"score"`` (a gain): TracIn flips the sign of a pair whose two objectives
    are of different kinds, so that proponents stay positive.
    """
    return OneHotObjective("score", loss=lambda s: s, kind="score")


def pointwise_bce() -> OneHotObjective:
    """l = -log sigmoid(s_t) = softplus(-s_t); u = -sigmoid(-s_t) e_t (the seed project's)."""
    return OneHotObjective("pointwise_bce", loss=lambda s: F.softplus(-s))


def bce_1n(label_smoothing: float = 0.0, convention: Smoothing = "pykeen") -> DenseObjective:
    """l = mean over N entities of BCE(s, y'), y' the smoothed one-hot of t alone.

    u = (sigmoid(s) - y') / N is dense. As a test objective it is the loss of ranking t
    against every entity. As a *training* objective it is NOT the 1-N training loss of the
    row (h, r): it treats the row's other known tails as negatives, and summed over the K
    edges of a row it repeats the row's negative terms K times (docs/tracin.md).

    Args:
        label_smoothing: epsilon in [0, 1).
        convention: ``"pykeen"`` or ``"conve"`` (see :func:`smoothing_coefficients`).
    """

    def loss(s: Tensor, t: Tensor) -> Tensor:
        a, c = smoothing_coefficients(label_smoothing, s.shape[-1], convention)
        # a comparison, not F.one_hot, which checks its input and so breaks under vmap
        one_hot = (torch.arange(s.shape[-1], device=s.device) == t[..., None]).to(s.dtype)
        return (F.softplus(s) - (a * one_hot + c) * s).mean(-1)

    return DenseObjective("bce_1n", loss=loss)


#: Built-in objectives by name (with default settings).
OBJECTIVES: dict[str, Callable[[], Objective]] = {
    "score": score,
    "pointwise_bce": pointwise_bce,
    "bce_1n": bce_1n,
}


def get_objective(objective: str | Objective) -> Objective:
    """Return an objective instance from a name in :data:`OBJECTIVES` or pass one through.

    Raises:
        ValueError: on an unknown name (the message lists the known ones).
    """
    if isinstance(objective, OneHotObjective | DenseObjective):
        return objective
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[objective]()
