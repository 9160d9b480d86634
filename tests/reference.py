"""The float64 plain-autograd TracIn reference shared by the tests.

It uses none of kgif's gradient code (no structured per-sample gradients, no kernels, no
engines, no vmap): one example at a time, dense ``(1, N)`` scores from
:func:`kgif.model.conve.score_all` and ``torch.autograd.grad``. TracInCP (Pruthi et al. 2020,
eq. 3) is then ``sum_k eta_k * sign * <g_train, g_test>`` over the checkpoints k, where a
training edge's gradient sums its two directions ``(h, 2r, t)`` and ``(t, 2r + 1, h)`` (reciprocal
relations) and a test triple has only its tail prediction ``(h, 2r, t)``; ``sign`` is -1 when
the training and test objectives are of different kinds (a score and a loss). Normalisations:
``"cosine"`` divides each term by ``|g_train| |g_test|``; ``"relatif"`` divides the sum by the
square root of the training edge's self-influence (RelatIF, Barshan et al. 2020).
"""

from __future__ import annotations

import torch
from torch import Tensor

from kgif.model.conve import hidden, score_all
from kgif.model.loss import get_objective

__all__ = ["examples", "reference_grad", "reference_influence", "reference_self_influence"]


def examples(config, triple, test: bool) -> list[tuple[int, int, int]]:
    """The ``(head, relation row, tail)`` examples of a triple with base relation ``r``.

    A test triple is its tail prediction; a training edge is both directions when the model
    has reciprocal relations. Without reciprocal relations the relation id is the row.
    """
    h, r, t = (int(v) for v in triple)
    if not config.reciprocal:
        return [(h, r, t)]
    return [(h, 2 * r, t)] if test else [(h, 2 * r, t), (t, 2 * r + 1, h)]


def _example_grad(ckpt, example, objective, names) -> Tensor:
    """Flat gradient over ``names`` of one example's objective, plain autograd."""
    leaf = {k: v.detach().clone().requires_grad_(k in names) for k, v in ckpt.params.items()}
    h, r, t = (torch.tensor([v]) for v in example)
    f, _ = hidden(leaf, ckpt.buffers, h, r, ckpt.config)
    s = score_all(leaf, f)  # (1, N): the reference does not exploit one-hot structure
    loss = objective.loss(s[0, t]) if objective.one_hot else objective.loss(s, t)
    grads = torch.autograd.grad(loss.sum(), [leaf[n] for n in names])
    return torch.cat([g.flatten() for g in grads])


def reference_grad(ckpt, triple, objective, names=None, test: bool = False) -> Tensor:
    """Flat float64 gradient of a triple (summed over :func:`examples`).

    Args:
        ckpt: a :class:`kgif.model.checkpoint.Checkpoint` (float64 for a float64 reference).
        triple: ``(head, base relation, tail)``; with ``test=False`` and a non-reciprocal
            model, or whenever passed pre-expanded, the ids are used as given.
        objective: an objective name or object (:func:`kgif.model.loss.get_objective`).
        names: parameter names to differentiate (default: every parameter).
        test: a test triple (tail prediction only) rather than a training edge.
    """
    objective = get_objective(objective) if isinstance(objective, str) else objective
    names = list(ckpt.params) if names is None else list(names)
    return sum(_example_grad(ckpt, ex, objective, names)
               for ex in examples(ckpt.config, triple, test))


def reference_influence(ckpts, test: Tensor, train: Tensor, train_objective,
                        test_objective=None, names=None, normalize: str | None = None) -> Tensor:
    """(T, n) float64 TracInCP scores of the training edges on the test triples.

    Args:
        ckpts: checkpoints with their learning rates.
        test: (T, 3) int64 test triples (base relation ids).
        train: (n, 3) int64 training edges (base relation ids).
        train_objective, test_objective: objective names (test default: the training one).
        names: parameter names (default: every parameter).
        normalize: None, ``"cosine"`` or ``"relatif"`` (see the module docstring).
    """
    train_obj = get_objective(train_objective)
    test_obj = get_objective(test_objective or train_objective)
    sign = 1.0 if train_obj.kind == test_obj.kind else -1.0
    scores = torch.zeros(len(test), len(train), dtype=torch.float64)
    for ckpt in ckpts:
        g_test = [reference_grad(ckpt, z, test_obj, names, test=True) for z in test.tolist()]
        for i, z_train in enumerate(train.tolist()):
            g_edge = reference_grad(ckpt, z_train, train_obj, names)
            for j, g in enumerate(g_test):
                dot = torch.dot(g_edge, g)
                if normalize == "cosine":
                    dot = dot / (g_edge.norm() * g.norm())
                scores[j, i] += sign * ckpt.learning_rate * dot
    if normalize == "relatif":
        scores = scores / reference_self_influence(ckpts, train, train_objective, names).sqrt()
    return scores


def reference_self_influence(ckpts, train: Tensor, objective, names=None) -> Tensor:
    """(n,) float64 self-influence ``sum_k eta_k |g_edge|^2`` of each training edge."""
    out = torch.zeros(len(train), dtype=torch.float64)
    for ckpt in ckpts:
        for i, z_train in enumerate(train.tolist()):
            g = reference_grad(ckpt, z_train, objective, names)
            out[i] += ckpt.learning_rate * torch.dot(g, g)
    return out
