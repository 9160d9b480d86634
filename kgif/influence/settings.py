"""The settings of a :class:`~kgif.influence.tracin.TracIn`: everything that changes a score.

:class:`TracInSettings` is a frozen dataclass that :class:`~kgif.influence.tracin.TracIn`
builds from its arguments and checkpoints and exposes as ``tracin.settings``. Whatever records
or compares TracIn settings (the run guard of :mod:`kgif.jobs.guard`, ``run.json``, the
provenance of every per-triple file of an explain run) derives it from
:meth:`TracInSettings.as_dict`, which walks the dataclass fields: a new field is recorded and
compared everywhere without another edit.

``TracIn`` arguments that are not settings are listed, with the reason, in
:data:`NOT_SETTINGS`; a test checks that every argument of ``TracIn.__init__`` is one or the
other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch

from kgif.model.checkpoint import Checkpoint, content_digest
from kgif.model.conve import ConvEConfig
from kgif.model.loss import Objective

__all__ = ["NOT_SETTINGS", "TracInSettings"]

#: ``TracIn.__init__`` arguments that are not :class:`TracInSettings` fields, and why.
NOT_SETTINGS: dict[str, str] = {
    "checkpoints": "recorded through the fields derived from them: model_config, "
                   "learning_rates, checkpoint_digests, relation_repeats",
    "train_triples": "an input, not a setting (each method accepts others); the run guard "
                     "records the training edges' hash",
    "compile": "torch.compile of the same function: float32 results change by rounding only",
    "device": "where to compute: float32 results change by rounding only",
    "show_progress": "display only",
    "allow_mixed_runs": "permits a set of checkpoints; the checkpoints themselves are recorded",
}


def _describe_objective(objective: Objective) -> dict[str, object]:
    """Type and scalar fields of an objective (its loss function is code, not a setting; the
    registry name identifies it)."""
    described: dict[str, object] = {"type": type(objective).__name__}
    for f in dataclasses.fields(objective):
        value = getattr(objective, f.name)
        if isinstance(value, str | int | float | bool):
            described[f.name] = value
    return described


def _json_value(value: object) -> object:
    """The JSON form of one settings field."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, ConvEConfig):  # ``extra`` is free-form metadata (e.g. a path)
            return {k: v for k, v in value.to_dict().items() if k != "extra"}
        return _describe_objective(cast(Objective, value))
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, tuple | list):
        return [_json_value(v) for v in value]
    return value


@dataclass(frozen=True)
class TracInSettings:
    """Every setting that changes a TracIn score (TracInCP, Pruthi et al. 2020, eq. 3).

    Attributes:
        train_objective: objective of a training example (:mod:`kgif.model.loss`).
        test_objective: objective of a test example.
        normalize: None (plain TracInCP), ``"cosine"`` or ``"relatif"``
            (:data:`kgif.influence.tracin.NORMALIZATIONS`).
        parameters: the parameter names whose gradients enter the inner products, in order.
        method: the engine (:data:`kgif.influence.engines.ENGINES`).
        batch_size: training edges per streamed batch (fixes the float32 rounding).
        dtype: the computation dtype.
        model_config: the ConvE hyper-parameters of the checkpoints (its ``extra`` metadata
            is not recorded).
        learning_rates: eta_k of each checkpoint, in order.
        checkpoint_digests: :func:`kgif.model.checkpoint.content_digest` of each checkpoint
            as given (before any cast to ``dtype``), in order.
        relation_repeats: visits per epoch of each base relation's edges
            (:attr:`kgif.model.checkpoint.Checkpoint.relation_repeats`), or None.
    """

    train_objective: Objective
    test_objective: Objective
    normalize: str | None
    parameters: tuple[str, ...]
    method: str
    batch_size: int
    dtype: torch.dtype
    model_config: ConvEConfig
    learning_rates: tuple[float, ...]
    checkpoint_digests: tuple[str, ...]
    relation_repeats: tuple[int, ...] | None

    @classmethod
    def of(cls, checkpoints: Sequence[Checkpoint], *, digests: Sequence[str] | None = None,
           **fields: Any) -> TracInSettings:
        """Settings whose checkpoint fields come from ``checkpoints`` (one run, one config).

        Args:
            checkpoints: the checkpoints as given to TracIn (not cast).
            digests: their :func:`~kgif.model.checkpoint.content_digest`, if already computed.
            **fields: the other fields.
        """
        digests = [content_digest(c) for c in checkpoints] if digests is None else digests
        return cls(model_config=checkpoints[0].config,
                   learning_rates=tuple(float(c.learning_rate) for c in checkpoints),
                   checkpoint_digests=tuple(digests),
                   relation_repeats=checkpoints[0].relation_repeats, **fields)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready ``{field name: value}`` of every field, in field order (objectives as
        their type and scalar fields, the dtype as e.g. ``"float32"``, tuples as lists)."""
        return {f.name: _json_value(getattr(self, f.name)) for f in dataclasses.fields(self)}
