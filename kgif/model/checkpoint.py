"""Checkpoints: parameters, buffers, the learning rate TracIn needs, config, id maps, run id,
relation repeats.

A checkpoint file is a ``torch.save`` of plain containers, tensors and numbers only, so it
loads with ``torch.load(path, weights_only=True)`` (never unpickling arbitrary objects); or a
``.safetensors`` file whose metadata holds the JSON fields. Files are serialised in memory and
then written atomically (:func:`kgif._io.atomic_write_bytes`), so the bytes depend on the
content only: two identical runs give byte-identical files.

Provenance checks live here too, at the boundary where checkpoints enter a computation:
:func:`check_finite` (no NaN/inf weights; the one learning-rate rule,
:func:`check_learning_rate`, used on save, on load and by TracIn), :func:`check_same_run`
(one training run, no duplicates, one checkpoint per epoch) and :func:`check_compatible` (a
checkpoint fits a dataset's id maps and sizes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from kgif._device import resolve_device
from kgif._io import atomic_write_bytes
from kgif.data.graph import graph_fingerprint
from kgif.data.validate import check_input_file
from kgif.model.conve import ConvEConfig, Params

__all__ = ["Checkpoint", "check_compatible", "check_finite", "check_learning_rate",
           "check_relation_repeats", "check_same_run", "content_digest", "list_checkpoints",
           "load_checkpoint", "load_checkpoints", "read_torch_file", "save_checkpoint"]

logger = logging.getLogger(__name__)

#: Version 2 stores ``relation_repeats`` as its own field; version 1 kept it in
#: ``config["extra"][_LEGACY_REPEATS_KEY]`` (moved to the field on load).
FORMAT_VERSION = 2
_LEGACY_REPEATS_KEY = "relation_repeats"
CHECKPOINT_SUFFIXES = (".pt", ".safetensors")
_MIXING_HINT = "pass allow_mixed_runs=True (CLI: --allow-mixed-runs) if this is intended"


@dataclass
class Checkpoint:
    """One snapshot of a ConvE model during training.

    Attributes:
        params: flat parameter dict (see :mod:`kgif.model.conve` for names and shapes).
        buffers: BatchNorm running statistics.
        config: the model hyper-parameters.
        learning_rate: eta_k, the TracInCP weight of this checkpoint: the sum of the per-epoch
            learning rates of the epochs it closes (Pruthi et al. 2020, sec. 3.2; see
            ``docs/training.md``).
        epoch: number of completed epochs.
        entity_to_id, relation_to_id: id maps (base relations); may be empty for anonymous
            models.
        metrics: e.g. ``{"validation_mrr": 0.9}``.
        training_state: optional resume state (optimizer state dict, RNG states, ...), tensors
            and plain containers only.
        run_id: uuid4 hex of the training run that wrote it; ``""`` for an unknown run (files
            written before run ids existed, or converted without one).
        relation_repeats: visits per epoch of the edges of each base relation (one integer
            >= 1 per base relation id) of a run trained with
            ``TrainingConfig.relation_repeats``; None when every edge is visited once. TracIn
            counts such an edge that many times (``docs/training.md``).
        source: the file it was loaded from (not saved; used in error messages).
    """

    params: Params
    buffers: Params
    config: ConvEConfig
    learning_rate: float
    epoch: int = 0
    entity_to_id: dict[str, int] = field(default_factory=dict)
    relation_to_id: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    training_state: dict | None = None
    run_id: str = ""
    relation_repeats: tuple[int, ...] | None = None
    source: str | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        """One short line: epoch, learning rate, model shape, sizes, metrics, run and file
        (the default dataclass repr would print every tensor)."""
        cfg = self.config
        entities = self.params["entity_embedding"].shape[0] if "entity_embedding" in \
            self.params else "?"
        size = sum(v.numel() for v in self.params.values())
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in list(self.metrics.items())[:3])
        source = f", file {Path(self.source).name}" if self.source else ""
        return (f"Checkpoint(epoch {self.epoch}, lr {self.learning_rate:.4g}, ConvE d="
                f"{cfg.embedding_dim}, {cfg.output_channels} channels, {entities} entities, "
                f"{size:,} parameters{', ' + metrics if metrics else ''}, run "
                f"{self.run_id[:8] or 'unknown'}{source})")

    @property
    def graph_fingerprint(self) -> str | None:
        """:func:`kgif.data.graph.graph_fingerprint` of the id maps; None without them."""
        if not self.entity_to_id or not self.relation_to_id:
            return None
        return graph_fingerprint(self.entity_to_id, self.relation_to_id)

    @property
    def name(self) -> str:
        """The file name when loaded from disk, else ``"checkpoint of epoch E"``."""
        return self.source or f"checkpoint of epoch {self.epoch}"

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """A copy with floating tensors moved/cast (integer buffers keep their dtype)."""

        def move(tensors: Params) -> Params:
            return {
                k: v.to(device=device, dtype=dtype if v.is_floating_point() else None)
                for k, v in tensors.items()
            }

        return dataclasses.replace(self, params=move(self.params), buffers=move(self.buffers))


# --------------------------------------------------------------------------- finiteness


def check_learning_rate(lr: object, who: str) -> float:
    """The one rule for a checkpoint's learning rate, the TracInCP weight eta_k.

    TracInCP sums eta_k <grad l(w_k, z), grad l(w_k, z')> over checkpoints (Pruthi et al.
    2020, eq. 3): a NaN or infinite eta poisons every score, a negative one flips the sign of
    its checkpoint's contribution, and 0 silently drops the checkpoint while it still looks
    used. Applied on save, on load and by TracIn (through :func:`check_finite`).

    Args:
        lr: the stored learning rate.
        who: what the rate belongs to (a checkpoint's name), the start of the message.

    Returns:
        ``lr`` as a float.

    Raises:
        ValueError: ``"<who> has learning rate <lr>; the TracInCP weight eta_k ... must be a
            finite number > 0"`` unless ``lr`` is a real number, finite and > 0.
    """
    if (isinstance(lr, bool) or not isinstance(lr, int | float) or not math.isfinite(lr)
            or lr <= 0):
        raise ValueError(f"{who} has learning rate {lr!r}; the TracInCP weight eta_k "
                         "(Pruthi et al. 2020, eq. 3) must be a finite number > 0")
    return float(lr)


def check_relation_repeats(repeats: object, who: str) -> tuple[int, ...] | None:
    """Validate a checkpoint's ``relation_repeats``: None, or integers >= 1 (one per base
    relation).

    Returns:
        ``repeats`` as a tuple of ints, or None.

    Raises:
        ValueError: naming ``who`` and the bad value.
    """
    if repeats is None:
        return None
    if (not isinstance(repeats, list | tuple) or not repeats
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in repeats)):
        raise ValueError(f"{who}: relation_repeats={repeats!r} must be None or a non-empty "
                         "list of integers >= 1, one per base relation")
    return tuple(int(v) for v in repeats)


def check_finite(ckpt: Checkpoint) -> Checkpoint:
    """Refuse a checkpoint whose learning rate, parameters or buffers are not usable.

    A NaN true score compares false with everything, so a NaN model ranks every triple first
    and lists ``+nan`` edges as top proponents; such a model must never be used or saved. The
    learning rate follows :func:`check_learning_rate`.

    Args:
        ckpt: the checkpoint (``ckpt.name`` appears in the message).

    Returns:
        ``ckpt`` unchanged.

    Raises:
        ValueError: naming the checkpoint and the first offending learning rate, parameter or
            buffer (with its count of NaN/inf entries and the first bad index).
    """
    check_learning_rate(ckpt.learning_rate, ckpt.name)
    for kind, tensors in (("parameter", ckpt.params), ("buffer", ckpt.buffers)):
        for name, value in tensors.items():
            if not value.is_floating_point():
                continue
            bad = ~torch.isfinite(value)
            count = int(bad.sum())
            if count:
                first = tuple(int(i) for i in bad.nonzero()[0]) if value.dim() else ()
                raise ValueError(
                    f"{ckpt.name}: {kind} {name!r} has {count} non-finite value(s) (NaN or inf) "
                    f"of {value.numel()}, first at index {first}; the model diverged or the "
                    "file is damaged")
    return ckpt


# --------------------------------------------------------------------------- writing


def _metadata(ckpt: Checkpoint) -> dict:
    return {
        "format": "kgif-checkpoint",
        "version": FORMAT_VERSION,
        "config": ckpt.config.to_dict(),
        "learning_rate": float(ckpt.learning_rate),
        "epoch": int(ckpt.epoch),
        "entity_to_id": dict(ckpt.entity_to_id),
        "relation_to_id": dict(ckpt.relation_to_id),
        "metrics": {k: float(v) for k, v in ckpt.metrics.items()},
        "run_id": str(ckpt.run_id),
        "relation_repeats": (None if ckpt.relation_repeats is None
                             else [int(v) for v in ckpt.relation_repeats]),
        **({"graph_fingerprint": ckpt.graph_fingerprint} if ckpt.graph_fingerprint else {}),
    }


def _safetensors_bytes(ckpt: Checkpoint, meta: dict) -> bytes:
    from safetensors.torch import save

    tensors = {f"params/{k}": v.contiguous() for k, v in ckpt.params.items()}
    tensors |= {f"buffers/{k}": v.contiguous() for k, v in ckpt.buffers.items()}
    return save(tensors, metadata={"kgif": json.dumps(meta)})


def _pt_bytes(ckpt: Checkpoint, meta: dict) -> bytes:
    """``torch.save`` into memory: the archive's record names then do not depend on a file name."""
    buffer = io.BytesIO()
    torch.save({**meta, "params": ckpt.params, "buffers": ckpt.buffers,
                "training_state": ckpt.training_state}, buffer)
    return buffer.getvalue()


def save_checkpoint(ckpt: Checkpoint, path: str | os.PathLike, *,
                    allow_non_finite: bool = False) -> Path:
    """Write ``ckpt`` atomically; the suffix picks the format (``.pt`` or ``.safetensors``).

    ``.safetensors`` needs the ``safetensors`` package and drops ``training_state``. The bytes
    depend only on the content (byte-reproducible).

    Args:
        ckpt: the checkpoint.
        path: target file.
        allow_non_finite: skip :func:`check_finite` (never needed for a usable model).

    Raises:
        ValueError: on another suffix, or non-finite values (see :func:`check_finite`).
        OSError: the file cannot be written (full disk, no permission); names ``path``.
    """
    path = Path(path)
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise ValueError(f"save_checkpoint: {path} must end in one of {CHECKPOINT_SUFFIXES}")
    if not allow_non_finite:
        check_finite(dataclasses.replace(ckpt, source=f"save_checkpoint: {path}"))
    meta = _metadata(ckpt)
    write = _safetensors_bytes if path.suffix == ".safetensors" else _pt_bytes
    atomic_write_bytes(path, write(ckpt, meta))
    return path


# --------------------------------------------------------------------------- reading


def _damaged(path: Path, who: str) -> ValueError:
    """The error for unreadable bytes (torch's own message, which suggests turning weights_only
    off, is not shown)."""
    what = "is empty (0 bytes)" if path.stat().st_size == 0 else "cannot be read"
    return ValueError(f"{who}: {path} {what}: the file is damaged (truncated?) or not a "
                      "checkpoint")


def _is_intact_torch_archive(path: Path) -> bool:
    """A complete ``torch.save`` zip archive (CRCs verified) holding a pickle record."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            return archive.testzip() is None and any(n.endswith("data.pkl") for n in names)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return False


def read_torch_file(path: str | os.PathLike, who: str, map_location="cpu"):
    """``torch.load(path, weights_only=True)`` with errors that name the file.

    Args:
        path: a ``torch.save`` file.
        who: the caller's name, prefixed to messages.
        map_location: as for :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is empty, truncated, random bytes or not a torch file ("damaged
            or not a checkpoint"); or an intact torch file holding Python objects other than
            tensors and plain containers (its message contains ``"needs full unpickling"``).
    """
    path = check_input_file(path, who)
    if path.stat().st_size == 0:
        raise _damaged(path, who)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for bad bytes; none is actionable
        if _is_intact_torch_archive(path):
            raise ValueError(f"{who}: {path} is a torch file holding Python objects other than "
                             "tensors and plain containers; it needs full unpickling, which "
                             "can run arbitrary code") from error
        raise _damaged(path, who) from error


def _read_safetensors(path: Path, map_location) -> tuple[dict, Params, Params]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device=str(map_location)) as handle:
            meta = json.loads((handle.metadata() or {}).get("kgif", "{}"))
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    except Exception as error:  # SafetensorError, JSONDecodeError, ...
        raise _damaged(path, "load_checkpoint") from error
    params = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("params/")}
    buffers = {k.split("/", 1)[1]: v for k, v in tensors.items() if k.startswith("buffers/")}
    return meta, params, buffers


def _relation_repeats(meta: dict, config: dict, path: Path) -> tuple[int, ...] | None:
    """The ``relation_repeats`` field; a version-1 file kept it in ``config["extra"]``, from
    where it is moved (``config`` is edited in place)."""
    extra = config.get("extra")
    legacy = extra.pop(_LEGACY_REPEATS_KEY, None) if isinstance(extra, dict) else None
    repeats = meta.get("relation_repeats", legacy)
    return check_relation_repeats(repeats, f"load_checkpoint: {path}")


def _from_payload(meta: dict, params: Params, buffers: Params, path: Path, state=None):
    if not isinstance(meta, dict) or meta.get("format") != "kgif-checkpoint":
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(
            f"load_checkpoint: {path} is not a kgif checkpoint (format={found!r}); "
            "convert PyKEEN or seed-project files with `python -m kgif convert`"
        )
    where = f"load_checkpoint: {path}"
    _check_fields(meta, where)
    for kind, tensors in (("params", params), ("buffers", buffers)):
        _check_tensors(tensors, kind, where)
    stored = meta.get("graph_fingerprint")
    if stored is not None and meta["entity_to_id"] and meta["relation_to_id"]:
        derived = graph_fingerprint(meta["entity_to_id"], meta["relation_to_id"])
        if stored != derived:
            raise ValueError(f"{where}: field 'graph_fingerprint' is {stored!r} but its id maps "
                             f"give {derived!r}; the file was edited or damaged")
    config = dict(meta["config"])
    if isinstance(config.get("extra"), dict):
        config["extra"] = dict(config["extra"])
    repeats = _relation_repeats(meta, config, path)
    return Checkpoint(
        params=params, buffers=buffers, config=ConvEConfig.from_dict(config, where),
        learning_rate=float(meta["learning_rate"]), epoch=int(meta["epoch"]),
        entity_to_id=dict(meta["entity_to_id"]), relation_to_id=dict(meta["relation_to_id"]),
        metrics=dict(meta["metrics"]), training_state=state,
        run_id=str(meta.get("run_id", "")), relation_repeats=repeats, source=str(path),
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_id_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(i, int) and not isinstance(i, bool)
        for k, i in value.items())


#: Metadata fields of a checkpoint file: (test, what is expected).
_FIELDS = {
    "config": (lambda v: isinstance(v, dict), "a JSON object of ConvEConfig fields"),
    "learning_rate": (_is_number, "a number (the TracInCP weight)"),
    "epoch": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
              "an integer >= 0"),
    "entity_to_id": (_is_id_map, "a map of labels to integer ids"),
    "relation_to_id": (_is_id_map, "a map of labels to integer ids"),
    "metrics": (lambda v: isinstance(v, dict), "a map of metric names to numbers"),
    "run_id": (lambda v: isinstance(v, str), "a string"),
}


def _check_fields(meta: dict, where: str) -> None:
    """Every metadata field is present (``run_id`` may be absent) and of the expected kind."""
    for name, (test, expected) in _FIELDS.items():
        if name not in meta:
            if name == "run_id":
                continue
            raise ValueError(f"{where}: field {name!r} is missing; expected {expected}")
        if not test(meta[name]):
            raise ValueError(f"{where}: field {name!r} is {meta[name]!r:.80}; expected {expected}")


def _check_tensors(tensors: object, kind: str, where: str) -> None:
    """``params``/``buffers``: a dict of tensors; the floating ones share one dtype."""
    if not isinstance(tensors, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in tensors.items()):
        raise ValueError(f"{where}: {kind} is a {type(tensors).__name__} "
                         f"{_first_bad(tensors)}; expected a map of names to tensors")
    if kind != "params":
        return
    dtypes = {str(v.dtype) for v in tensors.values() if v.is_floating_point()}
    integer = [k for k, v in tensors.items() if not v.is_floating_point()]
    if integer:
        raise ValueError(f"{where}: parameter {integer[0]!r} has dtype "
                         f"{tensors[integer[0]].dtype}; expected floating point weights")
    if len(dtypes) > 1:
        raise ValueError(f"{where}: parameters mix dtypes {sorted(dtypes)}; expected one "
                         "floating dtype")


def _first_bad(tensors: object) -> str:
    if isinstance(tensors, dict):
        bad = next((k for k, v in tensors.items() if not isinstance(v, Tensor)), None)
        return f"(entry {bad!r} is not a tensor)" if bad is not None else ""
    return ""


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", *,
    allow_non_finite: bool = False,
) -> Checkpoint:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``, safe).

    Args:
        path: a ``.pt`` or ``.safetensors`` checkpoint.
        map_location: device to load the tensors onto.
        allow_non_finite: skip :func:`check_finite` (only to inspect a diverged model).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is damaged or not a kgif checkpoint, or (unless
            ``allow_non_finite``) holds a non-finite parameter, buffer or learning rate.
    """
    path = check_input_file(path, "load_checkpoint")
    resolve_device(map_location, "load_checkpoint: map_location")
    if path.suffix == ".safetensors":
        if path.stat().st_size == 0:
            raise _damaged(path, "load_checkpoint")
        ckpt = _from_payload(*_read_safetensors(path, map_location), path)
    else:
        payload = read_torch_file(path, "load_checkpoint", map_location)
        if not isinstance(payload, dict):
            raise ValueError(f"load_checkpoint: {path} holds a {type(payload).__name__}, not "
                             "a kgif checkpoint")
        ckpt = _from_payload(payload, payload.get("params", {}), payload.get("buffers", {}),
                             path, payload.get("training_state"))
    return ckpt if allow_non_finite else check_finite(ckpt)
def _epoch_key(path: Path) -> tuple[int, str]:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def list_checkpoints(source: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Checkpoint files in a folder (sorted by the last number in the name, e.g. the epoch),
    a single file, or an explicit list (order kept).

    Raises:
        FileNotFoundError: if a path does not exist or a folder holds no checkpoint.
    """
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            files = sorted((p for p in path.iterdir()
                            if p.suffix in CHECKPOINT_SUFFIXES and not p.name.startswith(".")),
                           key=_epoch_key)
            if not files:
                raise FileNotFoundError(f"list_checkpoints: no *.pt/*.safetensors files in {path}")
            return files
        source = [path]
    files = [Path(p) for p in source]
    for p in files:
        if not p.is_file():
            raise FileNotFoundError(f"list_checkpoints: no checkpoint file at {p}")
    return files


def load_checkpoints(
    source, map_location: str | torch.device = "cpu", *, allow_mixed_runs: bool = False,
    allow_non_finite: bool = False,
) -> list[Checkpoint]:
    """Load every checkpoint of :func:`list_checkpoints` (a folder, a file or a list).

    Args:
        source: a folder, a file or a list of files.
        map_location: device to load the tensors onto.
        allow_mixed_runs: skip :func:`check_same_run` (and the same-path-twice check).
        allow_non_finite: skip :func:`check_finite`.

    Raises:
        FileNotFoundError: a path does not exist or a folder holds no checkpoint.
        ValueError: the same file is listed twice, a file is damaged, or the checkpoints fail
            :func:`check_same_run` / :func:`check_finite`.
    """
    paths = list_checkpoints(source)
    if not allow_mixed_runs:
        seen: dict[Path, Path] = {}
        for p in paths:
            if p.resolve() in seen:
                raise ValueError(f"load_checkpoints: {p} is listed twice (as "
                                 f"{seen[p.resolve()]} and {p}); {_MIXING_HINT}")
            seen[p.resolve()] = p
    ckpts = [load_checkpoint(p, map_location, allow_non_finite=allow_non_finite) for p in paths]
    return ckpts if allow_mixed_runs else check_same_run(ckpts)


def state_tensors(ckpt: Checkpoint) -> dict[str, Tensor]:
    """All tensors of a checkpoint, params and buffers, by name (for comparisons)."""
    return {**ckpt.params, **ckpt.buffers}


# --------------------------------------------------------------------------- provenance


def content_digest(ckpt: Checkpoint) -> str:
    """SHA-256 (hex) of a checkpoint's tensors (names, dtypes, shapes, bytes) and learning rate.

    Equal for the same file loaded twice and for byte-copies of a file; any weight change
    changes it. ``training_state``, metrics and id maps are not part of it.
    """
    digest = hashlib.sha256(repr(float(ckpt.learning_rate)).encode())
    for kind, tensors in (("params", ckpt.params), ("buffers", ckpt.buffers)):
        for name in sorted(tensors):
            value = tensors[name].detach().cpu().contiguous()
            digest.update(f"{kind}/{name}:{value.dtype}:{tuple(value.shape)};".encode())
            digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def check_same_run(checkpoints: Sequence[Checkpoint], *, require_run_id: bool = True,
                   digests: Sequence[str] | None = None) -> list[Checkpoint]:
    """Refuse checkpoints that TracIn must not sum: duplicates, repeated epochs, mixed runs.

    Checkpoints without a run id (``run_id == ""``: written before run ids existed, or
    converted without ``--run-id``) belong to an unknown run: one alone is fine, but it cannot
    be combined with others, since nothing shows they come from one run.

    Args:
        checkpoints: the checkpoints of one TracIn computation.
        require_run_id: refuse checkpoints without a run id among several (files: yes; objects
            built in memory, e.g. by :class:`~kgif.influence.tracin.TracIn` callers: no, but
            different known run ids, repeated epochs and duplicates are still refused).
        digests: the checkpoints' :func:`content_digest`, if already computed (else computed).

    Returns:
        ``list(checkpoints)``.

    Raises:
        ValueError: two checkpoints with the same content, two of the same epoch, more than one
            run id, or an unknown run among several; the message names the checkpoints and how
            to allow it (``allow_mixed_runs=True``).
    """
    ckpts = list(checkpoints)
    if len(ckpts) < 2:
        return ckpts
    digests = list(digests) if digests is not None else [content_digest(c) for c in ckpts]
    for values, what in ((digests, "the same content"), ([c.epoch for c in ckpts], "epoch")):
        seen: dict = {}
        for ckpt, value in zip(ckpts, values, strict=True):
            if value in seen:
                detail = f"{what} {value}" if what == "epoch" else what
                raise ValueError(f"check_same_run: {seen[value].name} and {ckpt.name} have "
                                 f"{detail}; {_MIXING_HINT}")
            seen[value] = ckpt
    runs: dict[str, list[str]] = {}
    for ckpt in ckpts:
        runs.setdefault(ckpt.run_id, []).append(ckpt.name)
    if "" in runs and require_run_id:
        raise ValueError(f"check_same_run: {', '.join(runs[''])} carry no run id, so nothing "
                         f"shows that the {len(ckpts)} checkpoints come from one training run; "
                         f"{_MIXING_HINT}")
    if not require_run_id:
        runs.pop("", None)
    if len(runs) > 1:
        listing = "; ".join(f"run {r[:8]}: {', '.join(names)}" for r, names in runs.items())
        raise ValueError(f"check_same_run: checkpoints of {len(runs)} different training runs "
                         f"({listing}); {_MIXING_HINT}")
    return ckpts


def _map_difference(have: dict[str, int], want: dict[str, int]) -> str:
    """A short description of how two id maps differ."""
    missing = [k for k in want if k not in have]
    if missing:
        return f"{missing[0]!r} (and {len(missing) - 1} more) of the dataset is not in it"
    extra = [k for k in have if k not in want]
    if extra:
        return f"{extra[0]!r} (and {len(extra) - 1} more) is not in the dataset"
    moved = next(k for k in want if have[k] != want[k])
    return f"{moved!r} has id {have[moved]} in it but {want[moved]} in the dataset"


def _check_one(ckpt: Checkpoint, kg, dataset: str) -> None:
    for kind, plural, have, want in (("entity", "entities", ckpt.entity_to_id, kg.entity_to_id),
                                     ("relation", "relations", ckpt.relation_to_id,
                                      kg.relation_to_id)):
        if have and have != want:
            raise ValueError(
                f"check_compatible: the {kind} ids of {ckpt.name} ({len(have)} {plural}) do not "
                f"match dataset {dataset} ({len(want)}): {_map_difference(have, want)}")
    sizes = [("entity_embedding", kg.num_entities, f"{kg.num_entities} entities")]
    if "entity_bias" in ckpt.params:
        sizes.append(("entity_bias", kg.num_entities, f"{kg.num_entities} entities"))
    rows = ckpt.config.num_relation_rows(kg.num_relations)
    sizes.append(("relation_embedding", rows, f"{kg.num_relations} relations, i.e. {rows} "
                  f"rows with reciprocal={ckpt.config.reciprocal}"))
    for name, expected, why in sizes:
        if name not in ckpt.params:
            raise ValueError(f"check_compatible: {ckpt.name} has no parameter {name!r}")
        got = ckpt.params[name].shape[0]
        if got != expected:
            raise ValueError(f"check_compatible: {ckpt.name} has {got} rows in {name!r} but "
                             f"dataset {dataset} has {why}; the checkpoint was trained on "
                             "another dataset")


def check_compatible(checkpoints: Checkpoint | Sequence[Checkpoint], kg) -> None:
    """Check that checkpoints fit a dataset before any id is looked up in them.

    Id maps are compared when the checkpoint has them (a renamed or reordered entity or
    relation would silently give scores of other entities); table sizes are always compared
    (a 135-entity UMLS model against Kinships' 104 entities, or a relation table of the wrong
    size, possibly due to ``reciprocal``).

    Args:
        checkpoints: one checkpoint or a list.
        kg: the :class:`~kgif.data.graph.KnowledgeGraph` whose ids will be used.

    Raises:
        ValueError: naming the checkpoint, the dataset and the first mismatch.
    """
    dataset = repr(kg.name) if getattr(kg, "name", "") else "(unnamed)"
    for ckpt in [checkpoints] if isinstance(checkpoints, Checkpoint) else checkpoints:
        _check_one(ckpt, kg, dataset)
