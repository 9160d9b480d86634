"""Training of the functional ConvE with 1-N scoring and sparse BCE; checkpoints and resume.

One epoch visits every distinct (head, relation-row) pair of the training triples with
reciprocal relations once (PyKEEN's LCWA / "KvsAll", Dettmers et al. 2018): the row scores all N
entities and its positives are all its known tails (CSR lists from :class:`TailIndex`, never a
dense label matrix). The loss is :func:`kgif.model.loss.sparse_bce_with_logits` with label
smoothing, averaged over B x N elements like PyKEEN's ``BCEWithLogitsLoss``; the optimiser is Adam.

Reproducibility: ``torch.manual_seed(seed)`` seeds the global RNG that dropout draws from, a
private ``torch.Generator`` shuffles the rows, and both states, the optimiser state and the
early-stopping bookkeeping travel in ``Checkpoint.training_state``, so stopping after epoch k
and resuming from that checkpoint gives bit-identical results on the CPU.
"""

from __future__ import annotations

import copy as copy_module
import logging
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from kgif._device import resolve_device
from kgif._lock import output_lock
from kgif._progress import progress
from kgif.data.graph import KnowledgeGraph, TailIndex, with_reciprocals
from kgif.evaluation.ranks import TC_PREFIX, evaluate, rank_metrics
from kgif.model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from kgif.model.conve import ConvEConfig, Params, hidden, init_conve, score_all
from kgif.model.loss import sparse_bce_with_logits
from kgif.training.output import prepare_output_dir

__all__ = ["LR_SCHEDULES", "NonFiniteLossError", "TrainingConfig", "TrainingResult",
           "kept_row_index", "make_step", "train"]

logger = logging.getLogger(__name__)

#: The default key of the validation metric that selects ``best.pt``
#: (``"validation." + TrainingConfig.validation_metric``).
VALIDATION_KEY = "validation.realistic.mrr"


@dataclass
class TrainingConfig:
    """Optimisation settings; defaults reach the published ConvE range on UMLS in minutes.

    Raises:
        ValueError: from ``__post_init__`` on a non-positive size or rate, an unknown schedule
            or smoothing convention.
    """

    epochs: int = 200  # passes over the distinct (head, relation-row) pairs
    batch_size: int = 128  # (head, relation-row) pairs per step
    learning_rate: float = 0.003  # Adam step size (eta for TracInCP)
    label_smoothing: float = 0.1  # epsilon of the smoothed 1-N targets
    smoothing_convention: Literal["pykeen", "conve"] = "pykeen"  # see kgif.model.loss
    lr_schedule: Literal["constant", "exponential", "cosine"] = "constant"  # per epoch
    lr_decay: float = 0.995  # gamma in (0, 1] of the "exponential" schedule: lr * gamma ** epoch
    checkpoint_every: int = 10  # write a checkpoint every k epochs (0: only best.pt / final)
    eval_every: int = 10  # validation MRR every k epochs (0: never; then no early stopping)
    patience: int | None = None  # stop after this many evaluations without a better MRR
    seed: int = 0  # parameter init, dropout (global RNG) and shuffling (private generator)
    bf16: bool = False  # bfloat16 autocast for the forward pass (loss in float32)
    compile: bool = False  # torch.compile the forward + loss function
    fused_adam: bool = False  # one fused Adam kernel (same update; float rounding differs)
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", ...
    eval_batch_size: int = 256  # queries per scoring batch during validation
    # relation label -> m >= 1: its rows (h, r) and (t, r^-1) are visited m times per epoch
    # (oversampling a rare target relation); TracIn counts each such edge m times
    relation_repeats: dict[str, int] = field(default_factory=dict)  # LABEL -> visits per epoch
    validation_side: Literal["both", "head", "tail"] = "both"  # ranks that select best.pt
    # key of kgif.evaluation.ranks.evaluate that selects best.pt
    validation_metric: str = "realistic.mrr"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainingConfig: {name}={getattr(self, name)} must be >= 1")
        for name in ("checkpoint_every", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainingConfig: {name}={getattr(self, name)} must be >= 0")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"TrainingConfig: learning_rate={self.learning_rate} must be a "
                             "finite number > 0")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"TrainingConfig: lr_decay={self.lr_decay} must be in (0, 1] "
                             "(the exponential schedule's factor per epoch)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"TrainingConfig: label_smoothing={self.label_smoothing} must be "
                             "in [0, 1)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"TrainingConfig: lr_schedule={self.lr_schedule!r}; expected one "
                             f"of {sorted(LR_SCHEDULES)}")
        if self.smoothing_convention not in ("pykeen", "conve"):
            raise ValueError(f"TrainingConfig: smoothing_convention="
                             f"{self.smoothing_convention!r}; expected 'pykeen' or 'conve'")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"TrainingConfig: patience={self.patience} must be >= 1 or None")
        for label, repeats in self.relation_repeats.items():
            if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
                raise ValueError(f"TrainingConfig: relation_repeats[{label!r}]={repeats!r} "
                                 "must be an integer >= 1")
        if self.validation_side not in ("both", "head", "tail"):
            raise ValueError(f"TrainingConfig: validation_side={self.validation_side!r}; "
                             "expected 'both', 'head' or 'tail'")
        if self.patience is not None and self.eval_every == 0:
            raise ValueError(f"TrainingConfig: patience={self.patience} needs validation, but "
                             "eval_every=0 never validates; set eval_every >= 1")


class NonFiniteLossError(ValueError):
    """Training produced a NaN or infinite loss or parameter (the model diverged)."""


#: Learning rate of epoch ``e`` (0-based) as a function of (config, e): pure, so resume needs
#: no scheduler state.
LR_SCHEDULES: dict[str, Callable[[TrainingConfig, int], float]] = {
    "constant": lambda tc, e: tc.learning_rate,
    "exponential": lambda tc, e: tc.learning_rate * tc.lr_decay**e,
    "cosine": lambda tc, e: tc.learning_rate * 0.5 * (1.0 + math.cos(math.pi * e / tc.epochs)),
}


@dataclass
class TrainingResult:
    """What :func:`train` returns.

    Attributes:
        final: the model after the last epoch run.
        best: the model at the best validation MRR (``final`` when never validated).
        loss_history: mean training loss of every epoch, from epoch 1.
        metrics_history: ``{"epoch": e, "validation.realistic.mrr": ..., ...}`` per evaluation.
        stopped_early: whether early stopping ended training.
        epoch_seconds: wall-clock seconds of each epoch run by this call (training steps only,
            without validation and checkpoint writing).
    """

    final: Checkpoint
    best: Checkpoint
    loss_history: list[float] = field(default_factory=list)
    metrics_history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    epoch_seconds: list[float] = field(default_factory=list)

    def __repr__(self) -> str:
        """One short line: epochs, first and last loss, best epoch and its validation metric,
        early stop, time (the default dataclass repr would print every tensor)."""
        losses = self.loss_history
        loss = f"loss {losses[0]:.4g} -> {losses[-1]:.4g}" if losses else "no loss recorded"
        best = ", ".join(f"{k} {v:.4g}" for k, v in list(self.best.metrics.items())[:2]
                         if isinstance(v, int | float))
        return (f"TrainingResult({self.final.epoch} epochs, {loss}, best epoch {self.best.epoch}"
                f"{' (' + best + ')' if best else ''}, {len(self.metrics_history)} evaluations, "
                f"stopped early: {'yes' if self.stopped_early else 'no'}, "
                f"{sum(self.epoch_seconds):.1f} s training)")


# --------------------------------------------------------------------------- one step


def _forward_loss(params: Params, buffers: Params, h: Tensor, r: Tensor, pos_rows: Tensor,
                  pos_cols: Tensor, config: ConvEConfig, label_smoothing: float,
                  convention: Literal["pykeen", "conve"], row_weight: Tensor | None = None
                  ) -> tuple[Tensor, Params]:
    """Training-mode sparse 1-N BCE of rows (h, r) (B,) with positives (pos_rows, pos_cols);
    ``row_weight`` (B,) optionally weights each row's terms (0: the row adds no loss)."""
    f, new_buffers = hidden(params, buffers, h, r, config, training=True)  # (B, d)
    logits = score_all(params, f)  # (B, N)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # no bf16 loss
    loss = sparse_bce_with_logits(logits, pos_rows, pos_cols, label_smoothing, convention,
                                  row_weight=row_weight)
    return loss, new_buffers


def make_step(config: ConvEConfig, training_config: TrainingConfig) -> Callable:
    """The forward + loss function of one batch, compiled and autocast as configured.

    Returns:
        ``step(params, buffers, h, r, pos_rows, pos_cols, row_weight=None) -> (loss,
        new_buffers)``; ``params`` are leaf tensors with ``requires_grad``; call
        ``loss.backward()`` afterwards. ``row_weight`` is (B,) float or None
        (:func:`kgif.model.loss.sparse_bce_with_logits`).
    """
    tc = training_config
    fn = _forward_loss
    if tc.compile:
        fn = torch.compile(_forward_loss, dynamic=True)
    device_type = torch.device(tc.device).type

    def step(params, buffers, h, r, pos_rows, pos_cols, row_weight=None):
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=tc.bf16):
            return fn(params, buffers, h, r, pos_rows, pos_cols, config, tc.label_smoothing,
                      tc.smoothing_convention, row_weight)

    return step


# --------------------------------------------------------------------------- state


@dataclass
class _State:
    """Mutable training state; everything here is saved in ``training_state``."""

    params: Params
    buffers: Params
    optimizer: torch.optim.Adam
    generator: torch.Generator
    epoch: int = 0
    loss_history: list[float] = field(default_factory=list)
    metrics_history: list[dict] = field(default_factory=list)
    best_mrr: float = -1.0
    best_epoch: int = 0
    evals_since_best: int = 0
    lr_since_checkpoint: list[float] = field(default_factory=list)
    run_id: str = ""
    relation_repeats: tuple[int, ...] | None = None  # per base relation id (Checkpoint field)
    training_config: dict = field(default_factory=dict)  # asdict(TrainingConfig) of the run

    def to_training_state(self) -> dict:
        return {
            "training_config": dict(self.training_config),
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "generator": self.generator.get_state(),
            "loss_history": list(self.loss_history),
            "metrics_history": [dict(m) for m in self.metrics_history],
            "best_mrr": self.best_mrr, "best_epoch": self.best_epoch,
            "evals_since_best": self.evals_since_best,
            "lr_since_checkpoint": list(self.lr_since_checkpoint),
        }

    def restore(self, ts: dict | None) -> None:
        if not ts:
            raise ValueError("train: resume_from checkpoint has no training_state")
        self.optimizer.load_state_dict(ts["optimizer"])
        torch.set_rng_state(ts["torch_rng"])
        if ts["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ts["cuda_rng"])
        self.generator.set_state(ts["generator"])
        self.loss_history = list(ts["loss_history"])
        self.metrics_history = [dict(m) for m in ts["metrics_history"]]
        self.best_mrr, self.best_epoch = float(ts["best_mrr"]), int(ts["best_epoch"])
        self.evals_since_best = int(ts["evals_since_best"])
        self.lr_since_checkpoint = list(ts["lr_since_checkpoint"])


def _snapshot(state: _State, config: ConvEConfig, kg: KnowledgeGraph, metrics: dict[str, float],
              copy: bool, closes_interval: bool = False) -> Checkpoint:
    """The current model as a Checkpoint with its resume state.

    Its learning rate is the TracInCP weight: the SUM of the per-epoch rates since the
    previous checkpoint (see ``docs/training.md``). ``closes_interval=True`` for the periodic
    checkpoints: their resume state starts a new, empty interval, so a run resumed from them
    does not count the closed epochs again.

    ``copy=False`` shares the tensors with the running state: for checkpoints written to disk
    at once and for the final model; ``copy=True`` for the best model kept while training goes on.
    """
    lrs = state.lr_since_checkpoint or [state.optimizer.param_groups[0]["lr"]]
    params = {k: v.detach().clone() if copy else v.detach() for k, v in state.params.items()}
    buffers = {k: v.clone() if copy else v for k, v in state.buffers.items()}
    resume = state.to_training_state()
    if closes_interval:
        resume["lr_since_checkpoint"] = []
    return Checkpoint(
        params=params, buffers=buffers, config=config, learning_rate=math.fsum(lrs),
        epoch=state.epoch, entity_to_id=dict(kg.entity_to_id),
        relation_to_id=dict(kg.relation_to_id), metrics=dict(metrics),
        training_state=copy_module.deepcopy(resume) if copy else resume, run_id=state.run_id,
        relation_repeats=state.relation_repeats,
    )


def _init_state(kg: KnowledgeGraph, config: ConvEConfig, tc: TrainingConfig,
                resume_from: str | os.PathLike | Checkpoint | None, run_id: str | None
                ) -> _State:
    torch.manual_seed(tc.seed)
    params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=tc.seed,
                                 device=tc.device)
    ckpt = None
    if resume_from is not None:
        ckpt = resume_from if isinstance(resume_from, Checkpoint) else load_checkpoint(
            resume_from, map_location=tc.device)
        _check_resumable(ckpt, params, buffers)
        params = {k: v.to(tc.device) for k, v in ckpt.params.items()}
        buffers = {k: v.to(tc.device) for k, v in ckpt.buffers.items()}
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    optimizer = torch.optim.Adam(leaves.values(), lr=tc.learning_rate,
                                 fused=True if tc.fused_adam else None)
    state = _State(leaves, buffers, optimizer, torch.Generator().manual_seed(tc.seed),
                   training_config=asdict(tc))
    state.run_id = _run_id(ckpt, run_id)
    if ckpt is not None:
        _check_same_settings(ckpt, tc)
        state.restore(ckpt.training_state)
        state.epoch = ckpt.epoch
        logger.info("train: resumed run %s from epoch %d", state.run_id, ckpt.epoch)
    return state


def _run_id(resumed: Checkpoint | None, given: str | None) -> str:
    """The run id: the resumed checkpoint's, else ``given``, else a fresh uuid4 hex."""
    if given is not None and (not isinstance(given, str) or not given.strip()):
        raise ValueError(f"train: run_id={given!r} must be a non-empty string")
    if resumed is None or not resumed.run_id:
        if resumed is not None:
            logger.warning("train: %s has no run id (written before run ids); the resumed run "
                           "gets a new one", resumed.name)
        return given or uuid.uuid4().hex
    if given is not None and given != resumed.run_id:
        raise ValueError(f"train: run_id={given!r} differs from the run id {resumed.run_id!r} "
                         f"of the checkpoint resumed from ({resumed.name})")
    return resumed.run_id


#: Training settings a resumed run must share with the checkpoint it resumes from (the others
#: change nothing but the length of the run, where it runs, or float rounding).
RESUME_SETTINGS = ("batch_size", "learning_rate", "label_smoothing", "smoothing_convention",
                   "lr_schedule", "lr_decay", "seed", "bf16", "relation_repeats")


def _check_same_settings(ckpt: Checkpoint, tc: TrainingConfig) -> None:
    """Refuse to resume under other settings than the checkpoint's run (checkpoints written
    before the settings were stored in ``training_state`` are not checked)."""
    saved = (ckpt.training_state or {}).get("training_config")
    if not saved:
        return
    given = asdict(tc)
    for name in RESUME_SETTINGS:
        if name in saved and saved[name] != given[name]:
            raise ValueError(f"train: resume_from {ckpt.name} was trained with {name}="
                             f"{saved[name]!r}, this run has {name}={given[name]!r}; resume "
                             "with the run's own settings (or start a new run)")


def _check_resumable(ckpt: Checkpoint, params: Params, buffers: Params) -> None:
    if not ckpt.training_state:
        raise ValueError("train: resume_from checkpoint has no training_state (optimizer and "
                         "RNG state); only checkpoints written by kgif.training.loop can be "
                         "resumed")
    for name, value in {**params, **buffers}.items():
        have = {**ckpt.params, **ckpt.buffers}.get(name)
        if have is None or have.shape != value.shape:
            raise ValueError(f"train: resume_from checkpoint does not fit this graph and "
                             f"config: {name} is {None if have is None else tuple(have.shape)}, "
                             f"expected {tuple(value.shape)}")


# --------------------------------------------------------------------------- epochs


def _check_loss(loss: Tensor, state: _State, step: int, steps: int, lr: float) -> None:
    if not torch.isfinite(loss):
        raise NonFiniteLossError(
            f"train: non-finite loss {loss.item()} at epoch {state.epoch + 1}, step {step} of "
            f"{steps} (learning rate {lr:g}); the model diverged, training stopped before this "
            "step's update and nothing of this epoch was saved. Lower --learning-rate")


def _check_parameters(state: _State, lr: float) -> None:
    for name, value in {**state.params, **state.buffers}.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise NonFiniteLossError(
                f"train: parameter {name!r} became non-finite during epoch {state.epoch + 1} "
                f"(learning rate {lr:g}); the model diverged and nothing of this epoch was "
                "saved. Lower --learning-rate")


def _batch_bounds(n: int, batch_size: int) -> list[int]:
    """Batch boundaries ``[0, b, 2b, ..., n]``; a last batch of one row joins the one before
    it (BatchNorm needs two rows to compute batch statistics)."""
    bounds = [*range(0, n, batch_size), n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return bounds


def relation_repeat_counts(kg: KnowledgeGraph, relation_repeats: dict[str, int]
                           ) -> list[int] | None:
    """Per base relation id, how many times its rows are visited per epoch.

    Args:
        kg: the graph (labels are resolved with :meth:`KnowledgeGraph.resolve_relation`).
        relation_repeats: relation label or id -> repeats >= 1
            (:attr:`TrainingConfig.relation_repeats`).

    Returns:
        ``[repeats of relation 0, ..., repeats of relation R - 1]`` (ints >= 1), or None when
        every relation is visited once (the default).

    Raises:
        KeyError: on a relation the graph does not have (the message names it).
    """
    if not relation_repeats or all(v == 1 for v in relation_repeats.values()):
        return None
    counts = [1] * kg.num_relations
    for label, value in relation_repeats.items():
        counts[kg.resolve_relation(label)] = int(value)
    return counts


def kept_row_index(triples: Tensor, rows_of: Tensor, num_relation_rows: int) -> TailIndex:
    """The 1-N labels of ``triples`` on the rows of ``rows_of``: a :class:`TailIndex` whose
    rows are those of ``rows_of`` (same ids, same order), each with its tails in ``triples``;
    a row with none keeps its place with zero tails.

    Used by :func:`train` with ``keep_rows_of``: when edges are deleted, every remaining row
    keeps its id, so the shuffled epoch order, the batches and every random draw of the run
    stay those of the run on ``rows_of``.

    Args:
        triples: (n, 3) int64 (head, relation-row, tail) label triples (reciprocals included).
        rows_of: (m, 3) int64 triples whose (head, relation-row) pairs are the rows.
        num_relation_rows: R'.

    Returns:
        :class:`TailIndex` with ``num_rows`` = the distinct pairs of ``rows_of``.

    Raises:
        ValueError: when a pair of ``triples`` is not a row of ``rows_of`` (names the first).
    """
    labels = TailIndex.from_triples(triples, num_relation_rows)
    universe = TailIndex.from_triples(rows_of, num_relation_rows)
    missing = universe.lookup(labels.rows[:, 0], labels.rows[:, 1]) < 0
    if bool(missing.any()):
        h, r = labels.rows[missing][0].tolist()
        raise ValueError(f"train: keep_rows_of lacks the row (head {h}, relation row {r}) of a "
                         f"training triple; it must hold every training edge's rows")
    rows, tails = labels.gather(labels.lookup(universe.rows[:, 0], universe.rows[:, 1]))
    counts = torch.bincount(rows, minlength=universe.num_rows)
    offsets = torch.zeros(universe.num_rows + 1, dtype=torch.long)
    offsets[1:] = counts.cumsum(0)
    return TailIndex(universe.rows, offsets, tails, num_relation_rows, universe.keys)


def epoch_order(num_rows: int, row_repeats: Tensor | None, generator: torch.Generator
                ) -> Tensor:
    """The rows of one epoch in shuffled order: each row ``i`` ``row_repeats[i]`` times.

    Args:
        num_rows: rows of the :class:`~kgif.data.graph.TailIndex`.
        row_repeats: (num_rows,) int64 repeats >= 1, or None (every row once: exactly
            ``torch.randperm(num_rows, generator=generator)``).
        generator: the shuffling generator (advanced).

    Returns:
        (sum(row_repeats),) int64 row ids.
    """
    if row_repeats is None:
        return torch.randperm(num_rows, generator=generator)
    rows = torch.repeat_interleave(torch.arange(num_rows), row_repeats)
    return rows[torch.randperm(len(rows), generator=generator)]


def _run_epoch(state: _State, index: TailIndex, step: Callable, tc: TrainingConfig,
               lr: float, repeats: list[int] | None = None, masked: bool = False) -> float:
    """One shuffled pass over the rows of ``index`` (each row of relation ``r`` visited
    ``repeats[r]`` times); returns the visit-weighted mean loss. With ``masked``, rows
    without a label (:func:`kept_row_index`) keep their slot but get loss weight 0.

    Raises:
        NonFiniteLossError: at the first non-finite loss (before its update) or parameter.
    """
    for group in state.optimizer.param_groups:
        group["lr"] = lr
    row_repeats = None
    if repeats is not None:
        row_repeats = torch.tensor(repeats, dtype=torch.long)[index.rows[:, 1].cpu() // 2]
    order = epoch_order(index.num_rows, row_repeats, state.generator)
    empty = index.offsets[1:] == index.offsets[:-1] if masked else None  # rows without labels
    total = torch.zeros((), dtype=torch.float64)
    bounds = _batch_bounds(len(order), tc.batch_size)
    steps = len(bounds) - 1
    for step_no, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), 1):
        rows = order[start:stop]
        pos_rows, pos_cols = index.gather(rows)
        h, r = index.rows[rows].to(tc.device).unbind(1)
        extra: tuple[Tensor, ...] = ()
        if empty is not None and bool(empty[rows].any()):  # rows without labels: a slot but no loss
            extra = ((~empty[rows]).float().to(tc.device),)
        loss, new_buffers = step(state.params, state.buffers, h, r, pos_rows.to(tc.device),
                                 pos_cols.to(tc.device), *extra)
        _check_loss(loss, state, step_no, steps, lr)
        loss.backward()
        state.optimizer.step()
        state.optimizer.zero_grad(set_to_none=True)
        state.buffers = {k: v.detach() for k, v in new_buffers.items()} or state.buffers
        total += loss.detach().double().cpu() * len(rows)
    _check_parameters(state, lr)
    return (total / len(order)).item()


def _check_validation_metric(tc: TrainingConfig, kg: KnowledgeGraph) -> None:
    """Refuse a ``validation_metric`` that :func:`kgif.evaluation.ranks.evaluate` will not
    report, before any training (type-constrained keys exist only for a graph with entity kinds)."""
    one = torch.ones(1)
    base = [k for k in rank_metrics(one, one) if k != "num_ranks"]
    known = base + ([TC_PREFIX + k for k in base] if kg.entity_kinds else [])
    if tc.validation_metric not in known:
        raise ValueError(f"train: validation_metric={tc.validation_metric!r} is not a metric "
                         f"kgif.evaluation.ranks.evaluate reports on this graph; known: {known}")


def _validate(state: _State, kg: KnowledgeGraph, config: ConvEConfig, tc: TrainingConfig
              ) -> dict[str, float]:
    metrics = evaluate({k: v.detach() for k, v in state.params.items()}, state.buffers, config,
                       kg, split="validation", batch_size=tc.eval_batch_size,
                       side=tc.validation_side)
    return {f"validation.{k}": v for k, v in metrics.items() if k != "num_ranks"}


def _checkpoint_path(output_dir: Path, epoch: int) -> Path:
    return output_dir / "checkpoints" / f"checkpoint_epoch_{epoch:04d}.pt"


def _initial_best(state: _State, out: Path | None) -> Checkpoint | None:
    """The best model so far: ``out/best.pt`` when resuming a run that wrote it, else None."""
    path = out / "best.pt" if out is not None else None
    if state.best_epoch and path is not None and path.is_file():
        best = load_checkpoint(path, map_location=state.params["entity_embedding"].device)
        if best.epoch == state.best_epoch:
            return best
    if state.best_epoch:
        logger.warning("train: resumed without %s of epoch %d; the returned best model is the "
                       "final one unless validation improves", path, state.best_epoch)
    return None


def train(
    kg: KnowledgeGraph,
    config: ConvEConfig,
    training_config: TrainingConfig | None = None,
    output_dir: str | os.PathLike | None = None,
    resume_from: str | os.PathLike | Checkpoint | None = None,
    show_progress: bool = True,
    *,
    run_id: str | None = None,
    overwrite: bool = False,
    keep_rows_of: Tensor | None = None,
) -> TrainingResult:
    """Train ConvE on ``kg.training`` with 1-N scoring, sparse BCE and Adam.

    Args:
        kg: the graph; its validation split (if any) drives best-model selection and early
            stopping (by default the filtered realistic MRR, both sides, filtered with train +
            valid + test; ``validation_side`` and ``validation_metric`` choose another, e.g.
            ``"tail"`` and ``"type_constrained.realistic.mrr"``).
        config: model hyper-parameters (``reciprocal=True`` required). ``config.extra`` gets
            ``"dataset": kg.name`` in the saved checkpoints when ``kg.name`` is set.
        training_config: optimisation settings (defaults: :class:`TrainingConfig`).
        output_dir: when given, checkpoints go to ``output_dir/checkpoints/
            checkpoint_epoch_{epoch:04d}.pt`` every ``checkpoint_every`` epochs and at the
            last epoch, and ``output_dir/best.pt`` at every new best validation MRR.
        resume_from: a checkpoint (path or object) written by this function; training
            continues from its epoch with its optimiser, RNG and generator states, and its
            run id.
        show_progress: tqdm bar over epochs with the loss (and the best validation MRR once
            validated).
        run_id: the run id stored in every checkpoint (default: a fresh ``uuid4().hex``, or
            the resumed checkpoint's); give one only to reproduce a run byte for byte.
        overwrite: delete the checkpoints and ``best.pt`` of ``output_dir`` first; without it,
            an ``output_dir`` holding another run's checkpoints is refused.
        keep_rows_of: optional (m, 3) int64 triples (base relation ids) that fix the rows of
            every epoch, usually the training split of the run this one is compared with:
            ``kg.training`` must be a subset of them, and a row (h, r) left without a
            training tail keeps its slot in the shuffled order and in its batch (batch norm
            statistics, dropout draws and batch composition are those of the run on
            ``keep_rows_of``) but adds no loss (weight 0, :func:`kept_row_index`). With the
            same seed, training on a subset then differs from the full run only by the
            missing labels: the stable deletion protocol of :mod:`kgif.studies.faithfulness`.

    Returns:
        :class:`TrainingResult` with the final and best checkpoints and the histories.

    Raises:
        ValueError: on a non-reciprocal config, an empty training split, a checkpoint that
            cannot be resumed, a run id that differs from the resumed one, an unavailable
            device, an ``output_dir`` holding another run (without ``overwrite``), or a
            training row missing from ``keep_rows_of``.
        NonFiniteLossError: at the first non-finite loss or parameter (names epoch and step).
        OSError: ``output_dir`` is a file, not writable, or a checkpoint cannot be written
            (full disk); the message names the folder or file.

    With ``output_dir`` the run holds the folder's writer lock (:func:`kgif._lock.output_lock`)
    while it trains: a second ``train`` or an ``explain`` into the same folder is refused with
    a ValueError naming the holder's pid.
    """
    run = partial(_train, kg, config, training_config, output_dir, resume_from, show_progress,
                  run_id=run_id, overwrite=overwrite, keep_rows_of=keep_rows_of)
    if output_dir is None:
        return run()
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(20, f"train: output folder {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out, "train"):
        return run()


def _train(kg: KnowledgeGraph, config: ConvEConfig, training_config: TrainingConfig | None,
           output_dir: str | os.PathLike | None, resume_from: str | os.PathLike | Checkpoint | None,
           show_progress: bool, *, run_id: str | None, overwrite: bool,
           keep_rows_of: Tensor | None) -> TrainingResult:
    """:func:`train` without the folder lock."""
    tc = training_config or TrainingConfig()
    if not config.reciprocal:
        raise ValueError("train: 1-N training with head prediction needs config.reciprocal=True")
    if len(kg.training) == 0:
        raise ValueError("train: the graph has no training triples")
    if kg.name and "dataset" not in config.extra:
        config = replace(config, extra={**config.extra, "dataset": kg.name})
    repeats = relation_repeat_counts(kg, tc.relation_repeats)
    resolve_device(tc.device, "train: device (--device)")
    out = Path(output_dir) if output_dir is not None else None
    state = _init_state(kg, config, tc, resume_from, run_id)
    state.relation_repeats = None if repeats is None else tuple(repeats)
    if out is not None:
        prepare_output_dir(out, state.run_id, overwrite,
                           state.epoch if resume_from is not None else None)
    if keep_rows_of is None:
        index = TailIndex.from_triples(with_reciprocals(kg.training),
                                       config.num_relation_rows(kg.num_relations))
    else:
        index = kept_row_index(with_reciprocals(kg.training),
                               with_reciprocals(torch.as_tensor(keep_rows_of).long()),
                               config.num_relation_rows(kg.num_relations))
    step = make_step(config, tc)
    validate = tc.eval_every > 0 and len(kg.validation) > 0
    if validate:
        _check_validation_metric(tc, kg)
    best = _initial_best(state, out)
    stopped, seconds = False, []
    logger.info("train: %d rows of (head, relation) per epoch, %d epochs, %s",
                index.num_rows, tc.epochs, asdict(tc))
    bar = progress(range(state.epoch, tc.epochs), show_progress, desc="train")
    for epoch in bar:
        lr = LR_SCHEDULES[tc.lr_schedule](tc, epoch)
        start = time.perf_counter()
        loss = _run_epoch(state, index, step, tc, lr, repeats, keep_rows_of is not None)
        seconds.append(time.perf_counter() - start)
        state.epoch = epoch + 1
        state.loss_history.append(loss)
        state.lr_since_checkpoint.append(lr)
        metrics = {"loss": loss}
        if validate and state.epoch % tc.eval_every == 0:
            metrics |= _validate(state, kg, config, tc)
            state.metrics_history.append({"epoch": state.epoch, **metrics})
            best, stopped = _track_best(state, metrics, config, kg, tc, best, out)
        bar.set_postfix(_progress(loss, state))
        last = state.epoch == tc.epochs or stopped
        if out is not None and ((tc.checkpoint_every and state.epoch % tc.checkpoint_every == 0)
                                or last):
            save_checkpoint(_snapshot(state, config, kg, metrics, copy=False,
                                      closes_interval=True), _checkpoint_path(out, state.epoch))
            state.lr_since_checkpoint = []
        if stopped:
            logger.info("train: early stop at epoch %d (best %.4f at %d)", state.epoch,
                        state.best_mrr, state.best_epoch)
            break
    final = _snapshot(state, config, kg, {"loss": state.loss_history[-1]}
                      if state.loss_history else {}, copy=False)
    return TrainingResult(final, best or final, state.loss_history,
                          state.metrics_history, stopped, seconds)


def _progress(loss: float, state: _State) -> dict[str, str]:
    """Progress-bar fields: the loss, and the best validation MRR once there is one."""
    fields = {"loss": f"{loss:.5f}"}
    if state.best_epoch:
        fields["best_val_mrr"] = f"{state.best_mrr:.4f}"
    return fields


def _track_best(state: _State, metrics: dict[str, float], config: ConvEConfig,
                kg: KnowledgeGraph, tc: TrainingConfig, best: Checkpoint | None,
                out: Path | None) -> tuple[Checkpoint | None, bool]:
    """Update the best model (and ``best.pt``) and the patience counter; returns (best, stop)."""
    mrr = metrics[f"validation.{tc.validation_metric}"]
    logger.info("train: epoch %d loss %.6f validation MRR %.4f", state.epoch,
                metrics["loss"], mrr)
    if mrr > state.best_mrr:
        state.best_mrr, state.best_epoch, state.evals_since_best = mrr, state.epoch, 0
        best = _snapshot(state, config, kg, metrics, copy=True)  # resumable from best.pt too
        if out is not None:
            save_checkpoint(best, out / "best.pt")
        return best, False
    state.evals_since_best += 1
    return best, tc.patience is not None and state.evals_since_best >= tc.patience
