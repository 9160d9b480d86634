"""Resume inside a chunk: a whole-graph pass saved segment by segment.

A chunk of an :func:`~kgif.jobs.explain_run.explain_all` run is one pass over the training
edges; on a graph of the seed project's size (18.6 M edges, 750 test triples, 3 checkpoints)
that pass takes hours, longer than a killed or time-limited job may run. Without a candidate
filter the pass is therefore cut into **segments** of consecutive training rows ``[a, b)``,
aligned to the TracIn batch size, and the top-k proponents and opponents of each segment are
saved as soon as it is done, in ``<output_dir>/.partial/chunk-<c>/rows-<a>-<b>.pt``
(:func:`kgif._io.atomic_write_bytes`). A resumed run loads the finished segments, computes the
others, and merges all of them (:func:`kgif.influence.topk.merge_topk`).

Exact, bit for bit: every segment starts at a multiple of the batch size, so it streams exactly
the batches of an uninterrupted pass (the same shapes, the same rows, the same padding of the
last batch), and the top-k of a union is the top-k of its parts' top-k lists under the module's
tie rule (the same argument as :mod:`kgif.influence.distributed`'s batch-aligned shards).
``tests/jobs/test_segments.py`` checks the merged lists against one pass and against a float64
brute-force reference, and a resume that reuses saved segments.

A saved segment is reused only if it names this chunk's test triples, ``k``, its own row span
and the run's settings record (:func:`kgif.jobs.guard.settings_record`, as sha256); it is read
with ``torch.load(weights_only=True)`` and checked (keys, shapes, dtypes, row ids inside its
span or -1, finite scores where the id is valid). Anything else is logged and recomputed. The
chunk's folder is deleted once its triples are written.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import shutil
import time
from pathlib import Path

import torch
from torch import Tensor

from kgif._io import atomic_write_bytes, remove_stale_temporaries
from kgif.influence.topk import KMostInfluentialResults, merge_topk

__all__ = ["SEGMENT_EDGES", "SegmentStore", "chunk_folder", "record_digest",
           "remove_chunk_segments", "segment_spans", "segmented_top_influences"]

logger = logging.getLogger(__name__)

#: Default training rows per saved segment (rounded down to a multiple of the batch size):
#: about 10 minutes of 2 CPU cores at the seed shape (T = 750, 3 checkpoints), a few seconds on
#: FB15k-237.
SEGMENT_EDGES = 1 << 20

_FORMAT = "kgif-segment-1"


def segment_spans(n_rows: int, segment: int, batch_size: int) -> list[tuple[int, int]]:
    """Consecutive row spans ``[a, b)`` covering ``range(n_rows)``, each start a multiple of
    ``batch_size``.

    Args:
        n_rows: training rows (>= 0).
        segment: rows per span (>= 1), rounded down to a multiple of ``batch_size`` (at least
            one batch).
        batch_size: the TracIn batch size (>= 1).

    Returns:
        The spans in order; ``[]`` when ``n_rows`` is 0.

    Raises:
        ValueError: on ``segment < 1``, ``batch_size < 1`` or ``n_rows < 0``.
    """
    if segment < 1 or batch_size < 1 or n_rows < 0:
        raise ValueError(f"segment_spans: n_rows={n_rows}, segment={segment}, "
                         f"batch_size={batch_size}; expected n_rows >= 0 and the others >= 1")
    size = max(batch_size, segment // batch_size * batch_size)
    return [(a, min(a + size, n_rows)) for a in range(0, n_rows, size)]


def record_digest(record: dict) -> str:
    """sha256 of a settings record (canonical JSON), the key a saved segment must carry."""
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


class SegmentStore:
    """The saved segments of one chunk: ``<output_dir>/.partial/chunk-<c>/``.

    Args:
        output_dir: the run's folder.
        chunk: the chunk number.
        test_triples: (T, 3) int64, the chunk's test triples.
        k: proponents and opponents per test triple.
        digest: :func:`record_digest` of the run's settings record.
    """

    def __init__(self, output_dir: str | Path, chunk: int, test_triples: Tensor, k: int,
                 digest: str):
        self.folder = chunk_folder(output_dir, chunk)
        self.test = torch.as_tensor(test_triples, dtype=torch.long).cpu().contiguous()
        self.k, self.digest = k, digest

    def path(self, start: int, stop: int) -> Path:
        return self.folder / f"rows-{start:012d}-{stop:012d}.pt"

    def load(self, start: int, stop: int
             ) -> tuple[KMostInfluentialResults, KMostInfluentialResults] | None:
        """The saved (proponents, opponents) of rows ``[start, stop)``, or None (missing or not
        usable: logged)."""
        path = self.path(start, stop)
        if not path.is_file():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            return self._check(saved, start, stop)
        except Exception as err:  # noqa: BLE001 - any unreadable file is recomputed
            logger.warning("recomputing %s: %s", path, err)
            return None

    def _check(self, saved, start: int, stop: int
               ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
        if not isinstance(saved, dict) or saved.get("format") != _FORMAT:
            raise ValueError(f"not a {_FORMAT} file")
        if saved.get("digest") != self.digest:
            raise ValueError("saved under other settings")
        if saved.get("k") != self.k or saved.get("span") != [start, stop]:
            raise ValueError(f"k={saved.get('k')} span={saved.get('span')}; expected "
                             f"k={self.k} span={[start, stop]}")
        test = saved.get("test")
        if not isinstance(test, Tensor) or not torch.equal(test, self.test):
            raise ValueError("saved for other test triples")
        shape = (len(self.test), self.k)
        parts = []
        for side in ("proponents", "opponents"):
            ids, scores = saved.get(f"{side}.indices"), saved.get(f"{side}.scores")
            if not (isinstance(ids, Tensor) and isinstance(scores, Tensor)
                    and ids.dtype == torch.long and scores.is_floating_point()
                    and tuple(ids.shape) == shape and tuple(scores.shape) == shape):
                raise ValueError(f"{side}: expected int64 indices and float scores of shape "
                                 f"{shape}")
            valid = ids >= 0
            if bool(((ids < -1) | (valid & (ids < start)) | (ids >= stop)).any()):
                raise ValueError(f"{side}: row ids outside [{start}, {stop}) and not -1")
            if not bool(torch.isfinite(scores[valid]).all()):
                raise ValueError(f"{side}: non-finite scores")
            parts.append(KMostInfluentialResults(ids, scores))
        return parts[0], parts[1]

    def save(self, start: int, stop: int, proponents: KMostInfluentialResults,
             opponents: KMostInfluentialResults) -> Path:
        """Write one finished segment atomically."""
        buffer = io.BytesIO()
        torch.save({"format": _FORMAT, "digest": self.digest, "k": self.k,
                    "span": [start, stop], "test": self.test,
                    "proponents.indices": proponents.indices.cpu(),
                    "proponents.scores": proponents.influence_scores.cpu(),
                    "opponents.indices": opponents.indices.cpu(),
                    "opponents.scores": opponents.influence_scores.cpu()}, buffer)
        return atomic_write_bytes(self.path(start, stop), buffer.getvalue())

    def clear(self) -> None:
        """Delete the chunk's folder (after its triples are written)."""
        remove_chunk_segments(self.folder)


def chunk_folder(output_dir: str | Path, chunk: int) -> Path:
    """``<output_dir>/.partial/chunk-<c>``: where chunk c's segments are saved."""
    return Path(output_dir) / ".partial" / f"chunk-{chunk:05d}"


def remove_chunk_segments(folder: Path) -> None:
    """Delete one chunk's segment folder, and ``.partial`` when it is left empty."""
    shutil.rmtree(folder, ignore_errors=True)
    parent = folder.parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()


def _shift(result: KMostInfluentialResults, start: int) -> KMostInfluentialResults:
    """Segment-local rows to global rows (padding -1 kept)."""
    ids = torch.where(result.indices >= 0, result.indices + start, result.indices)
    return KMostInfluentialResults(ids, result.influence_scores)


def segmented_top_influences(tracin, test_triples: Tensor, k: int, store: SegmentStore,
                             segment: int = SEGMENT_EDGES
                             ) -> tuple[KMostInfluentialResults, KMostInfluentialResults]:
    """:meth:`kgif.influence.tracin.TracIn.top_influences` over all training edges, segment
    by segment, each finished segment saved in ``store`` and reused on resume.

    Args:
        tracin: a :class:`~kgif.influence.tracin.TracIn` (one process).
        test_triples: (T, 3) int64 test triples.
        k: proponents and opponents per test triple (>= 1).
        store: where the segments of this chunk are saved.
        segment: training rows per segment (rounded down to a multiple of the batch size).

    Returns:
        ``(proponents, opponents)``, (T, k) each, equal (indices and float scores, bit for
        bit) to ``tracin.top_influences(test_triples, k)``.

    Raises:
        ValueError: as :meth:`~kgif.influence.tracin.TracIn.top_influences`; OSError if a
            segment cannot be written.
    """
    train = tracin.training_edges()
    spans = segment_spans(len(train), segment, tracin.batch_size)
    if store.folder.is_dir():
        remove_stale_temporaries(store.folder)
    pros, opps = [], []
    for i, (a, b) in enumerate(spans):
        saved = store.load(a, b)
        if saved is None:
            started = time.perf_counter()
            pro, opp = tracin.top_influences(test_triples, k, train[a:b])
            saved = (_shift(pro, a), _shift(opp, a))
            store.save(a, b, *saved)
            logger.info("segment %d of %d (rows %d-%d of %d) in %.1f s, saved", i + 1,
                        len(spans), a, b, len(train), time.perf_counter() - started)
        else:
            logger.info("segment %d of %d (rows %d-%d) reused", i + 1, len(spans), a, b)
        pros.append(saved[0])
        opps.append(saved[1])
    return (merge_topk([_to(p, tracin.device) for p in pros], k, True),
            merge_topk([_to(p, tracin.device) for p in opps], k, False))


def _to(result: KMostInfluentialResults, device) -> KMostInfluentialResults:
    """A loaded (CPU) result on the TracIn's device (scores keep their saved dtype)."""
    return KMostInfluentialResults(result.indices.to(device), result.influence_scores.to(device))
