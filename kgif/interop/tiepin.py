"""Seed-project (james0032/TiePin ``train_pytorch.py``) ConvE checkpoints -> kgif checkpoints.

See :mod:`kgif.interop` for the key layout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from kgif.interop._common import (
    _EMBEDDINGS,
    _config_overrides,
    _finish,
    _infer_config,
    _key_table,
    _load_file,
    _optimizer_lr,
    _rename,
    _run_fields,
)
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig, Params

__all__ = ["from_seed"]

logger = logging.getLogger(__name__)

_SEED_LAYERS = {"bn0": "bn0", "conv": "conv1", "bn1": "bn1", "fc": "fc", "bn2": "bn2"}
_SEED_TABLE = _key_table(
    _SEED_LAYERS, {k: v[1] for k, v in _EMBEDDINGS.items() if v[1] is not None}
)


#: The seed checkpoint's ``epoch`` is the 0-based index of the last finished epoch.
_SEED_FIXED = {"stacking": "width", "entity_bias": False, "reciprocal": False,
               "apply_batch_normalization": True}


def _seed_payload(payload, path: Path | None, who: str) -> tuple[Mapping, dict]:
    """A loaded seed object -> (state dict, metadata)."""
    if isinstance(payload, torch.nn.Module):
        shape = {k: getattr(payload, k) for k in ("embedding_height", "embedding_width")
                 if isinstance(getattr(payload, k, None), int)}
        return payload.state_dict(), {"config": shape}
    if not isinstance(payload, Mapping):
        raise ValueError(f"{who}: {path or 'source'} holds a {type(payload).__name__}, expected "
                         "a seed checkpoint dict or state dict")
    if "model_state_dict" not in payload:
        return payload, {}
    model_config = payload.get("model_config") or {}
    metrics = payload.get("metrics") or {}
    return payload["model_state_dict"], {
        "config": {k: int(model_config[k]) for k in ("embedding_height", "embedding_width")
                   if k in model_config},
        "lr": _optimizer_lr(payload, "optimizer_state_dict"),
        "epoch": int(payload["epoch"]) + 1 if "epoch" in payload else None,
        "metrics": {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        "counts": {k: model_config[k] for k in ("num_entities", "num_relations")
                   if k in model_config},
    }


def _check_seed_counts(params: Params, counts: dict, who: str) -> None:
    """model_config's num_entities / num_relations must match the tables."""
    for name, key in (("num_entities", "entity_embedding"),
                      ("num_relations", "relation_embedding")):
        if name in counts and int(counts[name]) != params[key].shape[0]:
            raise ValueError(f"{who}: model_config {name}={counts[name]} but "
                             f"{_SEED_TABLE[key]} has {params[key].shape[0]} rows")


def from_seed(source, *, entity_to_id: dict[str, int] | None = None,
              relation_to_id: dict[str, int] | None = None, learning_rate: float | None = None,
              config: ConvEConfig | dict | None = None, epoch: int | None = None,
              trust_pickle: bool = False) -> Checkpoint:
    """Convert a checkpoint of the seed project's pure-PyTorch ConvE (james0032/TiePin).

    The seed model concatenates the head and relation images along the width, has no entity
    bias and no inverse relations; the result uses ``ConvEConfig(stacking="width",
    entity_bias=False, reciprocal=False)`` and scores exactly as the seed model in eval mode.
    (In training mode the seed applies input dropout before bn0, kgif after; attribution is
    eval mode, so TracIn is unaffected.)

    Args:
        source: a ``checkpoint_epoch_*.pt`` / ``best_model.pt`` path or loaded dict
            (``epoch``, ``model_state_dict``, ``optimizer_state_dict``, ``model_config``,
            optional ``metrics``), a bare ``model_state_dict``, or the seed ``nn.Module``.
        entity_to_id, relation_to_id: the seed's ``node_dict.txt`` / ``rel_dict.txt`` maps
            (e.g. from :func:`kgif.data.datasets.load_dataset`); optional.
        learning_rate: eta when the file has no optimizer state; the file's Adam
            ``param_groups[0]["lr"]`` wins (warning if they differ); neither: 1.0 with a warning.
        config: ConvEConfig or dict of fields (dropouts; ``embedding_height`` when
            ``model_config`` is absent and several image shapes fit).
        epoch: completed epochs; default: the file's 0-based ``epoch`` + 1.
        trust_pickle: allow ``torch.load(weights_only=False)`` (only for files you wrote).

    Returns:
        A Checkpoint; ``metrics`` holds the file's validation metrics when present.

    Raises:
        ValueError: missing/unexpected/misshapen keys (named), ambiguous image shape, counts
            contradicting ``model_config``, or a file that needs unpickling.
        FileNotFoundError: ``source`` names a missing file.
    """
    who = "from_seed"
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        state, meta = _seed_payload(_load_file(path, who, trust_pickle), path, who)
    else:
        state, meta = _seed_payload(source, None, who)
    params, buffers = _rename(state, _SEED_TABLE, who)
    _check_seed_counts(params, meta.get("counts", {}), who)
    overrides = _config_overrides(meta, config, _SEED_FIXED, who)
    cfg = _infer_config(params, dict(_SEED_FIXED), overrides, who)
    fields = {**_run_fields(meta, learning_rate, epoch, who),
              "entity_to_id": dict(entity_to_id or {}),
              "relation_to_id": dict(relation_to_id or {}), "metrics": meta.get("metrics", {})}
    return _finish(params, buffers, cfg, _SEED_TABLE, fields, who)
