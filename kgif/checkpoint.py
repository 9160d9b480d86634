"""Checkpoints: parameters, buffers, the learning rate TracIn needs, config and id maps.

A checkpoint file is a ``torch.save`` of plain containers, tensors and numbers only, so it
loads with ``torch.load(path, weights_only=True)`` (never unpickling arbitrary objects); or a
``.safetensors`` file whose metadata holds the JSON fields. Writes are atomic: a temporary file
in the same folder, then ``os.replace``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from kgif._io import atomic_write
from kgif.model import ConvEConfig, Params

__all__ = ["Checkpoint", "atomic_write", "list_checkpoints", "load_checkpoint",
           "load_checkpoints", "save_checkpoint"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
CHECKPOINT_SUFFIXES = (".pt", ".safetensors")


@dataclass
class Checkpoint:
    """One snapshot of a ConvE model during training.

    Attributes:
        params: flat parameter dict (see :mod:`kgif.model` for names and shapes).
        buffers: BatchNorm running statistics.
        config: the model hyper-parameters.
        learning_rate: eta_k, the learning rate in force for the epochs this checkpoint closes
            (TracInCP weight, Pruthi et al. 2020, eq. 3).
        epoch: number of completed epochs.
        entity_to_id, relation_to_id: id maps (base relations); may be empty for anonymous
            models.
        metrics: e.g. ``{"validation_mrr": 0.9}``.
        training_state: optional resume state (optimizer state dict, RNG states, ...), tensors
            and plain containers only.
    """

    params: Params
    buffers: Params
    config: ConvEConfig
    learning_rate: float
    epoch: int = 0
    entity_to_id: dict[str, int] = field(default_factory=dict)
    relation_to_id: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    training_state: dict | None = None

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy with floating tensors moved/cast (integer buffers keep their dtype)."""

        def move(tensors: Params) -> Params:
            return {
                k: v.to(device=device, dtype=dtype if v.is_floating_point() else None)
                for k, v in tensors.items()
            }

        return Checkpoint(move(self.params), move(self.buffers), self.config, self.learning_rate,
                          self.epoch, self.entity_to_id, self.relation_to_id, self.metrics,
                          self.training_state)


def _metadata(ckpt: Checkpoint) -> dict:
    return {
        "format": "kgif-checkpoint",
        "version": FORMAT_VERSION,
        "config": ckpt.config.to_dict(),
        "learning_rate": float(ckpt.learning_rate),
        "epoch": int(ckpt.epoch),
        "entity_to_id": dict(ckpt.entity_to_id),
        "relation_to_id": dict(ckpt.relation_to_id),
        "metrics": {k: float(v) for k, v in ckpt.metrics.items()},
    }


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike) -> Path:
    """Write ``ckpt`` atomically; the suffix picks the format (``.pt`` or ``.safetensors``).

    ``.safetensors`` needs the ``safetensors`` package and drops ``training_state``.

    Raises:
        ValueError: on another suffix.
    """
    path = Path(path)
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"save_checkpoint: {path} must end in one of {CHECKPOINT_SUFFIXES}")
    meta = _metadata(ckpt)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        tensors = {f"params/{k}": v.contiguous() for k, v in ckpt.params.items()}
        tensors |= {f"buffers/{k}": v.contiguous() for k, v in ckpt.buffers.items()}
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"kgif": json.dumps(meta)}))
    else:
        payload = {**meta, "params": ckpt.params, "buffers": ckpt.buffers,
                   "training_state": ckpt.training_state}
        atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return path


def _from_payload(meta: dict, params: Params, buffers: Params, path: Path, state=None):
    if meta.get("format") != "kgif-checkpoint":
        raise ValueError(
            f"load_checkpoint: {path} is not a kgif checkpoint (format={meta.get('format')!r}); "
            "convert PyKEEN or seed-project files with `python -m kgif convert`"
        )
    return Checkpoint(
        params=params, buffers=buffers, config=ConvEConfig(**meta["config"]),
        learning_rate=float(meta["learning_rate"]), epoch=int(meta["epoch"]),
        entity_to_id=dict(meta["entity_to_id"]), relation_to_id=dict(meta["relation_to_id"]),
        metrics=dict(meta["metrics"]), training_state=state,
    )


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``, safe).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not a kgif checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint file at {path}")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device=str(map_location)) as handle:
            meta = json.loads((handle.metadata() or {}).get("kgif", "{}"))
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        params = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("params/")}
        buffers = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("buffers/")}
        return _from_payload(meta, params, buffers, path)
    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict):
        raise ValueError(f"load_checkpoint: {path} holds a {type(payload).__name__}, not a dict")
    return _from_payload(payload, payload.get("params", {}), payload.get("buffers", {}), path,
                         payload.get("training_state"))


def _epoch_key(path: Path) -> tuple[int, str]:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def list_checkpoints(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Checkpoint files in a folder (sorted by the last number in the name, e.g. the epoch),
    a single file, or an explicit list (order kept).

    Raises:
        FileNotFoundError: if a path does not exist or a folder holds no checkpoint.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            files = sorted((p for p in path.iterdir()
                            if p.suffix in CHECKPOINT_SUFFIXES and not p.name.startswith(".")),
                           key=_epoch_key)
            if not files:
                raise FileNotFoundError(f"list_checkpoints: no *.pt/*.safetensors files in {path}")
            return files
        source = [path]
    files = [Path(p) for p in source]
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"list_checkpoints: no checkpoint file at {p}")
    return files


def load_checkpoints(source, map_location: str | torch.device = "cpu") -> list[Checkpoint]:
    """Load every checkpoint of :func:`list_checkpoints` (a folder, a file or a list)."""
    return [load_checkpoint(p, map_location) for p in list_checkpoints(source)]


def state_tensors(ckpt: Checkpoint) -> dict[str, Tensor]:
    """All tensors of a checkpoint, params and buffers, by name (for comparisons)."""
    return {**ckpt.params, **ckpt.buffers}


# Conversions live in kgif.interop (which imports this module); re-exported here so that
# ``kgif.checkpoint.from_pykeen`` works as documented.
from kgif.interop import from_pykeen, from_seed, pykeen_model, to_pykeen  # noqa: E402

__all__ += ["from_pykeen", "from_seed", "pykeen_model", "to_pykeen"]
