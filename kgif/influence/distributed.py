"""Several processes via ``torch.distributed``: shard the training edges, merge top-k exactly.

Launch with ``torchrun --nproc-per-node N -m kgif explain ...``. Each rank scores a contiguous
range of training rows aligned to the TracIn batch size (:func:`shard_range`) against every test
triple and keeps its local top-k proponents and opponents; the ranks then ``all_gather`` their
(T, k) scores and global row indices and every rank merges them with
:func:`kgif.influence.topk.merge_topk`, the one top-k rule (larger score first, ties by the
smaller global row). The merged top-k equals the single-process top-k because every global
top-k edge is in the top-k of its own shard, and the aligned shards stream the same batches,
so the scores are the same bits. Only rank 0 writes.

Backends: ``gloo`` for CPU tensors, ``nccl`` for CUDA (one GPU per rank, ``cuda:LOCAL_RANK``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

from kgif.influence.topk import KMostInfluentialResults, merge_topk
from kgif.influence.tracin import TracIn

__all__ = ["Context", "ShardedTracIn", "broadcast_object", "init_from_env", "shard_range"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size`` (1 and 0 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0, the process that prints and writes."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str | None = None) -> tuple[Context, str | None]:
    """Join the process group that ``torchrun`` describes in ``WORLD_SIZE``/``RANK``.

    Without those variables (or with ``WORLD_SIZE=1``) nothing is initialised.

    Args:
        device: the requested device (``None``/``"cpu"``: gloo; ``"cuda"``: nccl, one GPU per
            rank by ``LOCAL_RANK``).

    Returns:
        ``(context, device)``, the device made rank-specific for CUDA (``"cuda:<local rank>"``).

    Raises:
        ValueError: on malformed ``WORLD_SIZE``/``RANK``/``LOCAL_RANK`` values.
    """
    env = {name: os.environ.get(name) for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    if env["WORLD_SIZE"] in (None, "", "1"):
        return Context(), device
    try:
        world, rank = int(env["WORLD_SIZE"]), int(env["RANK"] or "")
        local = int(env["LOCAL_RANK"] or rank)
    except ValueError as error:
        raise ValueError(f"init_from_env: bad torchrun environment {env}") from error
    cuda = device is not None and str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", rank=rank, world_size=world)
    logger.info("rank %d of %d (%s)", rank, world, dist.get_backend())
    return Context(rank, world, local), device


def shard_range(n: int, rank: int, world_size: int, block: int = 1) -> tuple[int, int]:
    """Contiguous rows ``[start, stop)`` of rank ``rank``, aligned to multiples of ``block``.

    The rows are cut into blocks of ``block`` (the last may be shorter) and the blocks are
    dealt out contiguously, counts differing by at most one. With ``block`` the TracIn batch
    size every shard streams exactly the batches a single process would, so float32 scores
    are bit-identical to the single-process run.

    Raises:
        ValueError: unless ``0 <= rank < world_size`` and ``block >= 1``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"shard_range: rank={rank} outside [0, {world_size})")
    if block < 1:
        raise ValueError(f"shard_range: block={block} must be positive")
    base, extra = divmod(-(-n // block), world_size)
    first = rank * base + min(rank, extra)
    last = first + base + (rank < extra)
    return min(first * block, n), min(last * block, n)


def _all_gather(tensor: Tensor) -> list[Tensor]:
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return parts


def broadcast_object(obj, context: Context):
    """Rank 0's ``obj`` on every rank (a picklable object); unchanged without a group."""
    if not context.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class ShardedTracIn:
    """A :class:`~kgif.influence.tracin.TracIn` whose :meth:`top_influences` runs over this
    rank's shard of the training edges and merges across ranks; the other methods delegate
    unchanged.

    Shards are aligned to the TracIn batch size (:func:`shard_range`), so each rank streams
    exactly the batches of a single-process run and the merged result is bit-identical to it,
    in float32 too. Pass it to :func:`kgif.explanation.explanation.explain` on every rank (it
    is a collective call), with ``self_influence`` True on rank 0 only.
    """

    def __init__(self, tracin: TracIn, context: Context):
        self.tracin, self.context = tracin, context

    def __getattr__(self, name: str):
        return getattr(self.tracin, name)

    def top_influences(self, test_triples: Tensor, k: int, train_triples: Tensor | None = None,
                       candidates: Sequence[Tensor] | None = None
                       ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        """Global top-k proponents and opponents (T, k) of each test triple.

        Arguments and result as :meth:`kgif.influence.tracin.TracIn.top_influences` (candidate
        ids are global rows of ``train_triples``; padding -1 / NaN where fewer than k exist).

        Raises:
            ValueError: on ``k < 1`` and as :meth:`kgif.influence.tracin.TracIn.top_influences`.
        """
        if k < 1:
            raise ValueError(f"ShardedTracIn.top_influences: k={k} must be positive")
        pro, opp = self.local_top_influences(test_triples, k, train_triples, candidates)
        return self._merge(pro, k, True), self._merge(opp, k, False)

    def local_top_influences(self, test_triples: Tensor, k: int,
                             train_triples: Tensor | None = None,
                             candidates: Sequence[Tensor] | None = None
                             ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        """This rank's (T, k) proponents and opponents over its shard, as global rows
        (no communication)."""
        train = self.tracin.training_edges(train_triples)
        start, stop = shard_range(len(train), self.context.rank, self.context.world_size,
                                  self.tracin.batch_size)
        local = None
        if candidates is not None:
            local = [_local_ids(torch.as_tensor(c, dtype=torch.long), start, stop)
                     for c in candidates]
        pro, opp = self.tracin.top_influences(test_triples, k, train[start:stop], local)
        return _shift(pro, start), _shift(opp, start)

    def _merge(self, result: KMostInfluentialResults, k: int,
               largest: bool) -> KMostInfluentialResults:
        if not self.context.distributed:
            return result
        indices, scores = _all_gather(result.indices), _all_gather(result.influence_scores)
        parts = [KMostInfluentialResults(i, s) for i, s in zip(indices, scores, strict=True)]
        return merge_topk(parts, k, largest)


def _local_ids(ids: Tensor, start: int, stop: int) -> Tensor:
    """Global candidate rows inside ``[start, stop)``, as shard-local rows."""
    return ids[(ids >= start) & (ids < stop)] - start


def _shift(result: KMostInfluentialResults, start: int) -> KMostInfluentialResults:
    """Shard-local indices to global rows (padding -1 kept)."""
    indices = torch.where(result.indices >= 0, result.indices + start, result.indices)
    return KMostInfluentialResults(indices, result.influence_scores)
