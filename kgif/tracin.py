"""TracIn (TracInCP) influence of training edges on test triples for ConvE.

TracInCP(z, z') = sum_k eta_k <grad l(w_k, z), grad l(w_k, z')>   (Pruthi et al., NeurIPS 2020,
eq. 3), with checkpoints w_k and the learning rates eta_k in force for the epochs they close.

* A training triple is an *edge*: under reciprocal relations its gradient is the sum of its
  forward example (h, 2r, t) and its inverse example (t, 2r + 1, h), so its score sums both.
* A test triple (h, r, t) is explained as tail prediction: the example (h, 2r, t).
* The test side is computed once per checkpoint and cached; training edges stream in batches,
  contracted with the cached test side by a kernel from :mod:`kgif.kernels` (structured factors
  by default, exact; generic ``vmap(grad)`` materialised gradients as the alternative), compiled
  with ``torch.compile`` when asked.
* Orientation follows Captum's ``TracInCP``: scores are (n_test, n_train); proponents are the
  largest, opponents the smallest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from kgif.checkpoint import Checkpoint
from kgif.data import with_reciprocals
from kgif.grads import (
    FACTORED,
    Factors,
    per_sample_grads,
    resolve_parameters,
    structured_factors,
)
from kgif.kernels import (
    ALL_PAIRS,
    DIAGONAL,
    as_right,
    densify,
    generic_scores,
    merge_directions,
    structured_scores,
)
from kgif.loss import Objective, get_objective

__all__ = ["KMostInfluentialResults", "TracIn", "TopK"]

logger = logging.getLogger(__name__)

Method = Literal["structured", "generic"]


class KMostInfluentialResults(NamedTuple):
    """Top-k training edges per test triple (Captum's name and field order).

    Attributes:
        indices: (n_test, k) int64 rows of the training triples (or candidate edge ids).
        influence_scores: (n_test, k) TracIn scores, sorted (descending for proponents).
    """

    indices: Tensor
    influence_scores: Tensor


class TopK:
    """Streaming top-k per row with ties broken by the smaller index, like a stable sort.

    Memory is (n_test, k + batch), independent of the number of training edges.
    """

    def __init__(self, n_rows: int, k: int, largest: bool, like: Tensor):
        self.k, self.largest = k, largest
        self.values = like.new_empty(n_rows, 0)
        self.indices = torch.empty(n_rows, 0, dtype=torch.long, device=like.device)

    def update(self, scores: Tensor, indices: Tensor) -> None:
        """Merge a batch: scores (n_rows, B), indices (B,) int64, ascending across calls."""
        values = torch.cat([self.values, scores], 1)
        ids = torch.cat([self.indices, indices.to(self.indices.device).expand(len(scores), -1)], 1)
        order = torch.sort(values, dim=1, descending=self.largest, stable=True).indices[:, : self.k]
        self.values, self.indices = values.gather(1, order), ids.gather(1, order)

    def result(self) -> KMostInfluentialResults:
        return KMostInfluentialResults(self.indices, self.values)


class _Collect:
    """Keeps every score batch: the full (n_rows, n_train) matrix."""

    def __init__(self):
        self.parts: list[Tensor] = []

    def update(self, scores: Tensor, indices: Tensor) -> None:
        self.parts.append(scores)

    def result(self) -> Tensor:
        return torch.cat(self.parts, 1)


class _Both:
    """Proponents and opponents from one stream."""

    def __init__(self, proponents: TopK, opponents: TopK):
        self.proponents, self.opponents = proponents, opponents

    def update(self, scores: Tensor, indices: Tensor) -> None:
        self.proponents.update(scores, indices)
        self.opponents.update(scores, indices)

    def result(self) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        return self.proponents.result(), self.opponents.result()


def _stack_topk(results: list[KMostInfluentialResults]) -> KMostInfluentialResults:
    """Stack per-test-triple (1, k_i) results; rows with fewer than max k_i candidates are
    padded with index -1 and score NaN."""
    width = max(r.indices.shape[1] for r in results)
    pad = width - torch.tensor([r.indices.shape[1] for r in results])
    indices = [F.pad(r.indices, (0, int(p)), value=-1) for r, p in zip(results, pad, strict=True)]
    scores = [F.pad(r.influence_scores, (0, int(p)), value=float("nan"))
              for r, p in zip(results, pad, strict=True)]
    return KMostInfluentialResults(torch.cat(indices), torch.cat(scores))


def _take(factors: Factors, rows: Tensor | slice) -> Factors:
    return Factors(**{f.name: None if getattr(factors, f.name) is None
                      else getattr(factors, f.name)[rows] for f in fields(Factors)})


def _n_test(rights: list[_Right]) -> int:
    first = rights[0]
    return len(first.flat) if first.factors is None else len(first.factors.h)


@dataclass
class _Right:
    """Cached test side of one checkpoint (structured factors or densified gradients)."""

    factors: Factors | None = None
    flat: Tensor | None = None
    tables: dict[str, Tensor] | None = None

    def take(self, rows: Tensor | slice) -> _Right:
        if self.factors is not None:
            return _Right(factors=_take(self.factors, rows))
        return _Right(flat=self.flat[rows], tables={k: v[rows] for k, v in self.tables.items()})


class TracIn:
    """TracInCP over a list of ConvE checkpoints.

    Args:
        checkpoints: checkpoints of one training run (same config), each with the learning rate
            in force for the epochs it closes.
        train_triples: (n, 3) int64 training edges (base relation ids); default for the
            methods' ``train_triples``.
        train_objective: objective of a training example: ``"score"`` (default: the exact
            per-edge example under 1-N BCE, DESIGN.md section 3), ``"pointwise_bce"``,
            ``"bce_1n"`` or an objective instance of :mod:`kgif.loss`.
        test_objective: the same for the test side; default ``"score"`` (explain the logit).
        parameters: parameter subset: None/"all", a group of
            :data:`kgif.grads.PARAMETER_GROUPS`, or names.
        method: ``"structured"`` (default; exact factors, any subset) or ``"generic"``
            (materialised ``vmap(grad)``; memory grows with B x parameters).
        batch_size: training edges per streamed batch.
        compile: wrap the contraction kernel in ``torch.compile`` (the eager kernel is the same
            function).
        device, dtype: where and in which precision to compute (default: the checkpoints').
        show_progress: tqdm bar over training batches.

    Raises:
        ValueError: on no checkpoints, mismatched configs, or an unknown objective/parameter.
    """

    def __init__(self, checkpoints: Sequence[Checkpoint], train_triples: Tensor | None = None, *,
                 train_objective: str | Objective = "score",
                 test_objective: str | Objective = "score",
                 parameters: str | Iterable[str] | None = None, method: Method = "structured",
                 batch_size: int = 256, compile: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                 show_progress: bool = False):
        if not checkpoints:
            raise ValueError("TracIn: no checkpoints given")
        configs = {repr(c.config) for c in checkpoints}
        if len(configs) > 1:
            raise ValueError(f"TracIn: checkpoints have different configs: {sorted(configs)}")
        if method not in ("structured", "generic"):
            raise ValueError(f"TracIn: method={method!r}, expected 'structured' or 'generic'")
        if batch_size < 1:
            raise ValueError(f"TracIn: batch_size={batch_size} must be positive")
        self.checkpoints = [c.to(device=device, dtype=dtype) for c in checkpoints]
        self.config = checkpoints[0].config
        self.train_triples = train_triples
        self.train_objective = get_objective(train_objective)
        self.test_objective = get_objective(test_objective)
        self.sign = 1.0 if self.train_objective.kind == self.test_objective.kind else -1.0
        self.names = resolve_parameters(parameters, self.checkpoints[0].params)
        self.factored = tuple(n for n in self.names if n in FACTORED)
        self.small_names = tuple(n for n in self.names if n not in FACTORED)
        self.method = method
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.num_entities = self.checkpoints[0].params["entity_embedding"].shape[0]
        self.device = self.checkpoints[0].params["entity_embedding"].device
        kernel = structured_scores if method == "structured" else generic_scores
        self._kernel = torch.compile(kernel, dynamic=True) if compile else kernel

    # ----------------------------------------------------------------- examples

    def edge_examples(self, edges: Tensor) -> Tensor:
        """(B, 3) base-relation edges -> (2B, 3) forward then inverse examples (reciprocal
        models) or (B, 3) unchanged."""
        edges = edges.to(self.device)
        return with_reciprocals(edges) if self.config.reciprocal else edges

    def test_examples(self, triples: Tensor) -> Tensor:
        """(T, 3) base-relation test triples -> (T, 3) tail-prediction examples (h, 2r, t)."""
        triples = triples.to(self.device)
        if not self.config.reciprocal:
            return triples
        return torch.stack([triples[:, 0], 2 * triples[:, 1], triples[:, 2]], 1)

    # ----------------------------------------------------------------- one checkpoint

    def _factors(self, ckpt: Checkpoint, examples: Tensor, objective: Objective) -> Factors:
        return structured_factors(ckpt.params, ckpt.buffers, self.config, examples, objective,
                                  self.small_names)

    def _right(self, ckpt: Checkpoint, examples: Tensor) -> _Right:
        """Test-side cache of one checkpoint."""
        if self.method == "structured":
            factors = self._factors(ckpt, examples, self.test_objective)
            return _Right(factors=as_right(factors, self.num_entities))
        blocks = per_sample_grads(ckpt.params, ckpt.buffers, self.config, examples,
                                  self.test_objective, self.names)
        return _Right(flat=blocks.flat, tables=densify(blocks, self._table_rows(ckpt)))

    def _table_rows(self, ckpt: Checkpoint) -> dict[str, int]:
        return {n: ckpt.params[n].shape[0] for n in ("entity_embedding", "relation_embedding",
                                                      "entity_bias") if n in ckpt.params}

    def _edge_scores(self, ckpt: Checkpoint, edges: Tensor, right: _Right) -> Tensor:
        """(B, T) kernel of B training edges (both directions summed) against the test cache."""
        examples = self.edge_examples(edges)
        if self.method == "structured":
            left = self._factors(ckpt, examples, self.train_objective)
            scores = self._kernel(left, right.factors, self.factored, ALL_PAIRS)
            return scores[: len(edges)] + scores[len(edges):] if self.config.reciprocal else scores
        blocks = per_sample_grads(ckpt.params, ckpt.buffers, self.config, examples,
                                  self.train_objective, self.names)
        if self.config.reciprocal:
            blocks = merge_directions(blocks)
        return self._kernel(blocks, right.flat, right.tables)

    def _batch_scores(self, edges: Tensor, rights: list[_Right]) -> Tensor:
        """(B, T) TracInCP scores: sum_k eta_k * kernel_k, sign-adjusted."""
        total = None
        for ckpt, right in zip(self.checkpoints, rights, strict=True):
            term = (self.sign * ckpt.learning_rate) * self._edge_scores(ckpt, edges, right)
            total = term if total is None else total + term
        return total

    # ----------------------------------------------------------------- streaming

    def training_edges(self, train_triples: Tensor | None = None) -> Tensor:
        """``train_triples`` as (n, 3) int64, or the constructor's when None.

        Raises:
            ValueError: if neither is given.
        """
        train = self.train_triples if train_triples is None else train_triples
        if train is None:
            raise ValueError("TracIn: no training triples given (pass train_triples)")
        return torch.as_tensor(train, dtype=torch.long)

    def _stream(self, train: Tensor, ids: Tensor, rights: list[_Right],
                consume: Callable[[Tensor, Tensor], None], desc: str) -> None:
        """Feed (T, B) score batches with their training ids (B,) to ``consume``."""
        starts = range(0, len(ids), self.batch_size)
        for start in tqdm(starts, desc=desc, unit="batch", disable=not self.show_progress):
            batch_ids = ids[start:start + self.batch_size]
            with torch.no_grad():
                scores = self._batch_scores(train[batch_ids], rights)
            consume(scores.T, batch_ids)

    def _rights(self, test_triples: Tensor) -> list[_Right]:
        examples = self.test_examples(torch.as_tensor(test_triples, dtype=torch.long))
        with torch.no_grad():
            return [self._right(ckpt, examples) for ckpt in self.checkpoints]

    def influence(self, test_triples: Tensor, train_triples: Tensor | None = None,
                  k: int | None = None, proponents: bool = True,
                  candidates: Sequence[Tensor] | None = None):
        """TracInCP scores of training edges for test triples.

        Args:
            test_triples: (T, 3) int64 test triples (base relation ids).
            train_triples: (n, 3) int64 training edges; default: the constructor's.
            k: None for the full score matrix; else the k most influential edges.
            proponents: with ``k``: the largest scores (True) or the smallest (opponents).
            candidates: optional per-test-triple (E_i,) int64 row ids into ``train_triples``
                (e.g. from :mod:`kgif.filters`); only those edges are scored.

        Returns:
            k None, no candidates: (T, n) scores. k None, candidates: list of (E_i,) scores.
            k given: :class:`KMostInfluentialResults` with (T, k) indices and scores (with
            candidates, indices are rows of ``train_triples``, and a test triple with fewer
            than k candidates is padded with index -1 and score NaN).

        Raises:
            ValueError: on ``k < 1`` or a candidate list of the wrong length.
        """
        if k is not None and k < 1:
            raise ValueError(f"TracIn.influence: k={k} must be positive")

        def make(n_rows: int, n_train: int):
            return _Collect() if k is None else self._topk(n_rows, k, n_train, proponents)

        result = self._run(test_triples, train_triples, make, candidates)
        if candidates is None:
            return result
        return [r[0] for r in result] if k is None else _stack_topk(result)

    def top_influences(self, test_triples: Tensor, k: int, train_triples: Tensor | None = None,
                       candidates: Sequence[Tensor] | None = None
                       ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        """The k proponents and the k opponents of each test triple, in one pass.

        Arguments as in :meth:`influence`. Returns ``(proponents, opponents)``, each a
        :class:`KMostInfluentialResults` with (T, k) indices and scores.
        """
        if k < 1:
            raise ValueError(f"TracIn.top_influences: k={k} must be positive")

        def make(n_rows: int, n_train: int):
            return _Both(self._topk(n_rows, k, n_train, True),
                         self._topk(n_rows, k, n_train, False))

        result = self._run(test_triples, train_triples, make, candidates)
        if candidates is None:
            return result
        return _stack_topk([r[0] for r in result]), _stack_topk([r[1] for r in result])

    def _topk(self, n_rows: int, k: int, n_train: int, largest: bool) -> TopK:
        return TopK(n_rows, min(k, n_train), largest,
                    self.checkpoints[0].params["entity_embedding"])

    def _run(self, test_triples, train_triples, make_consumer, candidates):
        """Stream all training edges (or each test triple's candidates) into consumers."""
        train = self.training_edges(train_triples)
        rights = self._rights(test_triples)
        if candidates is None:
            consumer = make_consumer(_n_test(rights), len(train))
            self._stream(train, torch.arange(len(train)), rights, consumer.update, "TracIn")
            return consumer.result()
        if len(candidates) != _n_test(rights):
            raise ValueError(f"TracIn: {len(candidates)} candidate sets for {_n_test(rights)} "
                             "test triples")
        results = []
        for j, ids in enumerate(candidates):
            ids = torch.as_tensor(ids, dtype=torch.long)
            consumer = make_consumer(1, len(ids))
            consumer.update(self.checkpoints[0].params["entity_embedding"].new_zeros(1, 0), ids[:0])
            self._stream(train, ids, [r.take(slice(j, j + 1)) for r in rights], consumer.update,
                         f"TracIn {j}")
            results.append(consumer.result())
        return results

    # ----------------------------------------------------------------- self-influence

    def self_influence(self, train_triples: Tensor | None = None) -> Tensor:
        """Self-influence sum_k eta_k ||grad l(w_k, z)||^2 of training edges (Pruthi et al.
        2020, section 3.3), the gradient of an edge summing both directions.

        Returns:
            (n,) scores in the computation dtype (non-negative up to rounding).
        """
        train = self.training_edges(train_triples)
        out = []
        for start in tqdm(range(0, len(train), self.batch_size), desc="self-influence",
                          disable=not self.show_progress):
            with torch.no_grad():
                out.append(self._self_batch(train[start:start + self.batch_size].to(self.device),
                                            self.train_objective, edges=True))
        return torch.cat(out) if out else torch.zeros(0)

    def test_self_influence(self, test_triples: Tensor) -> Tensor:
        """Self-influence of test triples (their tail-prediction examples, test objective)."""
        with torch.no_grad():
            return self._self_batch(self.test_examples(torch.as_tensor(test_triples)),
                                    self.test_objective, edges=False)

    def _self_batch(self, triples: Tensor, objective: Objective, edges: bool) -> Tensor:
        total = None
        for ckpt in self.checkpoints:
            examples = self.edge_examples(triples) if edges else triples
            term = ckpt.learning_rate * self._squared_norms(ckpt, examples, objective,
                                                            edges and self.config.reciprocal)
            total = term if total is None else total + term
        return total

    def _squared_norms(self, ckpt, examples, objective, two_directions: bool) -> Tensor:
        """||g||^2 per example, or ||g_fwd + g_inv||^2 per edge when ``two_directions``."""
        if self.method == "generic":
            blocks = per_sample_grads(ckpt.params, ckpt.buffers, self.config, examples,
                                      objective, self.names)
            if two_directions:
                blocks = merge_directions(blocks)
            dense = densify(blocks, self._table_rows(ckpt))
            return blocks.flat.pow(2).sum(1) + sum(v.pow(2).sum((1, 2)) for v in dense.values())
        factors = self._factors(ckpt, examples, objective)
        right = as_right(factors, self.num_entities)

        def diag(a: slice, b: slice) -> Tensor:
            return structured_scores(_take(factors, a), _take(right, b), self.factored, DIAGONAL)

        if not two_directions:
            return diag(slice(None), slice(None))
        n = len(examples) // 2
        fwd, inv = slice(0, n), slice(n, None)
        return diag(fwd, fwd) + 2 * diag(fwd, inv) + diag(inv, inv)
