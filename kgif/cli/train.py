"""``python -m kgif train``: train ConvE on a dataset, write checkpoints and test metrics.

Every field of :class:`kgif.model.ConvEConfig` and :class:`kgif.train.TrainingConfig` is a flag
(``embedding_dim`` -> ``--embedding-dim``; booleans also take ``--no-...``), with the dataclass
default. ``--preset NAME`` (:mod:`kgif.presets`) replaces those defaults with the preset's
values; flags given explicitly still win, and ``--dataset`` defaults to the preset's dataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import time
from pathlib import Path

from kgif.cli.evaluate import environment, format_metrics_table, write_json

#: Flags whose default is None need their value type spelled out.
NONE_DEFAULT_TYPES = {"patience": int, "embedding_height": int, "embedding_width": int}
SKIPPED_FIELDS = {"extra"}
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


def _add_dataclass_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    group = parser.add_argument_group(title)
    comments = _field_comments(cls)
    for f in dataclasses.fields(cls):
        if f.name in SKIPPED_FIELDS:
            continue
        default = f.default
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            group.add_argument(flag, action=_StoreBool, default=default,
                               help=comments.get(f.name, ""))
            continue
        kind = NONE_DEFAULT_TYPES.get(f.name, type(default))
        help_text = comments.get(f.name, "").replace("%", "%%")
        group.add_argument(flag, action=_Store, type=kind, default=default,
                           help=f"{help_text} (default: {default})".strip())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the ``train`` sub-command."""
    from kgif.model import ConvEConfig
    from kgif.presets import PRESETS
    from kgif.train import TrainingConfig

    parser = subparsers.add_parser(
        "train", help="train ConvE (1-N scoring, sparse BCE, Adam) and evaluate it",
        description="Train ConvE with reciprocal relations; writes checkpoints to "
                    "OUTPUT_DIR/checkpoints, the best validation model to OUTPUT_DIR/best.pt "
                    "and test metrics of the best model to OUTPUT_DIR/metrics.json.")
    parser.add_argument("--dataset", default=None,
                        help="umls, kinships, nations, wn18rr, fb15k237 or a folder "
                             "(required unless --preset gives it)")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="start from a named config (kgif.presets): "
                             + "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
                             + ". Flags given explicitly override its values.")
    parser.add_argument("--output-dir", default=None, help="default: runs/<dataset>")
    parser.add_argument("--resume-from", default=None, help="checkpoint to continue from")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _add_dataclass_flags(parser, TrainingConfig, "training (kgif.train.TrainingConfig)")
    _add_dataclass_flags(parser, ConvEConfig, "model (kgif.model.ConvEConfig)")
    parser.set_defaults(func=_run, **{EXPLICIT: frozenset()})


def _config(cls, args: argparse.Namespace):
    names = {f.name for f in dataclasses.fields(cls)} - SKIPPED_FIELDS
    return cls(**{n: getattr(args, n) for n in names})


def apply_preset(args: argparse.Namespace) -> argparse.Namespace:
    """Fill ``args`` from ``args.preset`` where no flag was given explicitly.

    Raises:
        ValueError: when neither ``--dataset`` nor ``--preset`` is given.
    """
    from kgif.presets import PRESETS

    explicit = getattr(args, EXPLICIT, set())
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
    from kgif.data import load_dataset
    from kgif.evaluate import evaluate_all_sides
    from kgif.model import ConvEConfig
    from kgif.train import TrainingConfig, train

    args = apply_preset(args)
    kg = load_dataset(args.dataset)
    config, tc = _config(ConvEConfig, args), _config(TrainingConfig, args)
    folder = Path(args.dataset)
    config.extra["dataset"] = str(folder.resolve()) if folder.is_dir() else kg.name or args.dataset
    out = Path(args.output_dir or Path("runs") / (kg.name or Path(args.dataset).name))
    print(f"{kg}\ntraining on {tc.device} for {tc.epochs} epochs -> {out}")
    start = time.perf_counter()
    result = train(kg, config, tc, output_dir=out, resume_from=args.resume_from,
                   show_progress=not args.no_progress)
    seconds = time.perf_counter() - start
    best = result.best
    test = evaluate_all_sides(best.params, best.buffers, best.config, kg.testing,
                              kg.all_triples(), batch_size=tc.eval_batch_size)
    print(f"trained {result.final.epoch} epochs in {seconds:.1f} s"
          f"{' (early stop)' if result.stopped_early else ''}; best validation MRR at epoch "
          f"{best.epoch}; final loss {result.loss_history[-1]:.6f}")
    print(format_metrics_table(test, f"{kg.name} test (filtered, {len(kg.testing)} triples, "
                                     f"epoch {best.epoch})"))
    payload = {**environment(), "dataset": kg.name, "preset": args.preset, "device": tc.device,
               "train_seconds": seconds, "epochs_run": result.final.epoch,
               "best_epoch": best.epoch, "stopped_early": result.stopped_early,
               "model_config": config.to_dict(), "training_config": dataclasses.asdict(tc),
               "test": test, "loss_history": result.loss_history,
               "metrics_history": result.metrics_history}
    write_json(out / "metrics.json", payload)
    print(f"metrics written to {out / 'metrics.json'}")
    return 0
