"""The settings and model metrics of a batch explain run, as rows for ``report.html``.

Sources, all optional (a missing or unreadable file gives fewer rows, never an error, and the
report says which file was not found):

* ``run.json`` of the output folder (:func:`kgif.jobs.guard.run_settings`: objectives, method,
  parameters, dtype, checkpoints with epochs and learning rates, ``k``, paths, filters, counts);
* else the ``metadata`` of ``explanations.json`` or of the first per-triple JSON
  (:func:`kgif.explanation.tables.write_json`: checkpoints, epochs, learning rates,
  objectives, method, ``top_k``);
* ``metrics.json`` of the training run (``python -m kgif train``: test MRR and Hits@k of the
  best model), looked up in each recorded checkpoint folder and its parent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "read_settings"]

logger = logging.getLogger(__name__)

#: (label, run.json key, metadata key) of the single-valued settings, in report order.
_ROWS = (
    ("training objective", "train_objective.name", "train_objective"),
    ("test objective", "test_objective.name", "test_objective"),
    ("normalisation of the scores", "normalize", "normalize"),
    ("TracIn method", "method", "method"),
    ("parameters differentiated", "parameters", "parameters"),
    ("float type", "dtype", "dtype"),
    ("proponents and opponents kept per test triple (k)", "k", "top_k"),
    ("self-influence computed", "self_influence", "self_influence"),
    ("candidate filters", "filters", "filters"),
    ("training edges scored", "training_edges.count", None),
    ("test triples", "test_triples.count", None),
    ("head-tail paths kept", "paths.top", None),
    ("shortest path kept (edges)", "paths.min_length", None),
    ("longest path kept (edges)", "paths.max_length", None),
)

#: Test metrics shown from metrics.json (key under ``test.both``, label).
_METRICS = (("realistic.mrr", "MRR"), ("realistic.hits@1", "Hits@1"),
            ("realistic.hits@3", "Hits@3"), ("realistic.hits@10", "Hits@10"),
            ("realistic.mr", "mean rank"))


@dataclass
class Settings:
    """What :func:`read_settings` found.

    Attributes:
        rows: ``(label, value)`` pairs of run settings, as text.
        checkpoints: ``(epoch, learning rate)`` per checkpoint, in TracIn order.
        metrics: ``(label, value)`` pairs of the model's test metrics (filtered ranks, both
            sides, realistic ties), empty when no ``metrics.json`` was found.
        notes: what could not be found, for the reader.
    """

    rows: list[tuple[str, str]] = field(default_factory=list)
    checkpoints: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _load(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        logger.info("report: %s not read (%s)", path, error)
        return None
    return value if isinstance(value, dict) else None


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(str(x) for x in value) if value else "(none)"
    if value is None:
        return "none"
    return str(value)


def _metadata(folder: Path, first_json: Path | None) -> dict:
    for path in (folder / "explanations.json", first_json):
        document = _load(path) if path is not None else None
        if document and isinstance(document.get("metadata"), dict):
            return document["metadata"]
    return {}


def _metrics_file(folder: Path, checkpoints: list) -> Path | None:
    for entry in checkpoints:
        place = Path(str(entry))
        place = place if place.is_absolute() else folder / place
        for candidate in (place / "metrics.json", place.parent / "metrics.json",
                          place.parent.parent / "metrics.json"):
            if candidate.is_file():
                return candidate
    return None


def _add_metrics(settings: Settings, path: Path | None) -> None:
    record = (_load(path) if path is not None else None) or {}
    test = record.get("test", {})
    both = test.get("both", {}) if isinstance(test, dict) else {}
    if not both:
        settings.notes.append("no metrics.json of the training run found next to the "
                              "checkpoints: model metrics not shown")
        return
    settings.metrics = [(label, f"{both[key]:.4g}") for key, label in _METRICS if key in both]
    for key, label in (("dataset", "dataset"), ("best_epoch", "best epoch (validation)"),
                       ("epochs_run", "epochs trained")):
        if key in record:
            settings.metrics.append((label, _text(record[key])))
    settings.metrics.append(("from", str(path)))


def read_settings(folder: str | Path, first_json: Path | None = None) -> Settings:
    """Settings, checkpoints and model metrics of the run in ``folder`` (see the module doc).

    Args:
        folder: the batch explain output folder.
        first_json: a per-triple JSON whose ``metadata`` is used when neither ``run.json`` nor
            ``explanations.json`` is there.

    Returns:
        A :class:`Settings`; never raises for missing or malformed files.
    """
    folder = Path(folder)
    settings = Settings()
    run = _load(folder / "run.json") or {}
    meta = _metadata(folder, first_json)
    if not run:
        settings.notes.append("no run.json in the folder: settings read from the "
                              "explanations' metadata")
    for label, run_key, meta_key in _ROWS:
        if run_key in run:
            settings.rows.append((label, _text(run[run_key])))
        elif meta_key is not None and meta_key in meta:
            settings.rows.append((label, _text(meta[meta_key])))
        elif run_key == "normalize":
            settings.rows.append((label, "not recorded (python -m kgif explain always uses "
                                         "plain TracInCP)"))
    epochs = meta.get("epochs") or run.get("metadata.epochs") or []
    rates = meta.get("learning_rates") or run.get("metadata.learning_rates") or []
    settings.checkpoints = [(_text(e), _text(r)) for e, r in zip(epochs, rates, strict=False)]
    sources = meta.get("checkpoints") or run.get("metadata.checkpoints") or []
    if sources:
        settings.rows.append(("checkpoints from", _text(sources)))
    _add_metrics(settings, _metrics_file(folder, list(sources)))
    return settings
