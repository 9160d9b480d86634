"""The output folder of a training run: checked before the first epoch.

:func:`prepare_output_dir` makes sure the folder can be written, removes the temporary files a
killed run left, and refuses a folder that holds another run's checkpoints (TracIn would sum
them with this run's) unless told to overwrite them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kgif._io import check_writable_folder, remove_stale_temporaries
from kgif.model.checkpoint import CHECKPOINT_SUFFIXES, load_checkpoint

__all__ = ["prepare_output_dir"]

logger = logging.getLogger(__name__)


def _existing_checkpoints(out: Path) -> list[Path]:
    """Checkpoint files of ``out/checkpoints`` and ``out/best.pt``, if any."""
    folder = out / "checkpoints"
    files = [p for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES
             and not p.name.startswith(".")] if folder.is_dir() else []
    return sorted(files) + ([out / "best.pt"] if (out / "best.pt").is_file() else [])


def _run_of(path: Path) -> tuple[str, int]:
    """The run id and epoch of a checkpoint file; the id says why when it has none."""
    try:
        ckpt = load_checkpoint(path, allow_non_finite=True)
    except ValueError:
        return "unknown (damaged or foreign file)", -1
    return ckpt.run_id or "unknown", ckpt.epoch


def _check_no_later(out: Path, mine: list[tuple[Path, int]], resumed_epoch: int) -> None:
    """Resuming from epoch E into the run's own folder must not replace its later files."""
    later = sorted((epoch, path) for path, epoch in mine if epoch > resumed_epoch)
    if later:
        epoch, path = later[0]
        raise ValueError(
            f"train: resuming from epoch {resumed_epoch} into {out} would replace this run's "
            f"later checkpoints ({path}, epoch {epoch}; {len(later)} file(s)); resume from the "
            "last checkpoint, or write the continuation to another --output-dir")


def prepare_output_dir(out: Path, run_id: str, overwrite: bool,
                       resumed_epoch: int | None = None) -> None:
    """Before the first epoch: the folder is writable, holds no other run, no stale temporaries.

    Args:
        out: the run's ``output_dir`` (checkpoints go to ``out/checkpoints``, ``out/best.pt``).
        run_id: this run's id; checkpoints with the same id (a resumed run) are kept.
        overwrite: delete the checkpoints and ``best.pt`` of other runs instead of refusing.
        resumed_epoch: the epoch of the checkpoint a resumed run starts from (None: a new run).

    Raises:
        OSError: ``out`` is a file, cannot be created or is not writable (names the folder).
        ValueError: ``out`` holds checkpoints of another run and ``overwrite`` is False, or
            a resumed run would replace checkpoints of its own later epochs.
    """
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, f"train: output folder {out} is a file, not a folder")
    folder = check_writable_folder(out / "checkpoints", "train: output folder")
    for stale in remove_stale_temporaries(out) + remove_stale_temporaries(folder):
        logger.info("train: removed %s, left by a killed run", stale)
    existing = _existing_checkpoints(out)
    if overwrite:
        for path in existing:
            path.unlink()
        if existing:
            logger.info("train: overwrite: removed %d checkpoint(s) of %s", len(existing), out)
        return
    runs = [(p, *_run_of(p)) for p in existing]
    foreign = [(p, r) for p, r, _ in runs if r != run_id]
    if foreign:
        path, other = foreign[0]
        raise ValueError(
            f"train: {out} holds checkpoints of another training run ({path}, run {other}; "
            f"{len(foreign)} file(s)), which TracIn would mix with this run's. Choose another "
            "--output-dir, pass --overwrite (overwrite=True) to delete them, or --resume-from "
            "one of them to continue that run")
    if resumed_epoch is not None:
        _check_no_later(out, [(p, e) for p, r, e in runs  # best.pt: see _initial_best
                              if r == run_id and p.name != "best.pt"], resumed_epoch)
