"""Named training presets: a dataset plus documented ConvE and training overrides.

``python -m kgif train --preset hetionet`` starts from :data:`PRESETS` ``["hetionet"]``;
every flag given explicitly on the command line overrides the preset's value, and
``--dataset`` defaults to the preset's dataset. Fields a preset does not name keep the
dataclass defaults of :class:`kgif.model.conve.ConvEConfig` and
:class:`kgif.training.loop.TrainingConfig`.
Why each value was chosen, and what it reaches, is in ``docs/hetionet.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from kgif.model.conve import ConvEConfig
from kgif.training.loop import TrainingConfig

__all__ = ["PRESETS", "Preset", "preset_configs"]


@dataclass(frozen=True)
class Preset:
    """A named starting point for ``train``.

    Attributes:
        name: the ``--preset`` value.
        dataset: default ``--dataset`` (a name :func:`kgif.data.datasets.load_dataset` knows).
        summary: one line for ``--help``.
        model: :class:`kgif.model.conve.ConvEConfig` field -> value.
        training: :class:`kgif.training.loop.TrainingConfig` field -> value.
    """

    name: str
    dataset: str
    summary: str
    model: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for cls, values in ((ConvEConfig, self.model), (TrainingConfig, self.training)):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise ValueError(f"Preset {self.name!r}: unknown {cls.__name__} field(s) "
                                 f"{unknown}")


#: Preset name -> :class:`Preset`.
PRESETS: dict[str, Preset] = {
    "hetionet": Preset(
        name="hetionet",
        dataset="hetionet",
        summary="Hetionet v1.0 (765,569 edges): small ConvE, TREATS_CtD oversampled, 10 epochs "
                "on 2 CPU cores",
        # d = 32 as 8 x 4 with 32 filters, like the seed project's ROBOKOP model: the 1-N
        # score matrix (B x 20,829 entities) dominates an epoch, so d costs little in
        # training, and a small d keeps exact TracIn over all edges fast.
        model={"embedding_dim": 32, "embedding_height": 8, "output_channels": 32,
               # light dropout: with a few epochs the model underfits, it does not overfit
               "input_dropout": 0.1, "feature_map_dropout": 0.1, "output_dropout": 0.1},
        # a large batch amortises the per-step overhead (2.5x the rows/s of 128), a large
        # step size with a cosine decay makes up for the few updates. The 528 training
        # TREATS_CtD edges are 0.07 % of the graph: their rows are visited 50 times per epoch
        # (and PALLIATES_CpD's 10 times), which TracIn counts (docs/training.md). best.pt is
        # the epoch with the best type-constrained TREATS_CtD tail MRR on validation; three
        # checkpoints (epochs 4, 8, 10) for TracIn.
        training={"epochs": 10, "batch_size": 512, "learning_rate": 0.01,
                  "lr_schedule": "cosine", "label_smoothing": 0.1,
                  "relation_repeats": {"TREATS_CtD": 50, "PALLIATES_CpD": 10},
                  "checkpoint_every": 4, "eval_every": 1, "validation_side": "tail",
                  "validation_metric": "type_constrained.realistic.mrr"},
    ),
}


def preset_configs(name: str, **overrides) -> tuple[ConvEConfig, TrainingConfig]:
    """The model and training configs of a preset, with optional field overrides.

    Args:
        name: a key of :data:`PRESETS`.
        **overrides: ConvEConfig or TrainingConfig field -> value (e.g. ``epochs=6``,
            ``device="cuda"``); they replace the preset's values.

    Returns:
        ``(ConvEConfig, TrainingConfig)``.

    Raises:
        ValueError: on an unknown preset or an override that is no field of either config.
    """
    if name not in PRESETS:
        raise ValueError(f"preset_configs: unknown preset {name!r}; known: {sorted(PRESETS)}")
    preset = PRESETS[name]
    model_fields = {f.name for f in dataclasses.fields(ConvEConfig)}
    training_fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    unknown = sorted(set(overrides) - model_fields - training_fields)
    if unknown:
        raise ValueError(f"preset_configs: unknown field(s) {unknown}")
    model = {**preset.model, **{k: v for k, v in overrides.items() if k in model_fields}}
    training = {**preset.training,
                **{k: v for k, v in overrides.items() if k in training_fields}}
    return ConvEConfig(**model), TrainingConfig(**training)
