"""``python -m kgif train``: train ConvE on a dataset, write checkpoints and test metrics.

Every field of :class:`kgif.model.conve.ConvEConfig` and
:class:`kgif.training.loop.TrainingConfig` is a flag (``embedding_dim`` -> ``--embedding-dim``;
booleans also take ``--no-...``; ``Literal`` fields list their choices), with the dataclass
default and an argparse type of :mod:`kgif.cli._common` (:data:`FIELD_TYPES`: counts are
integers >= 1, dropouts and label smoothing probabilities, ...). ``--preset NAME``
(:mod:`kgif.training.presets`) replaces those defaults with the preset's values; flags given
explicitly still win, and ``--dataset`` defaults to the preset's dataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import logging
import re
import sys
import time
import typing
from collections.abc import Callable
from pathlib import Path

from kgif._environment import environment
from kgif._io import atomic_write_json
from kgif.cli._common import (
    add_subparser,
    any_int,
    check_output_dir,
    decay_factor,
    dropout_rate,
    finite_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from kgif.cli.evaluate import format_metrics_table

logger = logging.getLogger(__name__)

#: The argparse type of each numeric config field's flag (a field not listed: any integer or
#: finite number by its default's type; the dataclass still checks the value).
FIELD_TYPES = {
    **dict.fromkeys(("epochs", "batch_size", "eval_batch_size", "patience", "embedding_dim",
                     "embedding_height", "embedding_width", "output_channels", "kernel_height",
                     "kernel_width"), positive_int),
    **dict.fromkeys(("checkpoint_every", "eval_every", "seed"), non_negative_int),
    "learning_rate": positive_float, "lr_decay": decay_factor,
    **dict.fromkeys(("label_smoothing", "input_dropout", "feature_map_dropout",
                     "output_dropout"), dropout_rate),
}
#: Types of the other flags, by the type of the field's default.
DEFAULT_TYPES: dict[type, Callable[[str], object]] = {int: any_int, float: finite_float}
SKIPPED_FIELDS = {"extra"}


def parse_repeats(text: str) -> dict[str, int]:
    """``"TREATS_CtD=20,PALLIATES_CpD=4"`` -> ``{"TREATS_CtD": 20, "PALLIATES_CpD": 4}``.

    Raises:
        argparse.ArgumentTypeError: on an item without ``=`` or a count that is no integer.
    """
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        label, sep, count = item.rpartition("=")
        if not sep or not label:
            raise argparse.ArgumentTypeError(f"{item!r} is not LABEL=N")
        try:
            out[label] = int(count)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r}: {count!r} is not an integer") from None
    return out


#: Dict-valued config fields -> the parser of their flag's value.
MAPPING_FIELDS = {"relation_repeats": parse_repeats}
EXPLICIT = "_explicit_flags"  # namespace attribute: dests of the flags given on the command line


def _record(namespace: argparse.Namespace, dest: str) -> None:
    """Add ``dest`` to the namespace's explicit flags (a fresh set: defaults are shared)."""
    setattr(namespace, EXPLICIT, set(getattr(namespace, EXPLICIT, ())) | {dest})


class _Store(argparse.Action):
    """``store`` that also records the flag as given explicitly (so it beats a preset)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        _record(namespace, self.dest)


class _StoreBool(argparse.BooleanOptionalAction):
    """``--flag/--no-flag`` that also records the flag as given explicitly."""

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, option_string)
        _record(namespace, self.dest)


def _field_comments(cls) -> dict[str, str]:
    """The inline ``# comment`` of each dataclass field, used as the flag's help."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return dict(re.findall(r"^\s+(\w+): [^#\n]*#\s*(.+)$", source, flags=re.MULTILINE))


def _literal_choices(cls) -> dict[str, tuple]:
    """The allowed values of each ``Literal[...]``-typed field (shown as the flag's choices)."""
    hints = typing.get_type_hints(cls)
    return {name: typing.get_args(hint) for name, hint in hints.items()
            if typing.get_origin(hint) is typing.Literal}


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    """One flag per field; help from the field's comment (or its name), default shown by the
    formatter, ``Literal`` fields with their choices."""
    group = parser.add_argument_group(title)
    comments = _field_comments(cls)
    choices = _literal_choices(cls)
    for f in dataclasses.fields(cls):
        if f.name in SKIPPED_FIELDS:
            continue
        default = f.default
        flag = "--" + f.name.replace("_", "-")
        if f.name in MAPPING_FIELDS:
            group.add_argument(flag, action=_Store, type=MAPPING_FIELDS[f.name], default={},
                               metavar="LABEL=N[,LABEL=N...]",
                               help=comments.get(f.name, "").replace("%", "%%"))
            continue
        if isinstance(default, bool):
            group.add_argument(flag, action=_StoreBool, default=default,
                               help=comments.get(f.name, "") or f.name.replace("_", " "))
            continue
        kind = FIELD_TYPES.get(f.name) or DEFAULT_TYPES.get(type(default), type(default))
        help_text = comments.get(f.name, "").replace("%", "%%") or f.name.replace("_", " ")
        group.add_argument(flag, action=_Store, type=kind, default=default,
                           choices=choices.get(f.name), help=help_text)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig
    from kgif.training.presets import PRESETS

    parser = add_subparser(
        subparsers, "train", help="train ConvE (1-N scoring, sparse BCE, Adam) and evaluate it",
        description="Train ConvE with reciprocal relations; writes checkpoints to "
                    "OUTPUT_DIR/checkpoints, the best validation model to OUTPUT_DIR/best.pt "
                    "and test metrics of the best model to OUTPUT_DIR/metrics.json.")
    parser.add_argument("--dataset", default=None,
                        help="umls, kinships, nations, wn18rr, fb15k237 or a folder "
                             "(required unless --preset gives it)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a named config (kgif.training.presets): "
                             + "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
                             + ". Flags given explicitly override its values.")
    parser.add_argument("--output-dir", default=None,
                        help="folder of checkpoints, best.pt and metrics.json "
                             "(default: runs/<dataset>)")
    parser.add_argument("--resume-from", default=None,
                        help="checkpoint to continue from (keeps its run id)")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the checkpoints and best.pt of another run in OUTPUT_DIR "
                             "(without it such a folder is refused)")
    parser.add_argument("--run-id", default=None,
                        help="run id stored in the checkpoints (default: a fresh uuid4; give "
                             "one only to reproduce a run byte for byte)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_dataclass_flags(parser, TrainingConfig, "training (kgif.training.loop.TrainingConfig)")
    _add_dataclass_flags(parser, ConvEConfig, "model (kgif.model.conve.ConvEConfig)")
    parser.set_defaults(func=_run, **{EXPLICIT: frozenset()})


def _config(cls, args: argparse.Namespace):
    """Build ``cls`` from the flags; a validation error names the flag it comes from."""
    names = {f.name for f in dataclasses.fields(cls)} - SKIPPED_FIELDS
    try:
        return cls(**{n: getattr(args, n) for n in names})
    except ValueError as error:
        fields = [n for n in re.findall(r"\b(\w+)=", str(error)) if n in names]
        flags = ", ".join("--" + n.replace("_", "-") for n in dict.fromkeys(fields))
        raise ValueError(f"train: {flags or 'a flag'}: {error}") from error


def apply_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Fill ``args`` from ``args.preset`` where no flag was given explicitly.

    Raises:
        ValueError: when neither ``--dataset`` nor ``--preset`` is given.
    """
    from kgif.training.presets import PRESETS

    explicit: set[str] = getattr(args, EXPLICIT, set())
    if args.preset is not None:
        preset = PRESETS[args.preset]
        for name, value in {**preset.model, **preset.training}.items():
            if name not in explicit:
                setattr(args, name, value)
        if args.dataset is None:
            args.dataset = preset.dataset
    if args.dataset is None:
        raise ValueError("train: give --dataset (or --preset, which names a dataset)")
    return args


def _run(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except OSError as error:  # unwritable or file-valued --output-dir, full disk
        if isinstance(error, FileNotFoundError):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


def _test_metrics(kg, best, tc) -> dict | None:
    """Filtered test metrics of ``best``; None, with a note, when the dataset has no test split."""
    from kgif.evaluation.ranks import evaluate_all_sides

    if len(kg.testing) == 0:
        logger.warning("train: %s has no test split; test metrics skipped", kg.name or "dataset")
        return None
    return evaluate_all_sides(best.params, best.buffers, best.config, kg.testing,
                              kg.all_triples(), batch_size=tc.eval_batch_size,
                              type_constraints=kg.type_constraints() if kg.entity_kinds else None)


def _train(args: argparse.Namespace) -> int:
    from kgif.data.datasets import load_dataset
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig

    args = apply_preset(args)
    config, tc = _config(ConvEConfig, args), _config(TrainingConfig, args)
    kg = load_dataset(args.dataset)
    folder = Path(args.dataset)
    config.extra["dataset"] = str(folder.resolve()) if folder.is_dir() else kg.name or args.dataset
    out = Path(args.output_dir or Path("runs") / (kg.name or Path(args.dataset).name))
    check_output_dir("train", "--output-dir", out, {"--dataset": args.dataset})
    out.mkdir(parents=True, exist_ok=True)
    return _train_locked(args, kg, config, tc, out)


def _train_locked(args: argparse.Namespace, kg, config, tc, out: Path) -> int:
    from kgif.training.loop import train

    print(f"{kg}\ntraining on {tc.device} for {tc.epochs} epochs -> {out}")
    start = time.perf_counter()
    result = train(kg, config, tc, output_dir=out, resume_from=args.resume_from,
                   show_progress=not args.no_progress, run_id=args.run_id,
                   overwrite=args.overwrite)
    seconds = time.perf_counter() - start
    best = result.best
    test = _test_metrics(kg, best, tc)
    print(f"trained {result.final.epoch} epochs in {seconds:.1f} s"
          f"{' (early stop)' if result.stopped_early else ''}; best validation MRR at epoch "
          f"{best.epoch}; final loss {result.loss_history[-1]:.6f}")
    if test is None:
        print(f"no test split in {args.dataset}: test metrics skipped")
    else:
        print(format_metrics_table(test, f"{kg.name} test (filtered, {len(kg.testing)} "
                                         f"triples, epoch {best.epoch})"))
    payload = {**environment(tc.device), "dataset": kg.name, "preset": args.preset,
               "train_seconds": seconds, "epochs_run": result.final.epoch,
               "best_epoch": best.epoch, "stopped_early": result.stopped_early,
               "run_id": result.final.run_id,
               "model_config": config.to_dict(), "training_config": dataclasses.asdict(tc),
               "test": test, "loss_history": result.loss_history,
               "metrics_history": result.metrics_history}
    atomic_write_json(out / "metrics.json", payload)
    print(f"metrics written to {out / 'metrics.json'}")
    return 0
