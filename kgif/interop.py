"""Conversion of ConvE models from PyKEEN and from the seed project into kgif checkpoints.

Two foreign layouts are read (``torch.load(weights_only=True)`` unless the caller trusts the file):

* **PyKEEN** (``pykeen.models.ConvE``, PyKEEN 1.10/1.11): state-dict keys
  ``entity_representations.0._embeddings.weight (N, d)``, the entity bias
  ``entity_representations.1._embeddings.weight (N, 1)``,
  ``relation_representations.0._embeddings.weight (R', d)`` (``R' = 2R`` with inverse triples:
  relation k at row 2k, its inverse at 2k + 1, as in kgif), and the interaction layers
  ``interaction.hr2d.{0,2,3}`` (bn0, conv, bn1) and ``interaction.hr1d.{0,2}`` (fc, bn2); without
  batch normalisation the conv is ``interaction.hr2d.1``. The head and relation images are
  stacked along the height. Converting is renaming (plus a reshape of the bias).
* **The seed project** (james0032/TiePin, ``train_pytorch.py``): ``model_state_dict`` keys
  ``entity_embeddings.weight``, ``relation_embeddings.weight`` (R rows, no inverses),
  ``conv1``, ``bn0``, ``bn1``, ``bn2``, ``fc``; no entity bias; head and relation images
  concatenated along the **width** (fc input ``C (H - kh + 1)(2W - kw + 1)``). It maps onto
  ``ConvEConfig(stacking="width", entity_bias=False, reciprocal=False)``, never onto the height
  layout. Its training forward applies input dropout *before* bn0 (kgif: after); attribution
  mode (no dropout) is unaffected.

Shapes fix everything but the image height H (and hence W = d / H): conv weight
``(C, 1, kh, kw)`` gives C and the kernel, fc weight ``(d, F)`` gives F, and each factorisation
H x W = d with matching F is a candidate. Several candidates raise a ValueError asking for
``config={"embedding_height": H}``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from kgif.checkpoint import Checkpoint
from kgif.model import BATCH_NORMS, ConvEConfig, Params

__all__ = ["DEFAULT_LEARNING_RATE", "from_pykeen", "from_seed", "pykeen_model", "to_pykeen"]

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
#: kgif layer -> PyKEEN module path, by ``apply_batch_normalization``.
_PYKEEN_LAYERS = {
    True: {"bn0": "interaction.hr2d.0", "conv": "interaction.hr2d.2",
           "bn1": "interaction.hr2d.3", "fc": "interaction.hr1d.0", "bn2": "interaction.hr1d.2"},
    False: {"conv": "interaction.hr2d.1", "fc": "interaction.hr1d.0"},
}
_SEED_LAYERS = {"bn0": "bn0", "conv": "conv1", "bn1": "bn1", "fc": "fc", "bn2": "bn2"}


# --------------------------------------------------------------------------- key tables


def _key_table(layers: Mapping[str, str], embeddings: Mapping[str, str]) -> dict[str, str]:
    """kgif name (params and buffers) -> foreign state-dict key."""
    table = dict(embeddings)
    for layer, prefix in layers.items():
        attrs = _BN_STATE if layer in BATCH_NORMS else ("weight", "bias")
        table |= {f"{layer}.{a}": f"{prefix}.{a}" for a in attrs}
    return table


def _pykeen_table(batch_norm: bool) -> dict[str, str]:
    return _key_table(_PYKEEN_LAYERS[batch_norm], {k: v[0] for k, v in _EMBEDDINGS.items()})


_SEED_TABLE = _key_table(
    _SEED_LAYERS, {k: v[1] for k, v in _EMBEDDINGS.items() if v[1] is not None}
)


def _rename(state: Mapping[str, Tensor], table: dict[str, str], who: str
            ) -> tuple[Params, Params]:
    """Foreign state dict -> (params, buffers); every key must be used exactly once."""
    missing = [key for key in table.values() if key not in state]
    if missing:
        raise ValueError(f"{who}: missing state-dict key(s) {missing}")
    unexpected = sorted(set(state) - set(table.values()))
    if unexpected:
        raise ValueError(f"{who}: unexpected state-dict key(s) {unexpected}")
    params, buffers = {}, {}
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
    return ConvEConfig(**fields)


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
    """torch.load: weights_only=True, or a full unpickle only when the caller trusts the file."""
    if not path.is_file():
        raise FileNotFoundError(f"{who}: no file at {path}")
    try:
        with warnings.catch_warnings():  # torch warns about protocol 5 before failing on it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError) as error:
        if not trust_pickle:
            raise ValueError(
                f"{who}: {path} cannot be read with torch.load(weights_only=True) "
                f"({error!s:.200}); it needs full unpickling, which can run arbitrary code. "
                "If you wrote this file yourself, pass trust_pickle=True (CLI: --trust-pickle)"
            ) from error
    logger.warning("%s: unpickling %s with weights_only=False (trust_pickle=True)", who, path)
    return torch.load(path, map_location="cpu", weights_only=False)


def _resolve_learning_rate(found: float | None, given: float | None, who: str) -> float:
    """Checkpoint's learning rate, else the caller's, else DEFAULT_LEARNING_RATE with a warning."""
    if found is not None:
        if given is not None and float(given) != float(found):
            warnings.warn(f"{who}: using the checkpoint's learning rate {found}, not "
                          f"learning_rate={given}", stacklevel=3)
        return float(found)
    if given is not None:
        return float(given)
    warnings.warn(f"{who}: no learning rate in the checkpoint and none given; defaulting to "
                  f"{DEFAULT_LEARNING_RATE} (TracIn scores scale with it; pass learning_rate=)",
                  stacklevel=3)
    return DEFAULT_LEARNING_RATE


def _optimizer_lr(payload: Mapping, key: str) -> float | None:
    """``payload[key]["param_groups"][0]["lr"]`` or None."""
    groups = (payload.get(key) or {}).get("param_groups") or [{}]
    lr = groups[0].get("lr")
    return None if lr is None else float(lr)


def _callback_epoch(path: Path | None) -> int | None:
    """Completed epochs from a ``CheckpointTrainingCallback`` file name, else None.

    PyKEEN 1.11's callback formats ``{epoch:07d}`` with the 1-based epoch plus one (its
    ``post_epoch`` adds 1 to an already 1-based epoch), so ``checkpoint_0000002.pt`` holds the
    model after 1 epoch (verified in ``tests/test_interop.py``). Other names: the last number.
    """
    if path is None:
        return None
    padded = re.fullmatch(r"checkpoint\D*(\d{7})", path.stem)
    if padded:
        return int(padded.group(1)) - 1
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None


def _id_maps(entity_to_id, relation_to_id, found: tuple[dict | None, dict | None]):
    return dict(entity_to_id or found[0] or {}), dict(relation_to_id or found[1] or {})


def _reciprocal(rows: int, relation_to_id: dict, overrides: dict, who: str) -> bool:
    """Does the relation table hold inverses (2R rows) or not (R rows)?"""
    if "reciprocal" in overrides:
        return bool(overrides["reciprocal"])
    if relation_to_id:
        if rows in (len(relation_to_id), 2 * len(relation_to_id)):
            return rows == 2 * len(relation_to_id)
        raise ValueError(f"{who}: relation table has {rows} rows but relation_to_id has "
                         f"{len(relation_to_id)} relations (expected R or 2R rows)")
    raise ValueError(
        f"{who}: cannot tell whether the {rows} relation rows include inverse relations "
        "(PyKEEN create_inverse_triples=True) or not; pass relation_to_id= (or the CLI's "
        "--training-triples/--dataset) or config={'reciprocal': True/False}"
    )


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


# --------------------------------------------------------------------------- PyKEEN


def _is_pykeen_conve(module: torch.nn.Module) -> bool:
    interaction = getattr(module, "interaction", None)
    return all(hasattr(interaction, a) for a in ("shape_info", "hr2d", "hr1d"))


def _pykeen_module_meta(module: torch.nn.Module, who: str) -> dict:
    """Config fields a live ``pykeen.models.ConvE`` knows and its state dict does not."""
    if not _is_pykeen_conve(module):
        raise ValueError(f"{who}: {type(module).__name__} is not a pykeen.models.ConvE")
    info, inter = module.interaction.shape_info, module.interaction
    dropouts = [m.p for m in inter.hr2d if type(m) is torch.nn.Dropout]
    fields = {"embedding_height": info.image_height, "embedding_width": info.image_width,
              "input_dropout": dropouts[0] if dropouts else 0.0,
              "feature_map_dropout": next(m.p for m in inter.hr2d
                                          if isinstance(m, torch.nn.Dropout2d)),
              "output_dropout": next(m.p for m in inter.hr1d if isinstance(m, torch.nn.Dropout))}
    if hasattr(module, "use_inverse_triples"):
        fields["reciprocal"] = bool(module.use_inverse_triples)
    return fields


def _pykeen_payload(payload, path: Path | None, who: str) -> tuple[Mapping, dict]:
    """A loaded object -> (state dict, metadata: config/lr/epoch/id maps when present)."""
    if isinstance(payload, torch.nn.Module):
        return payload.state_dict(), {"config": _pykeen_module_meta(payload, who)}
    if not isinstance(payload, Mapping):
        raise ValueError(f"{who}: {path or 'source'} holds a {type(payload).__name__}, expected "
                         "a pykeen ConvE, a state dict or a PyKEEN checkpoint dict")
    if "model_state_dict" in payload:  # TrainingLoop._save_state (checkpoint_name=...)
        return payload["model_state_dict"], {
            "lr": _optimizer_lr(payload, "optimizer_state_dict"), "epoch": payload.get("epoch"),
            "maps": (payload.get("entity_to_id_dict"), payload.get("relation_to_id_dict"))}
    if "state_dict" in payload:  # CheckpointTrainingCallback / pykeen.checkpoints.save_model
        if payload.get("version") != 1:
            raise ValueError(f"{who}: {path or 'source'} has PyKEEN checkpoint version "
                             f"{payload.get('version')!r}; only version 1 is known")
        return payload["state_dict"], {"epoch": _callback_epoch(path)}
    return payload, {}


def _pykeen_pipeline_dir(folder: Path, who: str, trust_pickle: bool) -> tuple[Mapping, dict]:
    """``PipelineResult.save_to_directory`` output: trained_model.pkl + training_triples/."""
    model_file = folder / "trained_model.pkl"
    if not model_file.is_file():
        raise FileNotFoundError(f"{who}: {folder} is a folder without trained_model.pkl; pass a "
                                "PyKEEN pipeline directory or a checkpoint file")
    state, meta = _pykeen_payload(_load_file(model_file, who, trust_pickle), model_file, who)
    if (folder / "training_triples").is_dir():
        from kgif.data import read_pykeen_triples

        ent, rel, _ = read_pykeen_triples(folder / "training_triples")
        meta["maps"] = (ent, rel)
    return state, meta


def _pykeen_source(source, who: str, trust_pickle: bool) -> tuple[Mapping, dict]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            return _pykeen_pipeline_dir(path, who, trust_pickle)
        return _pykeen_payload(_load_file(path, who, trust_pickle), path, who)
    return _pykeen_payload(source, None, who)


def from_pykeen(
    source,
    *,
    entity_to_id: dict[str, int] | None = None,
    relation_to_id: dict[str, int] | None = None,
    learning_rate: float | None = None,
    config: ConvEConfig | dict | None = None,
    epoch: int | None = None,
    trust_pickle: bool = False,
) -> Checkpoint:
    """Convert a PyKEEN ConvE into a kgif :class:`~kgif.checkpoint.Checkpoint`.

    Scores are unchanged: in eval mode ``score_all(params, hidden(...))`` equals PyKEEN's
    ``model.score_t`` (see ``tests/test_interop.py``).

    Args:
        source: one of

            * a ``pykeen.models.ConvE`` instance (knows its image shape, dropouts, inverses);
            * its ``state_dict()``;
            * a file: a ``CheckpointTrainingCallback`` / ``pykeen.checkpoints.save_model`` file
              ``{"state_dict", "version": 1}`` (epoch from the file name: the callback's
              7-digit ``checkpoint*_0000005.pt`` -> 4, as PyKEEN 1.11 numbers them one ahead;
              other names: their last number), a training-loop checkpoint
              (``checkpoint_name=``: ``model_state_dict``, ``optimizer_state_dict``, ``epoch``,
              id maps; pickled with NumPy/random state, so it needs ``trust_pickle=True``) or a
              ``torch.save``\\ d state dict;
            * a ``PipelineResult.save_to_directory`` folder (``trained_model.pkl``, a whole
              pickled model: needs ``trust_pickle=True``; id maps from ``training_triples/``).
        entity_to_id, relation_to_id: id maps (base relations); override those found in the
            source. ``relation_to_id`` also tells whether the relation table holds inverses.
        learning_rate: eta for TracIn when the source has no optimizer state (a source's own
            ``param_groups[0]["lr"]`` wins, with a warning if they differ); neither: 1.0 with a
            warning.
        config: a :class:`~kgif.model.ConvEConfig` or a dict of its fields, e.g.
            ``{"embedding_height": 4}`` when several image shapes fit the tensors, or
            ``{"reciprocal": True}`` without ``relation_to_id``. Dropouts default to PyKEEN's.
        epoch: completed epochs, overriding the one found in the source.
        trust_pickle: allow ``torch.load(weights_only=False)`` for files that need it. Only for
            files you wrote yourself: unpickling can run arbitrary code.

    Returns:
        A Checkpoint with ``stacking="height"``, ``entity_bias=True``.

    Raises:
        ValueError: missing/unexpected/misshapen keys (named), ambiguous image shape (the
            candidates are listed), input_channels > 1, unknown inverse layout, id maps of the
            wrong size, or a file that needs unpickling without ``trust_pickle``.
        FileNotFoundError: ``source`` names a missing file or a folder without
            ``trained_model.pkl``.
    """
    who = "from_pykeen"
    state, meta = _pykeen_source(source, who, trust_pickle)
    batch_norm = "interaction.hr2d.0.running_mean" in state
    table = _pykeen_table(batch_norm)
    params, buffers = _rename(state, table, who)
    ent, rel = _id_maps(entity_to_id, relation_to_id, meta.get("maps", (None, None)))
    fixed = {"stacking": "height", "entity_bias": True, "apply_batch_normalization": batch_norm}
    overrides = {**meta.get("config", {}), **_merge_config(config, fixed, who)}
    fixed["reciprocal"] = _reciprocal(params["relation_embedding"].shape[0], rel, overrides, who)
    cfg = _infer_config(params, fixed, overrides, who)
    fields = {"learning_rate": _resolve_learning_rate(meta.get("lr"), learning_rate, who),
              "epoch": int(epoch if epoch is not None else meta.get("epoch") or 0),
              "entity_to_id": ent, "relation_to_id": rel}
    return _finish(params, buffers, cfg, table, fields, who)


def to_pykeen(ckpt: Checkpoint) -> dict[str, Tensor]:
    """State dict for ``pykeen.models.ConvE(...).load_state_dict(state, strict=True)``.

    The inverse of :func:`from_pykeen` (``to_pykeen(from_pykeen(sd))`` equals ``sd`` exactly).

    Raises:
        ValueError: for a checkpoint PyKEEN's ConvE cannot represent (width stacking or no
            entity bias, i.e. the seed layout).
    """
    cfg = ckpt.config
    if cfg.stacking != "height" or not cfg.entity_bias:
        raise ValueError(f"to_pykeen: PyKEEN's ConvE stacks along the height and has an entity "
                         f"bias; this checkpoint has stacking={cfg.stacking!r}, entity_bias="
                         f"{cfg.entity_bias} (seed layout) and has no PyKEEN equivalent")
    table = _pykeen_table(cfg.apply_batch_normalization)
    tensors = {**ckpt.params, **ckpt.buffers}
    missing = sorted(set(table) - set(tensors))
    if missing:
        raise ValueError(f"to_pykeen: checkpoint lacks {missing}")
    state = {key: tensors[name] for name, key in table.items()}
    state[table["entity_bias"]] = tensors["entity_bias"][:, None]
    return state


def pykeen_model(ckpt: Checkpoint, triples_factory=None):
    """A ``pykeen.models.ConvE`` in eval mode holding the checkpoint's weights (needs pykeen).

    Args:
        ckpt: a height-stacked checkpoint with entity bias (see :func:`to_pykeen`).
        triples_factory: the factory to build the model on; by default one with the
            checkpoint's entity/relation counts, inverse triples as ``ckpt.config.reciprocal``
            and a single placeholder triple (PyKEEN needs a factory, not its triples).

    Raises:
        ImportError: without pykeen.
        ValueError: as :func:`to_pykeen`.
    """
    from pykeen.models import ConvE
    from pykeen.triples import CoreTriplesFactory

    cfg, state = ckpt.config, to_pykeen(ckpt)
    if triples_factory is None:
        rows = ckpt.params["relation_embedding"].shape[0]
        triples_factory = CoreTriplesFactory.create(
            mapped_triples=torch.zeros((1, 3), dtype=torch.long),
            num_entities=ckpt.params["entity_embedding"].shape[0],
            num_relations=rows // 2 if cfg.reciprocal else rows,
            create_inverse_triples=cfg.reciprocal,
        )
    model = ConvE(
        triples_factory=triples_factory, embedding_dim=cfg.embedding_dim,
        embedding_height=cfg.embedding_height, embedding_width=cfg.embedding_width,
        output_channels=cfg.output_channels, kernel_height=cfg.kernel_height,
        kernel_width=cfg.kernel_width, input_dropout=cfg.input_dropout,
        feature_map_dropout=cfg.feature_map_dropout, output_dropout=cfg.output_dropout,
        apply_batch_normalization=cfg.apply_batch_normalization,
        random_seed=0,  # initial weights are overwritten below
    )
    model.load_state_dict(state, strict=True)  # copies into the model's dtype
    return model.eval()


# --------------------------------------------------------------------------- seed project

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


def from_seed(
    source,
    *,
    entity_to_id: dict[str, int] | None = None,
    relation_to_id: dict[str, int] | None = None,
    learning_rate: float | None = None,
    config: ConvEConfig | dict | None = None,
    epoch: int | None = None,
    trust_pickle: bool = False,
) -> Checkpoint:
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
            (e.g. from :func:`kgif.data.load_dataset`); optional.
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
    overrides = {**meta.get("config", {}), **_merge_config(config, _SEED_FIXED, who)}
    cfg = _infer_config(params, dict(_SEED_FIXED), overrides, who)
    fields = {"learning_rate": _resolve_learning_rate(meta.get("lr"), learning_rate, who),
              "epoch": int(epoch if epoch is not None else meta.get("epoch") or 0),
              "entity_to_id": dict(entity_to_id or {}),
              "relation_to_id": dict(relation_to_id or {}), "metrics": meta.get("metrics", {})}
    return _finish(params, buffers, cfg, _SEED_TABLE, fields, who)
