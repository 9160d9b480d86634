"""Baselines that TracIn is measured against: a plain per-sample autograd loop and Captum.

Both compute the same quantity as :class:`kgif.influence.tracin.TracIn` for one-checkpoint-or-more
TracInCP (Pruthi et al. 2020, eq. 3): sum_k eta_k sign <grad l(w_k, edge), grad l(w_k, test)>,
an edge's gradient summing its two directions (h, 2r, t) and (t, 2r + 1, h), a test triple
being its tail-prediction example (h, 2r, t), scores (n_test, n_train).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import hidden, score_all
from kgif.model.loss import Objective, get_objective

# --------------------------------------------------------------------------- autograd loop


def _objective_loss(objective: Objective, scores: Tensor, t: Tensor) -> Tensor:
    """(B,) losses from full (B, N) scores: the baselines never exploit one-hot structure."""
    if objective.one_hot:
        return objective.loss(scores.gather(1, t[:, None])[:, 0])
    return objective.loss(scores, t)


def full_gradient(ckpt: Checkpoint, example: Tensor, objective: Objective) -> Tensor:
    """Flattened gradient over ALL parameters of one example (1, 3), plain autograd.

    The seed project's method: one forward over all N entities and one backward per example,
    giving dense table gradients (the entity table's is N x d), flattened and concatenated.
    """
    leaf = {k: v.detach().requires_grad_(True) for k, v in ckpt.params.items()}
    f, _ = hidden(leaf, ckpt.buffers, example[:, 0], example[:, 1], ckpt.config)
    loss = _objective_loss(objective, score_all(leaf, f), example[:, 2]).sum()
    grads = torch.autograd.grad(loss, list(leaf.values()))
    return torch.cat([g.flatten() for g in grads])


class AutogradLoop:
    """TracInCP by a Python loop of per-example forward/backward passes over all parameters.

    Test gradients are cached per checkpoint as a (T, P) matrix (P = every parameter, 5.1 M
    for an FB15k-237-sized ConvE); each training edge costs two full backward passes.
    """

    def __init__(self, checkpoints: list[Checkpoint], train_objective: str = "score",
                 test_objective: str = "score"):
        self.checkpoints = checkpoints
        self.train_objective = get_objective(train_objective)
        self.test_objective = get_objective(test_objective)
        same = self.train_objective.kind == self.test_objective.kind
        self.sign = 1.0 if same else -1.0

    def test_cache(self, test: Tensor) -> list[Tensor]:
        """Per checkpoint, the (T, P) gradients of the tail-prediction examples (h, 2r, t)."""
        examples = torch.stack([test[:, 0], 2 * test[:, 1], test[:, 2]], 1)
        return [torch.stack([full_gradient(c, e[None], self.test_objective) for e in examples])
                for c in self.checkpoints]

    def influence(self, test: Tensor, train: Tensor) -> Tensor:
        """(T, n) TracInCP scores of training edges ``train`` (n, 3) for ``test`` (T, 3)."""
        cache = self.test_cache(test)
        device = cache[0].device
        out = torch.zeros(len(test), len(train), dtype=cache[0].dtype, device=device)
        for ckpt, grads in zip(self.checkpoints, cache, strict=True):
            for i, (h, r, t) in enumerate(train.tolist()):
                fwd = torch.tensor([[h, 2 * r, t]], device=device)
                inv = torch.tensor([[t, 2 * r + 1, h]], device=device)
                edge = (full_gradient(ckpt, fwd, self.train_objective)
                        + full_gradient(ckpt, inv, self.train_objective))
                out[:, i] += self.sign * ckpt.learning_rate * (grads @ edge)
        return out


# --------------------------------------------------------------------------- Captum


class _EdgeModel(nn.Module):
    """A thin nn.Module over the functional ConvE for Captum.

    ``forward`` takes a (B, 3) batch of base-relation triples and returns (B, 2, N) scores of
    both directions (h, 2r, ?) and (t, 2r + 1, ?).
    """

    def __init__(self, ckpt: Checkpoint):
        super().__init__()
        self.config = ckpt.config
        self.weights = nn.ParameterDict({k.replace(".", "__"): nn.Parameter(v.detach().clone())
                                         for k, v in ckpt.params.items()})
        for k, v in ckpt.buffers.items():
            self.register_buffer(k.replace(".", "__"), v.detach().clone())
        self._buffer_names = list(ckpt.buffers)

    def load(self, ckpt: Checkpoint) -> float:
        with torch.no_grad():
            for k, v in ckpt.params.items():
                self.weights[k.replace(".", "__")].copy_(v)
            for k, v in ckpt.buffers.items():
                getattr(self, k.replace(".", "__")).copy_(v)
        return ckpt.learning_rate

    def forward(self, triples: Tensor) -> Tensor:
        params = {k.replace("__", "."): v for k, v in self.weights.items()}
        buffers = {k: getattr(self, k.replace(".", "__")) for k in self._buffer_names}
        h, r, t = triples.unbind(1)
        heads, rows = torch.cat([h, t]), torch.cat([2 * r, 2 * r + 1])
        f, _ = hidden(params, buffers, heads, rows, self.config)
        s = score_all(params, f)  # (2B, N)
        return torch.stack([s[: len(h)], s[len(h):]], 1)


class _EdgeLoss(nn.Module):
    """Per-example loss for Captum: labels (B, 3) = (tail, head, weight of the inverse).

    Training edges carry weight 1 (both directions: the edge's gradient), test triples weight 0
    (the tail-prediction example only).
    """

    reduction = "none"  # Captum checks this: per-example losses

    def __init__(self, objective: Objective):
        super().__init__()
        self.objective = objective

    def forward(self, scores: Tensor, labels: Tensor) -> Tensor:
        fwd = _objective_loss(self.objective, scores[:, 0], labels[:, 0])
        inv = _objective_loss(self.objective, scores[:, 1], labels[:, 1])
        return fwd + labels[:, 2].to(scores.dtype) * inv


class CaptumTracIn:
    """Captum's ``TracInCP`` (``captum.influence``) on the functional ConvE, all parameters.

    Raises:
        ImportError: when captum is not installed.
    """

    def __init__(self, checkpoints: list[Checkpoint], train: Tensor, objective: str = "score",
                 batch_size: int = 8):
        from captum.influence import TracInCP

        self.model = _EdgeModel(checkpoints[0]).to(checkpoints[0].params["fc.weight"].device)
        dataset = torch.utils.data.TensorDataset(train, _labels(train, inverse_weight=1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Captum warns about its own defaults
            self.tracin = TracInCP(self.model, dataset, list(checkpoints),
                                   checkpoints_load_func=lambda m, c: m.load(c),
                                   loss_fn=_EdgeLoss(get_objective(objective)),
                                   batch_size=batch_size,
                                   sample_wise_grads_per_batch=False)

    def influence(self, test: Tensor) -> Tensor:
        """(T, n) scores."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.tracin.influence((test, _labels(test, inverse_weight=0)))


def _labels(triples: Tensor, inverse_weight: int) -> Tensor:
    weight = torch.full_like(triples[:, 0], inverse_weight)
    return torch.stack([triples[:, 2], triples[:, 0], weight], 1)
