"""PyKEEN ConvE <-> kgif checkpoints (``pykeen.models.ConvE``, PyKEEN 1.10/1.11).

See :mod:`kgif.interop` for the key layout.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from kgif.interop._common import (
    _EMBEDDINGS,
    _config_overrides,
    _finish,
    _id_maps,
    _infer_config,
    _key_table,
    _load_file,
    _optimizer_lr,
    _rename,
    _run_fields,
)
from kgif.model.checkpoint import Checkpoint
from kgif.model.conve import ConvEConfig

__all__ = ["from_pykeen", "pykeen_model", "to_pykeen"]

logger = logging.getLogger(__name__)

#: kgif layer -> PyKEEN module path, by ``apply_batch_normalization``.
_PYKEEN_LAYERS = {
    True: {"bn0": "interaction.hr2d.0", "conv": "interaction.hr2d.2",
           "bn1": "interaction.hr2d.3", "fc": "interaction.hr1d.0", "bn2": "interaction.hr1d.2"},
    False: {"conv": "interaction.hr2d.1", "fc": "interaction.hr1d.0"},
}


def _pykeen_table(batch_norm: bool) -> dict[str, str]:
    return _key_table(_PYKEEN_LAYERS[batch_norm], {k: v[0] for k, v in _EMBEDDINGS.items()})


def _callback_epoch(path: Path | None) -> int | None:
    """Completed epochs from a ``CheckpointTrainingCallback`` file name, else None.

    PyKEEN 1.11's callback formats ``{epoch:07d}`` with the 1-based epoch plus one (its
    ``post_epoch`` adds 1 to an already 1-based epoch), so ``checkpoint_0000002.pt`` holds the
    model after 1 epoch (verified in ``tests/interop/test_interop.py``). Other names: the last
    number.
    """
    if path is None:
        return None
    padded = re.fullmatch(r"checkpoint\D*(\d{7})", path.stem)
    if padded:
        return int(padded.group(1)) - 1
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else None



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



def _is_pykeen_conve(module: torch.nn.Module) -> bool:
    interaction = getattr(module, "interaction", None)
    return all(hasattr(interaction, a) for a in ("shape_info", "hr2d", "hr1d"))


def _pykeen_module_meta(module: torch.nn.Module, who: str) -> dict:
    """Config fields a live ``pykeen.models.ConvE`` knows and its state dict does not."""
    if not _is_pykeen_conve(module):
        raise ValueError(f"{who}: {type(module).__name__} is not a pykeen.models.ConvE")
    inter: Any = module.interaction  # a pykeen ConvEInteraction, checked above
    info = inter.shape_info
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
        from kgif.data.pykeen_folder import read_pykeen_triples

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


def from_pykeen(source, *, entity_to_id: dict[str, int] | None = None,
                relation_to_id: dict[str, int] | None = None, learning_rate: float | None = None,
                config: ConvEConfig | dict | None = None, epoch: int | None = None,
                trust_pickle: bool = False) -> Checkpoint:
    """Convert a PyKEEN ConvE into a kgif :class:`~kgif.model.checkpoint.Checkpoint`.

    Scores are unchanged: in eval mode ``score_all(params, hidden(...))`` equals PyKEEN's
    ``model.score_t`` (see ``tests/interop/test_interop.py``).

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
        config: a :class:`~kgif.model.conve.ConvEConfig` or a dict of its fields, e.g.
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
    overrides = _config_overrides(meta, config, fixed, who)
    fixed["reciprocal"] = _reciprocal(params["relation_embedding"].shape[0], rel, overrides, who)
    cfg = _infer_config(params, fixed, overrides, who)
    fields = {**_run_fields(meta, learning_rate, epoch, who), "entity_to_id": ent,
              "relation_to_id": rel}
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

