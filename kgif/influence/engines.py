"""TracIn engines: how one checkpoint's per-sample gradient inner products are formed.

Both engines expose the same three methods, so :class:`kgif.influence.tracin.TracIn` never
branches on the method:

* ``test_cache(ckpt, examples, objective)`` -> the right side, computed once per checkpoint;
* ``edge_scores(ckpt, examples, objective, cache, two_directions)`` -> (B, T) inner products
  of B training edges (an edge's two directions summed) with the cached test side;
* ``squared_norms(ckpt, examples, objective, two_directions)`` -> (B,) squared gradient norms
  (self-influence).

``structured`` (default) forms every product from the low-rank factors of docs/derivations.md
(:func:`kgif.influence.grads.structured_factors`,
:func:`kgif.influence.kernels.structured_scores`), exact; ``generic`` materialises ``vmap(grad)``
gradients (:func:`kgif.influence.grads.per_sample_grads`) and
takes dot products, for any parameter subset, at a memory cost of B x parameters.
Both are checked against a plain float64 autograd loop in ``tests/influence/test_tracin.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import torch
from torch import Tensor

from kgif.influence.grads import FACTORED, Factors, per_sample_grads, structured_factors
from kgif.influence.kernels import (
    ALL_PAIRS,
    DIAGONAL,
    as_right,
    densify,
    generic_scores,
    merge_directions,
    row_groups,
    shared_x_products,
    structured_scores,
)
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig
from kgif.model.loss import Objective

__all__ = ["ENGINES", "GenericCache", "GenericEngine", "StructuredEngine"]


def _take(factors: Factors, rows: Tensor | slice) -> Factors:
    """Factors of a subset of the examples."""
    parts: dict[str, Any] = {f.name: None if getattr(factors, f.name) is None
                             else getattr(factors, f.name)[rows] for f in fields(Factors)}
    return replace(factors, **parts)


def _factor_tensors(factors: Factors) -> Iterator[tuple[str, Tensor]]:
    for f in fields(Factors):
        value = getattr(factors, f.name)
        if isinstance(value, Tensor) and value.is_floating_point():
            yield f.name, value


def _halves(examples: Tensor) -> tuple[slice, slice]:
    n = len(examples) // 2
    return slice(0, n), slice(n, None)


class StructuredEngine:
    """Exact inner products from gradient factors (docs/derivations.md sections 4-5).

    Args:
        config: the model hyper-parameters.
        names: the parameter subset (see :func:`kgif.influence.grads.resolve_parameters`).
        num_entities: N.
        compile: wrap the (B, T) contraction in ``torch.compile`` (same function).

    Attributes:
        share_rows: row sharing of the fc-weight term's <x_i, x_j>: computed once per
            distinct (head, relation row) of a batch
            (:func:`kgif.influence.kernels.shared_x_products`) when at most
            :attr:`share_fraction` of the batch's examples are distinct rows.
            None (default): on for CPU tensors, off on accelerators (finding the distinct
            rows, ``torch.unique``, waits for the device once per batch). Exact either way.
        share_fraction: the distinct-row fraction at or below which sharing is used.
    """

    share_rows: bool | None = None
    share_fraction: float = 0.75

    def __init__(self, config: ConvEConfig, names: tuple[str, ...], num_entities: int,
                 compile: bool = False):
        self.config, self.num_entities = config, num_entities
        self.factored = tuple(n for n in names if n in FACTORED)
        self.small_names = tuple(n for n in names if n not in FACTORED)
        self._kernel = torch.compile(structured_scores, dynamic=True) if compile \
            else structured_scores

    def _factors(self, ckpt: Checkpoint, examples: Tensor, objective: Objective) -> Factors:
        return structured_factors(ckpt.params, ckpt.buffers, self.config, examples, objective,
                                  self.small_names)

    def test_cache(self, ckpt: Checkpoint, examples: Tensor, objective: Objective) -> Factors:
        """Right-side factors (dense u, (T, N)) of T test examples."""
        return as_right(self._factors(ckpt, examples, objective), self.num_entities)

    def cache_tensors(self, cache: Factors) -> Iterator[tuple[str, Tensor]]:
        """(name, tensor) of the cache's floating tensors, for finiteness checks."""
        return _factor_tensors(cache)

    def edge_scores(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                    cache: Factors, two_directions: bool) -> Tensor:
        """(B, T) kernel; ``examples`` are (2B, 3) forward then inverse when two_directions."""
        factors = self._factors(ckpt, examples, objective)
        scores = self._kernel(factors, cache, self.factored, ALL_PAIRS,
                              self._x_products(ckpt, factors, cache))
        if not two_directions:
            return scores
        fwd, inv = _halves(examples)
        return scores[fwd] + scores[inv]

    def _x_products(self, ckpt: Checkpoint, factors: Factors, cache: Factors) -> Tensor | None:
        """Row-shared (B, T) <x_i, x_j>, or None to let the kernel form it per example."""
        share = self.share_rows
        if share is None:
            share = factors.x.device.type == "cpu"
        if not share or "fc.weight" not in self.factored:
            return None
        first, inverse = row_groups(factors.h, factors.r,
                                    ckpt.params["relation_embedding"].shape[0])
        if len(first) > self.share_fraction * len(inverse):
            return None
        return shared_x_products(factors.x, first, inverse, cache.x)

    def squared_norms(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                      two_directions: bool) -> Tensor:
        """(B,) ||g||^2, or ||g_fwd + g_inv||^2 per edge when two_directions."""
        factors = self._factors(ckpt, examples, objective)
        right = as_right(factors, self.num_entities)

        def diag(a: slice, b: slice) -> Tensor:
            return structured_scores(_take(factors, a), _take(right, b), self.factored, DIAGONAL)

        if not two_directions:
            return diag(slice(None), slice(None))
        fwd, inv = _halves(examples)
        return diag(fwd, fwd) + 2 * diag(fwd, inv) + diag(inv, inv)


@dataclass
class GenericCache:
    """Materialised test-side gradients: flat (T, P) and dense tables name -> (T, rows, w)."""

    flat: Tensor
    tables: dict[str, Tensor]


class GenericEngine:
    """Materialised ``vmap(grad)`` per-sample gradients and their dot products.

    Args: as :class:`StructuredEngine`.
    """

    def __init__(self, config: ConvEConfig, names: tuple[str, ...], num_entities: int,
                 compile: bool = False):
        self.config, self.names, self.num_entities = config, names, num_entities
        self._kernel = torch.compile(generic_scores, dynamic=True) if compile else generic_scores

    def _blocks(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                two_directions: bool):
        blocks = per_sample_grads(ckpt.params, ckpt.buffers, self.config, examples, objective,
                                  self.names)
        return merge_directions(blocks) if two_directions else blocks

    @staticmethod
    def _table_rows(ckpt: Checkpoint) -> dict[str, int]:
        return {n: ckpt.params[n].shape[0] for n in ("entity_embedding", "relation_embedding",
                                                      "entity_bias") if n in ckpt.params}

    def test_cache(self, ckpt: Checkpoint, examples: Tensor, objective: Objective
                   ) -> GenericCache:
        """Dense gradients of T test examples."""
        blocks = self._blocks(ckpt, examples, objective, False)
        return GenericCache(blocks.flat, densify(blocks, self._table_rows(ckpt)))

    def cache_tensors(self, cache: GenericCache) -> Iterator[tuple[str, Tensor]]:
        """(name, tensor) of the cache's tensors, for finiteness checks."""
        yield "flat", cache.flat
        yield from cache.tables.items()

    def edge_scores(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                    cache: GenericCache, two_directions: bool) -> Tensor:
        """(B, T) dot products of the edges' gradients with the cached test gradients."""
        blocks = self._blocks(ckpt, examples, objective, two_directions)
        return self._kernel(blocks, cache.flat, cache.tables)

    def squared_norms(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                      two_directions: bool) -> Tensor:
        """(B,) squared norms of the materialised gradients."""
        blocks = self._blocks(ckpt, examples, objective, two_directions)
        dense = densify(blocks, self._table_rows(ckpt))
        return blocks.flat.pow(2).sum(1) + sum(v.pow(2).sum((1, 2)) for v in dense.values())


class Engine(Protocol):
    """What :class:`kgif.influence.tracin.TracIn` calls on an engine; each engine has its own
    test-cache type (:class:`Factors`, :class:`GenericCache`), passed back to it unchanged."""

    def test_cache(self, ckpt: Checkpoint, examples: Tensor, objective: Objective) -> Any: ...

    def cache_tensors(self, cache: Any) -> Iterator[tuple[str, Tensor]]: ...

    def edge_scores(self, ckpt: Checkpoint, examples: Tensor, objective: Objective, cache: Any,
                    two_directions: bool) -> Tensor: ...

    def squared_norms(self, ckpt: Checkpoint, examples: Tensor, objective: Objective,
                      two_directions: bool) -> Tensor: ...


#: Engines by ``TracIn(method=...)`` name.
ENGINES: dict[str, Callable[..., Engine]] = {
    "structured": StructuredEngine,
    "generic": GenericEngine,
}
