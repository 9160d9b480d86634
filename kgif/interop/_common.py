"""Helpers shared by the PyKEEN and seed-project converters: renaming state dicts,
inferring the ConvE image shape from tensor shapes, checking shapes and id maps.

See :mod:`kgif.interop` for the two layouts.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from kgif.model.checkpoint import Checkpoint, read_torch_file
from kgif.model.conve import BATCH_NORMS, ConvEConfig, Params

logger = logging.getLogger(__name__)

#: eta used when neither the checkpoint nor the caller gives a learning rate (with a warning).
DEFAULT_LEARNING_RATE = 1.0

_BN_STATE = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_EMBEDDINGS = {  # kgif parameter name -> (PyKEEN key, seed key)
    "entity_embedding": ("entity_representations.0._embeddings.weight",
                         "entity_embeddings.weight"),
    "entity_bias": ("entity_representations.1._embeddings.weight", None),
    "relation_embedding": ("relation_representations.0._embeddings.weight",
                           "relation_embeddings.weight"),
}

# --------------------------------------------------------------------------- key tables


def _key_table(layers: Mapping[str, str], embeddings: Mapping[str, str]) -> dict[str, str]:
    """kgif name (params and buffers) -> foreign state-dict key."""
    table = dict(embeddings)
    for layer, prefix in layers.items():
        attrs = _BN_STATE if layer in BATCH_NORMS else ("weight", "bias")
        table |= {f"{layer}.{a}": f"{prefix}.{a}" for a in attrs}
    return table


def _rename(state: Mapping[str, Tensor], table: dict[str, str], who: str
            ) -> tuple[Params, Params]:
    """Foreign state dict -> (params, buffers); every key must be used exactly once."""
    missing = [key for key in table.values() if key not in state]
    if missing:
        raise ValueError(f"{who}: missing state-dict key(s) {missing}")
    unexpected = sorted(set(state) - set(table.values()))
    if unexpected:
        raise ValueError(f"{who}: unexpected state-dict key(s) {unexpected}")
    params: dict[str, Tensor] = {}
    buffers: dict[str, Tensor] = {}
    for name, key in table.items():
        value = state[key]
        if not isinstance(value, Tensor):
            raise ValueError(f"{who}: {key} holds a {type(value).__name__}, not a tensor")
        is_buffer = name.endswith(("running_mean", "running_var", "num_batches_tracked"))
        (buffers if is_buffer else params)[name] = value.detach().clone()
    if "entity_bias" in params:
        params["entity_bias"] = _squeeze_bias(params["entity_bias"], table["entity_bias"], who)
    return params, buffers


def _squeeze_bias(bias: Tensor, key: str, who: str) -> Tensor:
    """PyKEEN's (N, 1) bias embedding -> kgif's (N,) bias."""
    if bias.dim() != 2 or bias.shape[1] != 1:
        raise ValueError(f"{who}: {key} has shape {tuple(bias.shape)}, expected (N, 1)")
    return bias[:, 0].contiguous()


# --------------------------------------------------------------------------- shape inference


def _candidate_shapes(dim: int, channels: int, kernel: tuple[int, int], features: int,
                      stacking: str) -> list[tuple[int, int]]:
    """Every (H, W) with H W = d whose stacked image gives ``features`` fc inputs."""
    found = []
    for height in (h for h in range(1, dim + 1) if dim % h == 0):
        width = dim // height
        img_h, img_w = (2 * height, width) if stacking == "height" else (height, 2 * width)
        map_h, map_w = img_h - kernel[0] + 1, img_w - kernel[1] + 1
        if map_h > 0 and map_w > 0 and channels * map_h * map_w == features:
            found.append((height, width))
    return found


def _infer_config(params: Params, fixed: dict, overrides: dict, who: str) -> ConvEConfig:
    """ConvEConfig from tensor shapes, ``fixed`` layout fields and user ``overrides``."""
    for name in ("entity_embedding", "conv.weight", "fc.weight"):
        ndim = {"conv.weight": 4}.get(name, 2)
        if params[name].dim() != ndim:
            raise ValueError(f"{who}: {name} weights have shape {tuple(params[name].shape)}, "
                             f"expected a {ndim}-d tensor")
    dim = params["entity_embedding"].shape[1]
    channels, in_channels, kh, kw = params["conv.weight"].shape
    if in_channels != 1:
        raise ValueError(f"{who}: conv weight has {in_channels} input channels; kgif supports "
                         "ConvE with input_channels=1 only")
    fields = {**fixed, "embedding_dim": dim, "output_channels": channels,
              "kernel_height": kh, "kernel_width": kw, **overrides}
    if fields.get("embedding_height") is None and fields.get("embedding_width") is None:
        shapes = _candidate_shapes(dim, channels, (kh, kw), params["fc.weight"].shape[1],
                                   fields["stacking"])
        if len(shapes) != 1:
            raise ValueError(
                f"{who}: cannot tell the image shape from the tensors: height x width "
                f"candidates {shapes} for d={dim}, {channels} channels, kernel {kh}x{kw}, fc "
                f"input {params['fc.weight'].shape[1]}; pass config={{'embedding_height': H}}"
            )
        fields["embedding_height"], fields["embedding_width"] = shapes[0]
    return ConvEConfig.from_dict(fields, who)


def _expected_shapes(config: ConvEConfig, num_entities: int, relation_rows: int
                     ) -> dict[str, tuple[int, ...]]:
    d, c = config.embedding_dim, config.output_channels
    shapes = {
        "entity_embedding": (num_entities, d), "relation_embedding": (relation_rows, d),
        "conv.weight": (c, 1, config.kernel_height, config.kernel_width), "conv.bias": (c,),
        "fc.weight": (d, config.num_features), "fc.bias": (d,),
    }
    if config.entity_bias:
        shapes["entity_bias"] = (num_entities,)
    if config.apply_batch_normalization:
        for layer, width in zip(BATCH_NORMS, (1, c, d), strict=True):
            shapes |= {f"{layer}.{a}": (width,) for a in _BN_STATE[:4]}
            shapes[f"{layer}.num_batches_tracked"] = ()
    return shapes


def _check_shapes(params: Params, buffers: Params, config: ConvEConfig, table: dict[str, str],
                  who: str) -> None:
    """Every tensor must have the shape ``config`` implies; errors name the foreign key."""
    expected = _expected_shapes(config, params["entity_embedding"].shape[0],
                                params["relation_embedding"].shape[0])
    for name, value in {**params, **buffers}.items():
        if tuple(value.shape) != expected[name]:
            raise ValueError(f"{who}: {table[name]} has shape {tuple(value.shape)}, expected "
                             f"{expected[name]} for {config}")


def _merge_config(config, fixed: dict, who: str) -> dict:
    """``config`` (ConvEConfig, dict of field overrides or None) -> override dict."""
    if config is None:
        return {}
    if isinstance(config, ConvEConfig):
        config = dataclasses.asdict(config)
    if not isinstance(config, Mapping):
        raise ValueError(f"{who}: config must be a ConvEConfig or a dict, got {type(config)}")
    known = {f.name for f in dataclasses.fields(ConvEConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{who}: unknown config field(s) {unknown}")
    clash = {k: (config[k], v) for k, v in fixed.items() if k in config and config[k] != v}
    if clash:
        raise ValueError(f"{who}: config {clash} (given, required) contradicts the file layout")
    return dict(config)


# --------------------------------------------------------------------------- common helpers


def _load_file(path: Path, who: str, trust_pickle: bool):
    """torch.load: weights_only=True, or a full unpickle only when the caller trusts the file.

    Damaged files (empty, truncated, random bytes) raise the "damaged or not a checkpoint"
    ValueError of :func:`kgif.model.checkpoint.read_torch_file`, never a hint to unpickle them.
    """
    try:
        with warnings.catch_warnings():  # torch warns about protocol 5 before failing on it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return read_torch_file(path, who)
    except ValueError as error:
        needs_pickle = "needs full unpickling" in str(error)
        if not trust_pickle:
            if needs_pickle:
                raise ValueError(f"{error}. If you wrote this file yourself, pass "
                                 "trust_pickle=True (CLI: --trust-pickle)") from error
            raise
        reading_error = error
    logger.warning("%s: unpickling %s with weights_only=False (trust_pickle=True)", who, path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # a plain pickle that is damaged too: report the first reason
        raise reading_error from error


def _resolve_learning_rate(found: float | None, given: float | None, who: str,
                           stacklevel: int = 3) -> float:
    """Checkpoint's learning rate, else the caller's, else DEFAULT_LEARNING_RATE with a warning.

    ``stacklevel`` is that of the warnings (3: the caller of the function that calls this one).
    """
    if found is not None:
        if given is not None and float(given) != float(found):
            warnings.warn(f"{who}: using the checkpoint's learning rate {found}, not "
                          f"learning_rate={given}", stacklevel=stacklevel)
        return float(found)
    if given is not None:
        return float(given)
    warnings.warn(f"{who}: no learning rate in the checkpoint and none given; defaulting to "
                  f"{DEFAULT_LEARNING_RATE} (TracIn scores scale with it; pass learning_rate=)",
                  stacklevel=stacklevel)
    return DEFAULT_LEARNING_RATE


def _config_overrides(meta: dict, config, fixed: dict, who: str) -> dict:
    """Config overrides of a conversion: the fields found in the file (``meta["config"]``), then
    the caller's ``config`` (checked against the ``fixed`` fields the file layout imposes)."""
    return {**meta.get("config", {}), **_merge_config(config, fixed, who)}


def _run_fields(meta: dict, learning_rate: float | None, epoch: int | None, who: str) -> dict:
    """The Checkpoint's ``learning_rate`` (the TracInCP weight: the file's optimizer rate
    ``meta["lr"]``, else the caller's, else the default with a warning) and ``epoch`` (the
    caller's, else the file's ``meta["epoch"]``, else 0)."""
    return {"learning_rate": _resolve_learning_rate(meta.get("lr"), learning_rate, who,
                                                    stacklevel=4),
            "epoch": int(epoch if epoch is not None else meta.get("epoch") or 0)}


def _optimizer_lr(payload: Mapping, key: str) -> float | None:
    """``payload[key]["param_groups"][0]["lr"]`` or None."""
    groups = (payload.get(key) or {}).get("param_groups") or [{}]
    lr = groups[0].get("lr")
    return None if lr is None else float(lr)

def _id_maps(entity_to_id, relation_to_id, found: tuple[dict | None, dict | None]):
    return dict(entity_to_id or found[0] or {}), dict(relation_to_id or found[1] or {})



def _finish(params: Params, buffers: Params, config: ConvEConfig, table: dict[str, str],
            fields: dict, who: str) -> Checkpoint:
    """Validate shapes and id-map sizes, then build the Checkpoint."""
    _check_shapes(params, buffers, config, table, who)
    num_entities = params["entity_embedding"].shape[0]
    ent, rel = fields["entity_to_id"], fields["relation_to_id"]
    if ent and len(ent) != num_entities:
        raise ValueError(f"{who}: entity_to_id has {len(ent)} entities, the entity table "
                         f"{table['entity_embedding']} has {num_entities} rows")
    rows = params["relation_embedding"].shape[0]
    if rel and config.num_relation_rows(len(rel)) != rows:
        raise ValueError(f"{who}: relation_to_id has {len(rel)} relations, the relation table "
                         f"{table['relation_embedding']} has {rows} rows (reciprocal="
                         f"{config.reciprocal})")
    logger.info("%s: ConvE d=%d (%dx%d, %s stacking), %d channels, %d entities, %d relation rows",
                who, config.embedding_dim, config.embedding_height, config.embedding_width,
                config.stacking, config.output_channels, num_entities, rows)
    return Checkpoint(params=params, buffers=buffers, config=config, **fields)

