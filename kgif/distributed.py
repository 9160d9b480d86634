"""Several processes via ``torch.distributed``: shard the training edges, merge top-k exactly.

Launch with ``torchrun --nproc-per-node N -m kgif explain ...``. Each rank scores a contiguous
range of training rows (:func:`shard_range`) against every test triple and keeps its local top-k
proponents and opponents; the ranks then ``all_gather`` their (T, k) scores and global row
indices and every rank merges them with the rule of :class:`kgif.tracin.TopK`: a stable sort by
score, ties broken by the smaller global row index. The merged top-k equals the single-process
top-k because every global top-k edge is in the top-k of its own shard. Only rank 0 writes.

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

from kgif.tracin import KMostInfluentialResults, TracIn

__all__ = ["Context", "ShardedTracIn", "broadcast_object", "init_from_env", "merge_topk",
           "pad_topk", "shard_range"]

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


def shard_range(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """Contiguous rows ``[start, stop)`` of rank ``rank``: sizes differ by at most one.

    Raises:
        ValueError: unless ``0 <= rank < world_size``.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"shard_range: rank={rank} outside [0, {world_size})")
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def pad_topk(result: KMostInfluentialResults, k: int) -> KMostInfluentialResults:
    """Pad (T, k') results to exactly (T, k) with index -1 and score NaN (k' <= k)."""
    missing = k - result.indices.shape[1]
    indices = torch.nn.functional.pad(result.indices, (0, missing), value=-1)
    scores = torch.nn.functional.pad(result.influence_scores, (0, missing), value=float("nan"))
    return KMostInfluentialResults(indices, scores)


def merge_topk(parts: Sequence[KMostInfluentialResults], k: int,
               largest: bool) -> KMostInfluentialResults:
    """Exact top-k of per-shard top-k lists (shards in ascending row order).

    Concatenates the parts (so smaller global indices come first), sorts stably by score and
    keeps k, the rule of :class:`kgif.tracin.TopK`; padding (index -1 / NaN) sorts last.

    Args:
        parts: per-shard results, each (T, k_s) global indices and scores.
        k: how many to keep.
        largest: proponents (True, descending) or opponents (False, ascending).

    Returns:
        (T, k) indices and scores, padded with -1/NaN when fewer than k are valid.
    """
    indices = torch.cat([p.indices for p in parts], 1)
    scores = torch.cat([p.influence_scores for p in parts], 1)
    order = torch.sort(scores, dim=1, descending=largest, stable=True).indices
    order = order.gather(1, torch.sort((indices.gather(1, order) < 0).to(torch.int8), dim=1,
                                       stable=True).indices)  # padding last, order kept
    order = order[:, :k]
    return pad_topk(KMostInfluentialResults(indices.gather(1, order), scores.gather(1, order)), k)


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
    """A :class:`~kgif.tracin.TracIn` whose :meth:`top_influences` runs over this rank's shard
    of the training edges and merges across ranks; the other methods delegate unchanged.

    Pass it to :func:`kgif.report.explain` on every rank (it is a collective call), with
    ``self_influence`` True on rank 0 only.
    """

    def __init__(self, tracin: TracIn, context: Context):
        self.tracin, self.context = tracin, context

    def __getattr__(self, name: str):
        return getattr(self.tracin, name)

    def top_influences(self, test_triples: Tensor, k: int, train_triples: Tensor | None = None,
                       candidates: Sequence[Tensor] | None = None
                       ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        """Global top-k proponents and opponents (T, k) of each test triple.

        Arguments as :meth:`kgif.tracin.TracIn.top_influences`; candidate ids are global rows
        of ``train_triples``. Rows with fewer than k candidates are padded with -1/NaN.
        """
        if k < 1:
            raise ValueError(f"ShardedTracIn.top_influences: k={k} must be positive")
        train = self.tracin.training_edges(train_triples)
        start, stop = shard_range(len(train), self.context.rank, self.context.world_size)
        local = None
        if candidates is not None:
            local = [_local_ids(torch.as_tensor(c, dtype=torch.long), start, stop)
                     for c in candidates]
        pro, opp = self._local_top(test_triples, k, train[start:stop], local)
        return tuple(self._merge(_shift(r, start), k, largest)
                     for r, largest in ((pro, True), (opp, False)))

    def _local_top(self, test_triples, k, shard, local):
        if len(shard) == 0 or (local is not None and not any(len(c) for c in local)):
            empty = self.tracin.checkpoints[0].params["entity_embedding"].new_empty(
                len(test_triples), 0)
            nothing = KMostInfluentialResults(empty.long(), empty)
            return nothing, nothing
        return self.tracin.top_influences(test_triples, k, shard, local)

    def _merge(self, result: KMostInfluentialResults, k: int,
               largest: bool) -> KMostInfluentialResults:
        result = pad_topk(result, k)
        if not self.context.distributed:
            return merge_topk([result], k, largest)
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
