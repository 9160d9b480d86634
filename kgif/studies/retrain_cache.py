"""Resumable retrainings, each cached on disk under a digest of everything that decides it.

A deletion study retrains ConvE once per deletion set; on FB15k-237 a retraining takes about
90 minutes on one CPU thread, so a study runs over several sessions. :class:`RetrainCache`
gives every retraining (a :class:`RetrainJob`) a folder named after the SHA-256 of its
settings (:meth:`RetrainCache.spec`): the dataset's digest (id maps and all three splits), the
removed training triples, the model and training configurations, the seed, the thread count,
the retraining protocol and :data:`PROTOCOL_VERSION` (not kgif's version: a release that
does not change retraining keeps a study's cache valid; ``result.json`` records it). In that
folder:

- ``spec.json``: the settings the key was computed from;
- ``run/checkpoints/checkpoint_epoch_EEEE.pt``: checkpoints every ``checkpoint_every`` epochs,
  written atomically by :func:`kgif.training.loop.train`; a job killed mid-way resumes from the
  last one (``resume_from``; exact, ``tests/training/test_loop.py::test_resume_is_exact``), a job
  killed before its first checkpoint starts again from scratch in the same folder;
- ``lock``: held (``fcntl.flock``) by the process training the job; a second process asking
  for the same job is refused instead of writing the same checkpoints;
- ``result.json``: written last, atomically, once the final model exists: the final
  checkpoint's path, wall seconds, and the target metrics asked for so far (by targets
  digest). A job with a ``result.json`` is never retrained.

Intermediate checkpoints are deleted once a job finishes (``keep_intermediate=False``), so a
finished FB15k-237 retraining keeps one 60 MB file.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from kgif._environment import environment
from kgif._io import atomic_write_json
from kgif._version import __version__
from kgif.data.graph import KnowledgeGraph
from kgif.model.checkpoint import Checkpoint, list_checkpoints, load_checkpoint
from kgif.model.conve import ConvEConfig
from kgif.studies.faithfulness import PROTOCOLS, delete_edges, target_metrics
from kgif.training.loop import TrainingConfig, train

__all__ = ["PROTOCOL_VERSION", "RetrainCache", "RetrainJob", "graph_digest", "triples_digest",
           "triples_digest_ordered"]

logger = logging.getLogger(__name__)

#: Version of the retraining protocol; part of every key, bumped when a change of this module
#: or of the training loop changes what a retraining produces.
PROTOCOL_VERSION = 1

#: TrainingConfig fields that do not change the trained model (left out of the key).
_NOT_IN_KEY = ("checkpoint_every", "eval_batch_size")
#: Training settings added after jobs were cached: left out of the key at their default value,
#: so the keys (and finished retrainings) of older runs stay valid.
_KEYED_WHEN_SET = {"fused_adam": False}


@dataclass(frozen=True)
class RetrainJob:
    """One retraining: train from scratch without the training rows ``removed``.

    Attributes:
        name: label in results (``"tracin@1"``, ``"null"``, ``"null_seed1"``).
        removed: (m,) int64 rows of the original ``kg.training`` (any order; -1 ignored).
        seed: the training seed (the original run's for every deletion; another one for a
            noise job).
    """

    name: str
    removed: Tensor
    seed: int


def _sha(chunks: list[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(len(chunk).to_bytes(8, "little"))
        digest.update(chunk)
    return digest.hexdigest()


def graph_digest(kg: KnowledgeGraph) -> str:
    """SHA-256 (hex) of a graph's id maps and its training, validation and test triples."""
    maps = json.dumps([sorted(kg.entity_to_id.items()), sorted(kg.relation_to_id.items())])
    splits = [t.contiguous().numpy().tobytes() for t in (kg.training, kg.validation, kg.testing)]
    return _sha([maps.encode(), *splits])


def triples_digest(triples: Tensor) -> str:
    """SHA-256 (hex) of a set of (h, r, t) triples: independent of order and repeats."""
    unique = torch.unique(torch.as_tensor(triples, dtype=torch.long).reshape(-1, 3), dim=0)
    return _sha([unique.contiguous().numpy().tobytes()])


@contextlib.contextmanager
def _exclusive(path: Path, name: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``path`` for the body: one process per job.

    Raises:
        BlockingIOError: when another process holds it (names the job and the lock file; an
            ``OSError``, so the command line prints it as one line).
    """
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise BlockingIOError(error.errno, f"RetrainCache: job {name!r} is being trained by "
                                               f"another process (lock {path} is held)") from error
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _threads(n: int) -> Iterator[None]:
    """Run the body under ``torch.set_num_threads(n)``, restoring the count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class RetrainCache:
    """Retrainings of one original run, cached under ``folder`` (module docstring).

    Args:
        folder: the cache folder (created).
        kg: the original graph; a job removes rows of ``kg.training``.
        config, training_config: the original run's configuration, used unchanged except
            ``seed`` (the job's), ``eval_every = 0`` (no validation) and ``checkpoint_every``.
        threads: CPU threads of every retraining (results are bit-identical only at equal
            thread counts).
        protocol: ``"reshuffle"`` (default: a plain new run on the reduced graph, Kelpie's
            protocol) or ``"stable"`` (the original run's rows, order and batches;
            :func:`kgif.studies.faithfulness.retrain`).
        checkpoint_every: epochs between resume checkpoints.
        keep_intermediate: keep every checkpoint of a finished job (default: only the final).

    Raises:
        ValueError: on an unknown protocol, ``threads < 1`` or ``checkpoint_every < 1``.
    """

    def __init__(self, folder: str | Path, kg: KnowledgeGraph, config: ConvEConfig,
                 training_config: TrainingConfig, *, threads: int = 1,
                 protocol: str = "reshuffle", checkpoint_every: int = 5,
                 keep_intermediate: bool = False):
        if protocol not in PROTOCOLS:
            raise ValueError(f"RetrainCache: protocol={protocol!r}; use one of {PROTOCOLS}")
        for name, value in (("threads", threads), ("checkpoint_every", checkpoint_every)):
            if value < 1:
                raise ValueError(f"RetrainCache: {name}={value} must be >= 1")
        self.folder = Path(folder)
        self.kg, self.config, self.threads, self.protocol = kg, config, threads, protocol
        self.training_config = replace(training_config, eval_every=0, patience=None,
                                       checkpoint_every=checkpoint_every)
        self.keep_intermediate = keep_intermediate
        self._graph_digest = graph_digest(kg)

    # ----------------------------------------------------------------- keys

    def _removed(self, job: RetrainJob) -> Tensor:
        rows = torch.as_tensor(job.removed, dtype=torch.long).reshape(-1)
        rows = torch.unique(rows[rows >= 0])
        if len(rows) and int(rows.max()) >= len(self.kg.training):
            raise ValueError(f"RetrainCache: job {job.name!r} removes row {int(rows.max())}; "
                             f"the training split has {len(self.kg.training)} rows")
        return rows

    def spec(self, job: RetrainJob) -> dict:
        """The settings that decide a job's trained model (what its key digests)."""
        tc = {k: v for k, v in asdict(replace(self.training_config, seed=job.seed)).items()
              if k not in _NOT_IN_KEY
              and not (k in _KEYED_WHEN_SET and v == _KEYED_WHEN_SET[k])}
        removed = self.kg.training[self._removed(job)]
        return {"dataset": self._graph_digest, "removed": triples_digest(removed),
                "num_removed": len(removed), "model_config": self.config.to_dict(),
                "training_config": tc, "seed": job.seed, "threads": self.threads,
                "protocol": self.protocol, "protocol_version": PROTOCOL_VERSION}

    def key(self, job: RetrainJob) -> str:
        """SHA-256 (hex) of :meth:`spec`."""
        return hashlib.sha256(json.dumps(self.spec(job), sort_keys=True).encode()).hexdigest()

    def job_folder(self, job: RetrainJob) -> Path:
        """``folder/<first 20 hex digits of the key>``."""
        return self.folder / self.key(job)[:20]

    # ----------------------------------------------------------------- state

    def result(self, job: RetrainJob) -> dict | None:
        """The cached ``result.json`` of a finished job, else None."""
        path = self.job_folder(job) / "result.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def status(self, job: RetrainJob) -> str:
        """``"done"``, ``"partial (epoch E)"`` (resumable) or ``"pending"``."""
        if self.result(job) is not None:
            return "done"
        last = self._last_checkpoint(job)
        return "pending" if last is None else f"partial (epoch {_epoch_of(last)})"

    def _last_checkpoint(self, job: RetrainJob) -> Path | None:
        folder = self.job_folder(job) / "run" / "checkpoints"
        try:
            return list_checkpoints(folder)[-1]
        except FileNotFoundError:
            return None

    # ----------------------------------------------------------------- running

    def run(self, job: RetrainJob) -> dict:
        """The job's result: from the cache, else trained (resumed where a checkpoint exists).

        Returns:
            ``result.json``'s content: ``{"name", "key", "spec", "checkpoint", "seconds",
            "resumed_from_epoch", "metrics", "kgif_version", "torch", "environment"}``;
            ``seconds`` is the wall time of the process that finished the job (a resumed job:
            the epochs after ``resumed_from_epoch`` only); ``environment`` is
            :func:`kgif._environment.environment` of that process (CPU model, threads, load;
            absent from results written before it was recorded).

        Raises:
            ValueError: a removed row outside the training split; the errors of
                :func:`kgif.training.loop.train`.
            BlockingIOError: another process is training the same job (``lock`` file).
            OSError: the cache folder cannot be written (names the file).
        """
        done = self.result(job)
        if done is not None:
            logger.info("retrain cache: %s is done (%s)", job.name, self.job_folder(job))
            return done
        folder, key = self.job_folder(job), self.key(job)
        folder.mkdir(parents=True, exist_ok=True)
        with _exclusive(folder / "lock", job.name):
            done = self.result(job)  # another process may have finished it meanwhile
            return done if done is not None else self._train(job, folder, key)

    def _train(self, job: RetrainJob, folder: Path, key: str) -> dict:
        spec = self.spec(job)
        atomic_write_json(folder / "spec.json", {"name": job.name, "key": key, **spec})
        resume = self._last_checkpoint(job)
        logger.info("retrain cache: training %s (%d rows removed) in %s%s", job.name,
                    spec["num_removed"], folder,
                    f", resumed from {resume.name}" if resume else "")
        start = time.perf_counter()
        with _threads(self.threads):
            train(delete_edges(self.kg, self._removed(job)), self.config,
                  replace(self.training_config, seed=job.seed), output_dir=folder / "run",
                  resume_from=resume, show_progress=False, run_id=key[:32],
                  keep_rows_of=self.kg.training if self.protocol == "stable" else None)
            made_on = environment(self.training_config.device)  # threads as trained
        final = list_checkpoints(folder / "run" / "checkpoints")[-1]
        if not self.keep_intermediate:
            self._prune(folder, final)
        result = {"name": job.name, "key": key, "spec": spec, "checkpoint": str(final),
                  "kgif_version": __version__, "torch": torch.__version__,
                  "seconds": time.perf_counter() - start,
                  "resumed_from_epoch": _epoch_of(resume) if resume else 0, "metrics": {},
                  "environment": made_on}
        atomic_write_json(folder / "result.json", result)
        return result

    def _prune(self, folder: Path, final: Path) -> None:
        for path in list_checkpoints(folder / "run" / "checkpoints"):
            if path != final:
                path.unlink()
        (folder / "run" / "best.pt").unlink(missing_ok=True)

    def final_model(self, job: RetrainJob) -> Checkpoint:
        """The finished job's final model (runs the job first when it is not cached)."""
        return load_checkpoint(self.run(job)["checkpoint"])

    def metrics(self, job: RetrainJob, targets: Tensor) -> dict[str, Tensor]:
        """:func:`kgif.studies.faithfulness.target_metrics` of the job's final model on
        ``targets`` (filtered with the original graph's triples), cached in ``result.json``.

        Returns:
            ``{"rank", "rr", "logit"}``: (T,) float64.
        """
        result = self.run(job)
        tag = triples_digest_ordered(targets)
        if tag not in result["metrics"]:
            values = target_metrics(load_checkpoint(result["checkpoint"]), targets,
                                    self.kg.all_triples())
            result["metrics"][tag] = {q: v.tolist() for q, v in values.items()}
            atomic_write_json(self.job_folder(job) / "result.json", result)
        return {q: torch.tensor(v, dtype=torch.float64)
                for q, v in result["metrics"][tag].items()}


def triples_digest_ordered(triples: Tensor) -> str:
    """SHA-256 (hex) of a (T, 3) triple list in its order (metrics are per position)."""
    return _sha([torch.as_tensor(triples, dtype=torch.long).contiguous().numpy().tobytes()])


def _epoch_of(path: Path) -> int:
    """The epoch in a checkpoint's file name (``checkpoint_epoch_0040.pt`` -> 40)."""
    return int(re.findall(r"\d+", path.stem)[-1])
