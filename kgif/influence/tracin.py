"""TracIn (TracInCP) influence of training edges on test triples for ConvE.

TracInCP(z, z') = sum_k eta_k <grad l(w_k, z), grad l(w_k, z')>   (Pruthi et al., NeurIPS 2020,
eq. 3), with checkpoints w_k and eta_k the checkpoint's stored weight (the sum of the per-epoch
learning rates over the epochs it closes, docs/tracin.md), used as stored.

* A training triple is an *edge*: under reciprocal relations its gradient is the sum of its
  forward example (h, 2r, t) and its inverse example (t, 2r + 1, h), so its score sums both.
* A test triple (h, r, t) is explained as tail prediction: the example (h, 2r, t).
* The test side is computed once per checkpoint and cached; training edges stream in
  fixed-size batches (the last one padded with a repeat of its first edge, whose scores are
  dropped), so an edge's score does not depend on which edges share its batch. The products
  come from an engine of :mod:`kgif.influence.engines` (``structured`` by default, exact).
* Candidate sets (e.g. from :mod:`kgif.influence.candidates`): the union of all candidate sets
  of one call is scored once against all its test triples, and each triple's non-candidates
  are masked before top-k, so a filtered call never costs more than an unfiltered one.
* Orientation follows Captum's ``TracInCP``: scores are (n_test, n_train); proponents are the
  largest, opponents the smallest (:mod:`kgif.influence.topk`).
* ``normalize="cosine"`` divides each checkpoint's inner product by the two gradient norms
  (cosine TracIn); ``normalize="relatif"`` divides the TracInCP score by the square root of the
  training edge's self-influence (RelatIF, Barshan et al., AISTATS 2020, with the identity for
  the Hessian); see :data:`NORMALIZATIONS`. Self-influence itself is never normalised.
* Non-finite inputs and results are refused, naming the checkpoint and the parameter: one
  ``isfinite().all()`` per checkpoint and batch (on a GPU, one host synchronisation each).
  Checkpoints follow the same rule as on save and load
  (:func:`kgif.model.checkpoint.check_finite`: learning rate finite and > 0).
* Every setting that changes a score is one frozen :class:`~kgif.influence.settings.TracInSettings`,
  ``tracin.settings``; what records or compares settings derives it from its fields.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from kgif._progress import progress
from kgif.data.graph import with_reciprocals
from kgif.data.validate import check_count, check_ids, check_triples, model_bounds
from kgif.influence.engines import ENGINES
from kgif.influence.grads import resolve_parameters
from kgif.influence.settings import TracInSettings
from kgif.influence.topk import KMostInfluentialResults, TopK
from kgif.model.checkpoint import (
    Checkpoint,
    check_finite,
    check_relation_repeats,
    check_same_run,
    content_digest,
)
from kgif.model.loss import Objective, get_objective

__all__ = ["NORMALIZATIONS", "TracIn"]

logger = logging.getLogger(__name__)

Method = Literal["structured", "generic"]


def _check_finite(value: Tensor, what: str) -> Tensor:
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"TracIn: non-finite {what}; refusing to rank NaN or infinite scores")
    return value


def _pad(rows: Tensor, size: int) -> Tensor:
    """``rows`` padded to ``size`` with repeats of its first entry (dummy edges)."""
    return torch.cat([rows, rows[:1].expand(size - len(rows), *rows.shape[1:])])


@dataclass
class _Union:
    """The candidate sets of one call as one sorted union of training rows.

    Attributes:
        ids: (U,) sorted unique training rows.
        pos: (P,) position in ``ids`` of every (test triple, candidate) pair, ascending.
        owner: (P,) test row of each pair.
        order: (P,) index of each pair in the concatenated candidate lists.
        lengths: candidates per test triple.
    """

    ids: Tensor
    pos: Tensor
    owner: Tensor
    order: Tensor
    lengths: list[int]

    def span(self, start: int, stop: int) -> slice:
        """Pairs whose union position lies in ``[start, stop)``."""
        bounds = torch.searchsorted(self.pos, torch.tensor([start, stop]))
        return slice(int(bounds[0]), int(bounds[1]))

    def mask(self, start: int, stop: int, n_test: int) -> Tensor:
        """(n_test, stop - start) bool: is union row ``start + b`` a candidate of test j."""
        pairs = self.span(start, stop)
        valid = torch.zeros(n_test, stop - start, dtype=torch.bool)
        valid[self.owner[pairs], self.pos[pairs] - start] = True
        return valid


def _ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` where ``den > 0``, else 0 (a zero gradient has no direction; Cauchy-Schwarz
    makes its inner products 0 too)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, 1.0), 0.0)


class _Plain:
    """No normalisation: sum_k eta_k <g_k(z), g_k(z')> (TracInCP, Pruthi et al. 2020, eq. 3)."""

    def test_side(self, tracin: TracIn, examples: Tensor) -> list:
        return [None] * len(tracin.checkpoints)

    def checkpoint_kernel(self, tracin: TracIn, ckpt: Checkpoint, examples: Tensor,
                          kernel: Tensor, test_sq: Tensor | None) -> Tensor:
        return kernel

    def finish(self, tracin: TracIn, examples: Tensor, total: Tensor) -> Tensor:
        return total


class _Cosine(_Plain):
    """Cosine TracIn: sum_k eta_k <g_k(z), g_k(z')> / (||g_k(z)|| ||g_k(z')||), the norms of
    the edge's gradient (both directions summed) and of the test gradient at checkpoint k."""

    def test_side(self, tracin: TracIn, examples: Tensor) -> list:
        return [_check_finite(tracin.engine.squared_norms(c, examples, tracin.test_objective,
                                                          False), "test gradient norms")
                for c in tracin.checkpoints]

    def checkpoint_kernel(self, tracin: TracIn, ckpt: Checkpoint, examples: Tensor,
                          kernel: Tensor, test_sq: Tensor | None) -> Tensor:
        if test_sq is None:
            raise ValueError("cosine TracIn: the test gradient norms were not computed")
        train_sq = tracin.engine.squared_norms(ckpt, examples, tracin.train_objective,
                                               tracin.config.reciprocal)
        den = (train_sq.clamp_min(0).sqrt()[:, None] * test_sq.clamp_min(0).sqrt()[None, :])
        return _ratio(kernel, den)  # (B, T)


class _RelatIF(_Plain):
    """RelatIF-style: TracInCP(z, z') / sqrt(self-influence(z)) (Barshan et al., AISTATS 2020,
    eq. 6 with H = I), self-influence as :meth:`TracIn.self_influence`."""

    def finish(self, tracin: TracIn, examples: Tensor, total: Tensor) -> Tensor:
        self_inf = tracin._self_batch(examples, tracin.train_objective, tracin.config.reciprocal)
        return _ratio(total, self_inf.clamp_min(0).sqrt()[:, None])  # (B, T)


#: ``TracIn(normalize=...)`` name -> normalisation of the scores.
NORMALIZATIONS: dict[str | None, _Plain] = {None: _Plain(), "cosine": _Cosine(),
                                           "relatif": _RelatIF()}


def _union(candidates: Sequence[Tensor], n_test: int, n_train: int) -> _Union:
    if len(candidates) != n_test:
        raise ValueError(f"TracIn: {len(candidates)} candidate sets for {n_test} test triples")
    sets = [check_ids(c, "TracIn", f"candidates[{j}]") for j, c in enumerate(candidates)]
    for j, ids in enumerate(sets):
        if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= n_train):
            raise ValueError(f"TracIn: candidate set {j} holds row ids outside [0, {n_train}): "
                             f"min {int(ids.min())}, max {int(ids.max())}")
    lengths = [len(ids) for ids in sets]
    flat = torch.cat(sets) if sets else torch.zeros(0, dtype=torch.long)
    owner = torch.repeat_interleave(torch.arange(n_test), torch.tensor(lengths, dtype=torch.long))
    ids, inverse = torch.unique(flat, sorted=True, return_inverse=True)
    pos, order = torch.sort(inverse, stable=True)
    return _Union(ids, pos, owner[order], order, lengths)


def _relation_repeats(checkpoints: Sequence[Checkpoint]) -> tuple[int, ...] | None:
    """The checkpoints' common ``relation_repeats`` (one count per base relation), checked.

    Raises:
        ValueError: on a malformed value, checkpoints that disagree, or a count per base
            relation that does not fit the relation table.
    """
    values = [check_relation_repeats(c.relation_repeats, f"TracIn: {c.name}") for c in checkpoints]
    other = next((i for i, v in enumerate(values) if v != values[0]), None)
    if other is not None:
        raise ValueError(f"TracIn: the checkpoints have different relation_repeats: "
                         f"{checkpoints[0].name} {values[0]}, {checkpoints[other].name} "
                         f"{values[other]}; they come from different training runs")
    repeats, first = values[0], checkpoints[0]
    if repeats is not None:
        rows = first.params["relation_embedding"].shape[0]
        if first.config.num_relation_rows(len(repeats)) != rows:
            raise ValueError(f"TracIn: {first.name} has relation_repeats for {len(repeats)} "
                             f"base relations, but its relation table has {rows} rows "
                             f"(reciprocal={first.config.reciprocal})")
    return repeats


class TracIn:
    """TracInCP over a list of ConvE checkpoints.

    A run trained with ``TrainingConfig.relation_repeats`` visits the edges of relation ``r``
    ``m_r`` times per epoch (``Checkpoint.relation_repeats``); the score of such a training
    edge (and its self-influence) is multiplied by ``m_r``, the number of gradient steps
    TracIn sums for it (Pruthi et al. 2020, eq. 3, with each visit one step;
    ``docs/training.md``); with ``normalize`` the normalised score of one visit is
    multiplied, so an edge counts as ``m_r`` copies of itself.

    Every setting that changes a score is in :attr:`settings`
    (:class:`~kgif.influence.settings.TracInSettings`, frozen); ``train_objective``,
    ``test_objective``, ``names``, ``method``, ``normalize`` and ``batch_size`` read it.

    Args:
        checkpoints: checkpoints of one training run (same config and relation repeats), each
            with its TracInCP weight ``learning_rate`` (finite, > 0), used as stored.
        train_triples: (n, 3) int64 training edges (base relation ids); default for the
            methods' ``train_triples``.
        train_objective: objective of a training example: ``"score"`` (default, docs/derivations.md
            section 2 and docs/tracin.md), ``"pointwise_bce"``, ``"bce_1n"`` or an objective
            instance of :mod:`kgif.model.loss`.
        test_objective: the same for the test side; default ``"score"`` (explain the logit).
        parameters: parameter subset: None/"all", a group of
            :data:`kgif.influence.grads.PARAMETER_GROUPS`, or names.
        method: an engine of :data:`kgif.influence.engines.ENGINES`: ``"structured"``
            (default; exact factors) or ``"generic"`` (materialised ``vmap(grad)``; memory B x
            parameters).
        batch_size: training edges per streamed batch; every batch has exactly this size
            (the last is padded), which makes float32 scores independent of the batching.
        compile: wrap the contraction kernel in ``torch.compile`` (same function).
        device, dtype: where and in which precision to compute (default: the checkpoints').
        show_progress: tqdm bar over training batches (default on, like
            :func:`kgif.training.loop.train`).
        allow_mixed_runs: Sum checkpoints of different training runs, repeated epochs or
            duplicate contents anyway (refused by default: their sum is not TracInCP).
        normalize: None (default, plain TracInCP), ``"cosine"`` (each checkpoint's inner
            product divided by the two gradient norms) or ``"relatif"`` (the score divided by
            the square root of the training edge's self-influence); a zero norm gives 0.

    Raises:
        ValueError: on no checkpoints, mismatched configs, an unknown method, objective or
            parameter, a checkpoint with a non-finite weight or learning rate
            (:func:`kgif.model.checkpoint.check_finite`: learning rate finite and > 0), malformed
            or differing ``relation_repeats``, or checkpoints of different training runs, repeated
            epochs or duplicates unless ``allow_mixed_runs=True``
            (:func:`kgif.model.checkpoint.check_same_run`), or an unknown ``normalize``.
    """

    def __init__(self, checkpoints: Sequence[Checkpoint], train_triples: Tensor | None = None, *,
                 train_objective: str | Objective = "score",
                 test_objective: str | Objective = "score",
                 parameters: str | Iterable[str] | None = None, method: Method = "structured",
                 batch_size: int = 256, compile: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 show_progress: bool = True, allow_mixed_runs: bool = False,
                 normalize: str | None = None):
        if not checkpoints:
            raise ValueError("TracIn: no checkpoints given")
        for ckpt in checkpoints:
            check_finite(ckpt)
        digests = [content_digest(c) for c in checkpoints]
        if not allow_mixed_runs:
            check_same_run(checkpoints, require_run_id=False, digests=digests)
        configs = {repr(c.config) for c in checkpoints}
        if len(configs) > 1:
            raise ValueError(f"TracIn: checkpoints have different configs: {sorted(configs)}")
        if method not in ENGINES:
            raise ValueError(f"TracIn: method={method!r}, expected one of {sorted(ENGINES)}")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"TracIn: normalize={normalize!r}, expected one of "
                             f"{sorted(NORMALIZATIONS, key=str)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"TracIn: batch_size={batch_size!r} must be a positive integer")
        repeats = _relation_repeats(checkpoints)
        self.checkpoints = [c.to(device=device, dtype=dtype) for c in checkpoints]
        for ckpt in self.checkpoints:  # a float16 cast can overflow
            check_finite(ckpt)
        self._like = self.checkpoints[0].params["entity_embedding"]
        #: Every setting that changes a score (:class:`~kgif.influence.settings.TracInSettings`).
        self.settings = TracInSettings.of(
            checkpoints, digests=digests, train_objective=get_objective(train_objective),
            test_objective=get_objective(test_objective),
            normalize=normalize, parameters=resolve_parameters(parameters,
                                                               self.checkpoints[0].params),
            method=method, batch_size=batch_size, dtype=self._like.dtype)
        self.config = checkpoints[0].config
        #: the graph the checkpoints were trained on (None without id maps); explanations
        #: carry it so that they are never labelled with another graph's names
        self.graph_fingerprint = checkpoints[0].graph_fingerprint
        self.num_entities, self.num_relations = model_bounds(self.checkpoints[0].params,
                                                             self.config.reciprocal)
        self.train_triples = (None if train_triples is None
                              else self._check(train_triples, "TracIn", "train_triples"))
        self.sign = 1.0 if self.train_objective.kind == self.test_objective.kind else -1.0
        self._norm = NORMALIZATIONS[normalize]
        self.show_progress = show_progress
        self.device = self._like.device
        self.engine = ENGINES[method](self.config, self.names, self.num_entities, compile)
        self.edge_repeats = (None if repeats is None else  # (R,) int64 visits per epoch
                             torch.tensor(repeats, dtype=torch.long, device=self.device))

    # ----------------------------------------------------------------- settings

    @property
    def train_objective(self) -> Objective:
        """``settings.train_objective``."""
        return self.settings.train_objective

    @property
    def test_objective(self) -> Objective:
        """``settings.test_objective``."""
        return self.settings.test_objective

    @property
    def names(self) -> tuple[str, ...]:
        """``settings.parameters``: the parameter names of the inner products."""
        return self.settings.parameters

    @property
    def method(self) -> str:
        """``settings.method``."""
        return self.settings.method

    @property
    def normalize(self) -> str | None:
        """``settings.normalize``."""
        return self.settings.normalize

    @property
    def batch_size(self) -> int:
        """``settings.batch_size``."""
        return self.settings.batch_size

    def __repr__(self) -> str:
        """One short line: checkpoints, learning rates, objectives, parameter subset, engine."""
        first, last = self.checkpoints[0].epoch, self.checkpoints[-1].epoch
        rate = sum(c.learning_rate for c in self.checkpoints)
        edges = "no" if self.train_triples is None else len(self.train_triples)
        values = sum(self.checkpoints[0].params[n].numel() for n in self.names)
        return (f"TracIn({len(self.checkpoints)} checkpoints (epochs {first}..{last}, sum of "
                f"learning rates {rate:.4g}), {edges} training edges, objectives "
                f"train={self.train_objective.name} test={self.test_objective.name}, "
                f"{len(self.names)} parameter tensors ({values:,} values), method "
                f"{self.method}, normalize {self.normalize}, batch {self.batch_size}, "
                f"device {self.device})")

    # ----------------------------------------------------------------- examples

    def _check(self, triples: Tensor, where: str, name: str) -> Tensor:
        """``triples`` checked by :func:`kgif.data.validate.check_triples` against the model's
        N entities and R base relations; (n, 3) int64 on the CPU."""
        return check_triples(triples, where, name, num_entities=self.num_entities,
                             num_relations=self.num_relations, device="cpu")

    def edge_examples(self, edges: Tensor) -> Tensor:
        """(B, 3) base-relation edges -> (2B, 3) forward then inverse examples (reciprocal
        models) or (B, 3) unchanged."""
        edges = edges.to(self.device)
        return with_reciprocals(edges) if self.config.reciprocal else edges

    def test_examples(self, triples: Tensor) -> Tensor:
        """(T, 3) base-relation test triples -> (T, 3) tail-prediction examples (h, 2r, t)."""
        triples = self._check(triples, "TracIn.test_examples", "triples").to(self.device)
        if not self.config.reciprocal:
            return triples
        return torch.stack([triples[:, 0], 2 * triples[:, 1], triples[:, 2]], 1)

    def training_edges(self, train_triples: Tensor | None = None) -> Tensor:
        """``train_triples`` as (n, 3) int64, or the constructor's when None.

        Raises:
            ValueError: if neither is given, or they fail
                :func:`kgif.data.validate.check_triples` (shape, dtype, ids in range).
        """
        if train_triples is not None:
            return self._check(train_triples, "TracIn", "train_triples")
        if self.train_triples is None:
            raise ValueError("TracIn: no training triples given (pass train_triples)")
        return self.train_triples

    # ----------------------------------------------------------------- kernel sums

    def _rights(self, test_triples: Tensor) -> list:
        """(test-side cache, normalisation's test side) of every checkpoint, checked finite."""
        examples = self.test_examples(test_triples)
        rights = []
        with torch.no_grad():
            for ckpt in self.checkpoints:
                cache = self.engine.test_cache(ckpt, examples, self.test_objective)
                for name, value in self.engine.cache_tensors(cache):
                    _check_finite(value, f"test gradients ({name}) of {ckpt.name}")
                rights.append(cache)
            return list(zip(rights, self._norm.test_side(self, examples), strict=True))

    def _batch_scores(self, edges: Tensor, rights: list) -> Tensor:
        """(B, T) TracInCP scores sum_k eta_k * kernel_k, sign-adjusted, checked finite."""
        examples = self.edge_examples(edges)
        total = None
        for ckpt, (right, test_side) in zip(self.checkpoints, rights, strict=True):
            kernel = self.engine.edge_scores(ckpt, examples, self.train_objective, right,
                                             self.config.reciprocal)
            kernel = self._norm.checkpoint_kernel(self, ckpt, examples, kernel, test_side)
            term = (self.sign * ckpt.learning_rate) * kernel
            total = term if total is None else total + term
        if total is None:
            raise ValueError("TracIn: no checkpoints")
        total = self._norm.finish(self, examples, total)
        if self.edge_repeats is not None:  # an edge visited m times per epoch counts m times
            total = total * self.edge_repeats[edges[:, 1].to(self.device)].to(total.dtype)[:, None]
        return _check_finite(total, "influence scores of a training batch")

    def _stream(self, train: Tensor, ids: Tensor, rights: list,
                consume: Callable[[Tensor, int, int], None]) -> None:
        """Feed (T, b) scores of ``train[ids[start:stop]]`` to ``consume(scores, start, stop)``
        in fixed-size padded batches."""
        size = self.batch_size
        for start in progress(range(0, len(ids), size), self.show_progress, desc="TracIn",
                              unit="batch"):
            rows = ids[start:start + size]
            with torch.no_grad():
                scores = self._batch_scores(train[_pad(rows, size)], rights)[: len(rows)]
            consume(scores.T, start, start + len(rows))

    # ----------------------------------------------------------------- public scores

    def influence(self, test_triples: Tensor, train_triples: Tensor | None = None) -> Tensor:
        """TracInCP scores of every training edge for each test triple.

        Args:
            test_triples: (T, 3) int64 test triples (base relation ids).
            train_triples: (n, 3) int64 training edges; default: the constructor's.

        Returns:
            (T, n) scores in the computation dtype.

        Raises:
            ValueError: on non-finite scores or test gradients.
        """
        test_triples = self._check(test_triples, "TracIn.influence", "test_triples")
        train = self.training_edges(train_triples)
        rights = self._rights(test_triples)
        out = self._like.new_empty(len(test_triples), len(train))

        def consume(scores: Tensor, start: int, stop: int) -> None:
            out[:, start:stop] = scores

        self._stream(train, torch.arange(len(train)), rights, consume)
        return out

    def candidate_influence(self, test_triples: Tensor, candidates: Sequence[Tensor],
                            train_triples: Tensor | None = None) -> list[Tensor]:
        """TracInCP scores of each test triple's candidate edges only.

        The union of the candidate sets is scored once against all test triples.

        Args:
            test_triples: (T, 3) int64 test triples.
            candidates: T tensors (E_j,) int64 of rows of ``train_triples`` (any order;
                e.g. from :mod:`kgif.influence.candidates`).
            train_triples: (n, 3) training edges; default: the constructor's.

        Returns:
            T tensors (E_j,), scores in the order of ``candidates[j]``.

        Raises:
            ValueError: on a candidate list of the wrong length, a row id outside [0, n), or
                non-finite scores.
        """
        test_triples = self._check(test_triples, "TracIn.candidate_influence", "test_triples")
        train = self.training_edges(train_triples)
        union = _union(candidates, len(test_triples), len(train))
        rights = self._rights(test_triples)
        flat = self._like.new_empty(len(union.order))

        def consume(scores: Tensor, start: int, stop: int) -> None:
            pairs = union.span(start, stop)
            flat[union.order[pairs]] = scores[union.owner[pairs], union.pos[pairs] - start]

        self._stream(train, union.ids, rights, consume)
        return list(flat.split(union.lengths))

    def top_influences(self, test_triples: Tensor, k: int, train_triples: Tensor | None = None,
                       candidates: Sequence[Tensor] | None = None
                       ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        """The k proponents and the k opponents of each test triple, in one pass.

        Args:
            test_triples: (T, 3) int64 test triples.
            k: edges per side (>= 1).
            train_triples: (n, 3) training edges; default: the constructor's.
            candidates: optional T tensors of candidate rows (see :meth:`candidate_influence`).

        Returns:
            ``(proponents, opponents)``, each :class:`KMostInfluentialResults` with (T, k)
            indices (rows of ``train_triples``) and scores, sorted by the rule of
            :mod:`kgif.influence.topk` (ties: smaller row first); where fewer than k edges (or
            candidates) exist, padded with index -1 and score NaN.

        Raises:
            ValueError: on ``k < 1``, bad candidates or non-finite scores.
        """
        k = check_count(k, "TracIn.top_influences", "k")
        test_triples = self._check(test_triples, "TracIn.top_influences", "test_triples")
        train = self.training_edges(train_triples)
        n_test = len(test_triples)
        union = None if candidates is None else _union(candidates, n_test, len(train))
        ids = torch.arange(len(train)) if union is None else union.ids
        rights = self._rights(test_triples)
        tops = (TopK(n_test, k, True, self._like), TopK(n_test, k, False, self._like))

        def consume(scores: Tensor, start: int, stop: int) -> None:
            valid = None if union is None else union.mask(start, stop, n_test).to(self.device)
            for top in tops:
                top.update(scores, ids[start:stop], valid)

        self._stream(train, ids, rights, consume)
        return tops[0].result(), tops[1].result()

    # ----------------------------------------------------------------- self-influence

    def self_influence(self, train_triples: Tensor | None = None) -> Tensor:
        """Self-influence sum_k eta_k ||grad l(w_k, z)||^2 of training edges (Pruthi et al.
        2020, section 3.3), the gradient of an edge summing both directions.

        Returns:
            (n,) scores in the computation dtype (non-negative up to rounding).

        Raises:
            ValueError: on non-finite results.
        """
        train = self.training_edges(train_triples)
        out = []
        size = self.batch_size
        for start in progress(range(0, len(train), size), self.show_progress,
                              desc="self-influence", unit="batch"):
            count = min(size, len(train) - start)
            rows = _pad(train[start:start + size], size)
            with torch.no_grad():
                norms = self._self_batch(self.edge_examples(rows), self.train_objective,
                                         self.config.reciprocal)
                if self.edge_repeats is not None:
                    norms = norms * self.edge_repeats[rows[:, 1].to(self.device)].to(norms.dtype)
            out.append(norms[:count])
        return torch.cat(out) if out else self._like.new_zeros(0)

    def test_self_influence(self, test_triples: Tensor) -> Tensor:
        """(T,) self-influence of test triples (tail-prediction examples, test objective)."""
        test_triples = self._check(test_triples, "TracIn.test_self_influence", "test_triples")
        with torch.no_grad():
            return self._self_batch(self.test_examples(test_triples), self.test_objective,
                                    False)

    def _self_batch(self, examples: Tensor, objective: Objective, two_directions: bool
                    ) -> Tensor:
        total = None
        for ckpt in self.checkpoints:
            norms = self.engine.squared_norms(ckpt, examples, objective, two_directions)
            term = ckpt.learning_rate * norms
            total = term if total is None else total + term
        if total is None:
            raise ValueError("TracIn: no checkpoints")
        return _check_finite(total, "self-influence")
