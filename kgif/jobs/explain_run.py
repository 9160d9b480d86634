"""Whole-graph explain runs: many test triples, one JSON and CSV each, a summary, and resume.

:func:`explain_all` explains test triples in fixed **chunks** (triples ``[c*S, (c+1)*S)``, S =
``chunk_size``; a chunk's triples share one pass over the training edges) and writes, per test
triple, ``<stem>.json`` and ``<stem>.csv`` (and with paths ``<stem>.paths.json`` and
``<stem>.paths.csv``), where the stem is the zero-padded index and the sanitised labels, e.g.
``00007__m_08966__film_genre__m_05lf_``. Every file is written atomically
(:func:`kgif._io.atomic_write`, with the permissions the umask allows) and ``<stem>.json``
last, so a triple is complete iff all its files exist and are whole.

One writer per folder (:func:`kgif._lock.output_lock`): rank 0 holds an exclusive lock
(a :class:`filelock.FileLock` on ``<output_dir>/.kgif.mutex``; its pid in ``.kgif.lock``) for
the whole run; a second run on the same folder is refused with the first one's pid. The
operating system drops the lock when its holder dies, so a killed run never blocks the next.

Resume: run the same command again. Leftover temporary files of a killed run are deleted and the
settings are checked against ``run.json`` (:mod:`kgif.jobs.guard`), which records every setting that
changes the output: every field of ``tracin.settings``
(:class:`~kgif.influence.settings.TracInSettings`: objectives, normalisation, parameter subset,
method, batch size, dtype, model config, the checkpoints' learning rates and content digests,
relation repeats), the sha256 of each checkpoint file when known, the training edges, the
filters, path options, ``k``, chunk size, metadata and the test triples (count and sha256). A
resume that differs is refused with each differing setting, old and new. Every per-triple file
records the settings as well (:func:`kgif.jobs.guard.settings_record`), so a finished file of
other settings is refused even when ``run.json`` was deleted. The finished per-triple files are
then read **once** and checked (valid JSON with the expected keys, test triple and settings
record, CSV with the right header, row count and final newline); a damaged or truncated triple
is logged and its chunk recomputed **whole**, so each
triple is scored with the same batch of test triples as in an uninterrupted run and the
per-triple files come out byte for byte the same (they hold no times). The summary
(``summary.json`` / ``summary.csv``: each triple's status, top proponent, candidate count and
seconds) is kept in memory, updated from each finished chunk and rewritten after it;
``explanations.json`` / ``explanations.csv`` combine all triples once the run is complete (one
more pass over the files). Not part of the guard: the device and ``torch.compile`` (they change
float32 results only by rounding) and the number of ranks (shards are batch-aligned, so it does
not change them at all).

A chunk without a candidate filter is one pass over all training edges, hours at the seed
project's size; that pass is saved every ``segment_edges`` training rows
(``.partial/chunk-<c>/``, :mod:`kgif.jobs.segments`) and a killed run resumes inside the chunk,
with bit-identical results.

With several ranks (:mod:`kgif.influence.distributed`) every rank runs the chunk loop (the
scoring is a collective call) and rank 0 alone reads and writes the output folder.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from kgif._io import atomic_write, atomic_write_json, remove_stale_temporaries
from kgif._lock import output_lock
from kgif.data.graph import KnowledgeGraph
from kgif.explanation.explanation import Explanation, explain
from kgif.explanation.network import NETWORK_FORMATS, write_network
from kgif.explanation.paths import (
    DEFAULT_MAX_PATHS,
    RankedPaths,
    paths_to_json,
    rank_paths,
    write_paths_csv,
)
from kgif.explanation.tables import SUMMARY_FIELDS, summary_fields, to_json, write_csv
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.influence.distributed import Context, broadcast_object
from kgif.influence.tracin import TracIn
from kgif.jobs.guard import (
    RECORD_KEY,
    DamagedOutput,
    check_settings,
    read_finished,
    read_json,
    run_settings,
    settings_record,
    write_settings,
)
from kgif.jobs.segments import (
    SEGMENT_EDGES,
    SegmentStore,
    chunk_folder,
    record_digest,
    remove_chunk_segments,
    segmented_top_influences,
)

__all__ = ["SUMMARY_COLUMNS", "Chunk", "FilterOptions", "PathOptions", "RunOptions", "explain_all",
           "explain_chunks", "remove_partial_files", "sanitize", "triple_files", "triple_stem"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterOptions:
    """Per-test-triple candidate edges from :mod:`kgif.influence.candidates` (see its
    definitions)."""

    hops: int  # k of the k-hop intersection filter
    min_degree: int | None = None  # drop edges touching a non-test node of smaller degree
    max_path_length: int | None = None  # keep edges on head-tail walks of at most this length


@dataclass(frozen=True)
class PathOptions:
    """Head-tail paths ranked by TracIn (see :mod:`kgif.explanation.paths`)."""

    top: int = 10  # paths reported per test triple
    min_length: int = 2  # edges
    max_length: int = 3
    max_paths: int = DEFAULT_MAX_PATHS  # enumeration cap per test triple
    by: str = "sum"  # ranking key: "sum" or "mean" of the edges' TracIn scores


@dataclass(frozen=True)
class RunOptions:
    """Settings of a batch run; everything here goes into ``run.json`` and must match on
    resume."""

    k: int = 10  # proponents and opponents each
    chunk_size: int = 64  # test triples per pass over the training edges; the unit of resume
    self_influence: bool = True  # of the test triples and of every reported edge
    filters: FilterOptions | None = None  # None: every training edge is a candidate
    paths: PathOptions | None = None  # None: no paths
    metadata: dict = field(default_factory=dict)  # copied into every per-triple JSON
    # <stem>.png and <stem>.svg per triple (kgif.explanation.plot, needs kgif[plot])
    figures: bool = False
    export: tuple[str, ...] = ()  # network files per triple: "cytoscape" (.cyjs), "graphml"

    def __post_init__(self):
        if self.k < 1 or self.chunk_size < 1:
            raise ValueError(f"RunOptions: k={self.k} and chunk_size={self.chunk_size} must be "
                             "positive")
        object.__setattr__(self, "export", tuple(self.export))  # frozen; lists from JSON
        unknown = sorted(set(self.export) - set(NETWORK_FORMATS))
        if unknown:
            raise ValueError(f"RunOptions: export={unknown} unknown; expected some of "
                             f"{sorted(NETWORK_FORMATS)}")


_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


def sanitize(label: str, max_chars: int = 40) -> str:
    """A file-name-safe form of a label: runs of other characters than letters, digits, ``.``
    and ``-`` become ``_``; at most ``max_chars`` characters (the index keeps stems unique)."""
    return _UNSAFE.sub("_", label).strip("_.")[:max_chars] or "_"


def triple_stem(index: int, triple: tuple[int, int, int], kg: KnowledgeGraph) -> str:
    """``00007__<head>__<relation>__<tail>``: zero-padded index and sanitised labels."""
    h, r, t = triple
    labels = (kg.entity_label(h), kg.relation_label(r), kg.entity_label(t))
    return "__".join([f"{index:05d}"] + [sanitize(x) for x in labels])


def triple_files(output_dir: str | os.PathLike, stem: str, paths: bool, figures: bool = False,
                 export: tuple[str, ...] = ()) -> dict[str, Path]:
    """The files of one test triple; ``"json"`` is written last (the completion marker)."""
    out = Path(output_dir)
    files = {"csv": out / f"{stem}.csv"}
    if paths:
        files |= {"paths_csv": out / f"{stem}.paths.csv", "paths_json": out / f"{stem}.paths.json"}
    if figures:
        files |= {"png": out / f"{stem}.png", "svg": out / f"{stem}.svg"}
    files |= {fmt: out / f"{stem}{NETWORK_FORMATS[fmt]}" for fmt in export}
    return files | {"json": out / f"{stem}.json"}


def _files_of(out: Path, stem: str, options: RunOptions) -> dict[str, Path]:
    return triple_files(out, stem, options.paths is not None, options.figures, options.export)


def remove_partial_files(output_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that :func:`kgif._io.atomic_write` leaves when a process is
    killed mid-write (``.<name>.kgif-<8 hex digits>.tmp``); returns them."""
    leftovers = sorted(remove_stale_temporaries(output_dir))
    if leftovers:
        logger.info("removed %d partial files from %s", len(leftovers), output_dir)
    return leftovers


@dataclass
class Chunk:
    """Results of one chunk of test triples (rank 0 has self-influences and paths)."""

    indices: list[int]
    explanations: list[Explanation]
    paths: list[RankedPaths | None]
    candidates: list[int]  # candidate edges per test triple
    seconds: float


def _adjacency(cache: dict, tracin) -> Adjacency:
    """The training graph's adjacency, built on first use."""
    if "adj" not in cache:
        n_entities = int(tracin.checkpoints[0].params["entity_embedding"].shape[0])
        cache["adj"] = Adjacency.from_triples(tracin.training_edges(), n_entities)
    return cache["adj"]


def _candidates(cache: dict, tracin, test: Tensor, filters: FilterOptions | None):
    if filters is None:
        return None
    return candidate_edges_batch(_adjacency(cache, tracin), test, filters.hops,
                                 filters.min_degree, filters.max_path_length)


def _paths(cache: dict, tracin, test: Tensor, options: PathOptions) -> list[RankedPaths]:
    plain = getattr(tracin, "tracin", tracin)  # the unsharded TracIn: paths run on one rank
    return [rank_paths(plain, row, _adjacency(cache, tracin), min_length=options.min_length,
                       max_length=options.max_length, max_paths=options.max_paths,
                       top=options.top, by=options.by) for row in test]


def explain_chunks(tracin, test_triples: Tensor, options: RunOptions, chunks: list[int],
                   context: Context | None = None,
                   stores: Callable[[int, Tensor], SegmentStore] | None = None,
                   segment_edges: int = SEGMENT_EDGES) -> Iterator[Chunk]:
    """Explain the given chunks of ``test_triples`` in order (a collective call with ranks).

    Args:
        tracin: a :class:`~kgif.influence.tracin.TracIn` or a
            :class:`~kgif.influence.distributed.ShardedTracIn`.
        test_triples: (T, 3) int64 test triples (base relation ids).
        options: the run settings.
        chunks: chunk numbers to compute (chunk c is triples ``[c*S, (c+1)*S)``).
        context: this process's rank (default: a single process); self-influences and paths
            only on rank 0.
        stores: ``stores(c, test)`` gives chunk c's :class:`~kgif.jobs.segments.SegmentStore`;
            given (one process, a :class:`~kgif.influence.tracin.TracIn`, no candidate filter,
            more than ``segment_edges`` training edges), each chunk's pass is saved segment by
            segment and resumes inside the chunk (:mod:`kgif.jobs.segments`; bit-identical).
        segment_edges: training rows per saved segment (0: one unsaved pass).

    Yields:
        One :class:`Chunk` per chunk number.
    """
    context = context or Context()
    adj_cache: dict = {}
    size = options.chunk_size
    n_train = len(tracin.training_edges())
    for c in chunks:
        indices = list(range(c * size, min((c + 1) * size, len(test_triples))))
        test = test_triples[indices]
        start = time.perf_counter()
        candidates = _candidates(adj_cache, tracin, test, options.filters)
        top_lists = None
        if (stores is not None and candidates is None and isinstance(tracin, TracIn)
                and not context.distributed and 0 < segment_edges < n_train):
            top_lists = segmented_top_influences(tracin, test, options.k, stores(c, test),
                                                 segment_edges)
        explanations = explain(tracin, test, options.k, candidates=candidates,
                               self_influence=options.self_influence and context.is_main,
                               top_lists=top_lists)
        paths: list[RankedPaths | None] = [None] * len(indices)
        if options.paths is not None and context.is_main:
            paths = [*_paths(adj_cache, tracin, test, options.paths)]
        counts = [n_train] * len(indices) if candidates is None else [len(x) for x in candidates]
        yield Chunk(indices, explanations, paths, counts, time.perf_counter() - start)


# --------------------------------------------------------------------------- summary


#: Columns of ``summary.csv`` (and keys of ``summary.json`` rows); ``*_label`` are labels, as
#: in every kgif output (docs/outputs.md); ``top_proponent``: its three labels, tab-separated.
SUMMARY_COLUMNS = ("index", "head_label", "relation_label", "tail_label", "status",
                   "top_proponent", "top_proponent_score", "candidates", "seconds", "file",
                   *SUMMARY_FIELDS)


def _pending_row(index: int, stem: str) -> dict:
    return dict.fromkeys(SUMMARY_COLUMNS) | {"index": index, "status": "pending",
                                             "file": f"{stem}.json"}


def _done_row(index: int, stem: str, document: dict, seconds: float | None) -> dict:
    """A summary row from a per-triple JSON document (read back or freshly made)."""
    result = document["results"][0]
    pro = [x for x in result["influences"] if x["kind"] == "proponent"]
    row = _pending_row(index, stem)
    row |= {"head_label": result.get("test_head_label"),
            "relation_label": result.get("test_relation_label"),
            "tail_label": result.get("test_tail_label"), "status": "done",
            "candidates": document["metadata"].get("candidates"), "seconds": seconds}
    row |= summary_fields(result)
    if pro:
        row |= {"top_proponent": "\t".join(pro[0][f"train_{x}_label"]
                                           for x in ("head", "relation", "tail")),
                "top_proponent_score": pro[0]["influence"]}
    return row


def _previous_seconds(out: Path) -> dict[str, float]:
    """Per-triple seconds of earlier runs, from ``summary.json`` (ignored if damaged)."""
    path = out / "summary.json"
    if not path.is_file():
        return {}
    try:
        rows = json.loads(path.read_text(encoding="utf-8")).get("triples", [])
        return {Path(r["file"]).stem: float(r["seconds"]) for r in rows
                if r.get("seconds") is not None}
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError) as err:
        logger.warning("ignoring the damaged %s (%s); earlier seconds are lost", path, err)
        return {}


def _resume_rows(out: Path, stems: list[str], triples: list[list[int]], options: RunOptions,
                 record: dict) -> tuple[list[dict], list[int]]:
    """Read the finished files once: the summary rows and the chunks still to compute.

    Raises:
        ForeignOutput: a finished file records other settings than ``record``.
    """
    seconds = _previous_seconds(out)
    rows, todo = [], set()
    for i, stem in enumerate(stems):
        files = _files_of(out, stem, options)
        if not files["json"].is_file():  # never started: not worth a warning
            rows.append(_pending_row(i, stem))
            todo.add(i // options.chunk_size)
            continue
        try:
            document = read_finished(files, i, triples[i], record)
            rows.append(_done_row(i, stem, document, seconds.get(stem)))
        except DamagedOutput as err:
            logger.warning("explain_all: recomputing test triple %d: %s", i, err)
            rows.append(_pending_row(i, stem))
            todo.add(i // options.chunk_size)
    return rows, sorted(todo)


def _write_summary(out: Path, rows: list[dict]) -> None:
    done = sum(r["status"] == "done" for r in rows)
    atomic_write_json(out / "summary.json", {"total": len(rows), "done": done, "triples": rows})
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out / "summary.csv",
                 lambda tmp: Path(tmp).write_text(text.getvalue(), encoding="utf-8", newline=""))


def _write_combined(out: Path, stems: list[str], options: RunOptions, provenance: dict) -> None:
    """``explanations.json`` / ``.csv``: every triple's results in one file (as
    :func:`kgif.explanation.tables.write_json` / ``write_csv`` would write them)."""
    files = [_files_of(out, s, options) for s in stems]
    results = [read_json(f["json"])["results"][0] for f in files]
    atomic_write_json(out / "explanations.json", {
        "metadata": {**options.metadata, **provenance}, "results": results})

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            for n, f in enumerate(files):
                with open(f["csv"], newline="", encoding="utf-8") as part:
                    lines = part.readlines()  # newline="": the csv module's \r\n kept
                handle.writelines(lines if n == 0 else lines[1:])

    atomic_write(out / "explanations.csv", write)


# --------------------------------------------------------------------------- batch runs


def _prepare(out: Path, test_triples: Tensor, stems: list[str], settings: dict,
             record: dict, options: RunOptions, context: Context
             ) -> tuple[list[dict], list[int]]:
    """Rank 0 cleans up, checks settings and reads the finished files; every rank gets the
    pending chunks."""
    message: str | None = None
    rows: list[dict] = []
    todo: list[int] = []
    if context.is_main:
        try:
            remove_partial_files(out)
            first = check_settings(out, settings)
            rows, todo = _resume_rows(out, stems, test_triples.tolist(), options, record)
            if first:  # after the finished files passed: a refused folder is left as it was
                write_settings(out, settings)
        except (ValueError, OSError) as error:
            message = str(error)
    message, todo = broadcast_object((message, todo), context)
    if message is not None:
        raise ValueError(message)
    return rows, todo


def _write_triple(out: Path, stem: str, index: int, chunk: Chunk, j: int, kg: KnowledgeGraph,
                  train: Tensor, options: RunOptions, provenance: dict) -> dict:
    """Write one triple's files (``<stem>.json`` last, each JSON's metadata with the
    ``provenance``); returns its JSON document."""
    files = _files_of(out, stem, options)
    ex = chunk.explanations[j]
    write_csv(files["csv"], [ex], kg)
    meta = {**options.metadata, "index": index, "candidates": chunk.candidates[j], **provenance}
    ranked = chunk.paths[j] if options.paths is not None else None
    if ranked is not None:
        write_paths_csv(files["paths_csv"], ranked, kg, train)
        atomic_write_json(files["paths_json"], paths_to_json(ranked, kg, train, meta))
    if options.figures:
        from kgif.explanation.plot import write_figures

        write_figures(ex, kg, out / stem, ranked, k=options.k, train_triples=train)
    for fmt in options.export:
        write_network(ex, kg, out / stem, fmt, k=options.k, paths=ranked, train_triples=train)
    document = to_json([ex], kg, meta)
    atomic_write_json(files["json"], document)
    return document


def _remove_finished_segments(out: Path, todo: list[int]) -> None:
    """Delete saved segments of chunks that are no longer to do (a kill after the chunk's
    files were written and before its segments were deleted)."""
    partial = out / ".partial"
    if not partial.is_dir():
        return
    pending = {chunk_folder(out, c).name for c in todo}
    for folder in partial.glob("chunk-*"):
        if folder.name not in pending:
            remove_chunk_segments(folder)


@contextmanager
def _rank0_lock(out: Path, context: Context):
    """The folder's writer lock on rank 0 (created first); a no-op on other ranks."""
    if not context.is_main:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        yield


def explain_all(tracin, kg: KnowledgeGraph, test_triples: Tensor, output_dir: str | os.PathLike,
                options: RunOptions | None = None, *, context: Context | None = None,
                on_chunk: Callable[[Chunk], None] | None = None,
                checkpoint_files: Sequence[str | os.PathLike] | None = None,
                segment_edges: int = SEGMENT_EDGES) -> list[dict]:
    """Explain every test triple into ``output_dir``, resuming a killed run (module docstring).

    Args:
        tracin: a :class:`~kgif.influence.tracin.TracIn` (or
            :class:`~kgif.influence.distributed.ShardedTracIn` on every rank of a process group).
        kg: the graph, for labels and names.
        test_triples: (T, 3) int64 test triples (base relation ids).
        output_dir: folder of the run (created).
        options: the run settings (default :class:`RunOptions`).
        context: this process's rank (default: a single process); only rank 0 touches the
            folder.
        on_chunk: called on rank 0 with each freshly computed chunk (e.g. to print it).
        checkpoint_files: the files ``tracin``'s checkpoints came from; their sha256 joins the
            settings guard (the checkpoints' tensors are hashed in any case).
        segment_edges: without a candidate filter, a chunk's pass over the training edges is
            saved every ``segment_edges`` rows in ``output_dir/.partial/`` and a killed run
            resumes inside the chunk (:mod:`kgif.jobs.segments`; the output is bit-identical
            whatever the value, so it is not a setting of the guard); 0: off.

    Returns:
        The summary rows (rank 0; other ranks get an empty list).

    Raises:
        ValueError: if another run holds the folder's lock, or the folder holds a run with
            other settings, in ``run.json`` or in a finished per-triple file (the message lists
            each differing setting, old -> new).
    """
    options, context = options or RunOptions(), context or Context()
    out = Path(output_dir)
    test_triples = torch.as_tensor(test_triples, dtype=torch.long)
    stems = [triple_stem(i, tuple(row), kg) for i, row in enumerate(test_triples.tolist())]
    settings = run_settings(tracin, test_triples, options, checkpoint_files) \
        if context.is_main else {}
    record = settings_record(settings)
    # every JSON file names its TracIn settings in full, and carries the record checked on resume
    provenance = {"tracin": tracin.settings.as_dict(), RECORD_KEY: record}
    with _rank0_lock(out, context):
        rows, todo = _prepare(out, test_triples, stems, settings, record, options, context)
        if context.is_main:
            _remove_finished_segments(out, todo)
        logger.info("explain_all: %d test triples, %d of %d chunks to compute", len(stems),
                    len(todo), -(-len(stems) // options.chunk_size))
        train = tracin.training_edges()
        digest = record_digest(record)

        def stores(c: int, test: Tensor) -> SegmentStore:
            return SegmentStore(out, c, test, options.k, digest)

        for chunk in explain_chunks(tracin, test_triples, options, todo, context, stores,
                                    segment_edges):
            if not context.is_main:
                continue
            for j, i in enumerate(chunk.indices):
                document = _write_triple(out, stems[i], i, chunk, j, kg, train, options,
                                         provenance)
                rows[i] = _done_row(i, stems[i], document, chunk.seconds / len(chunk.indices))
            _write_summary(out, rows)
            remove_chunk_segments(chunk_folder(out, chunk.indices[0] // options.chunk_size))
            if on_chunk is not None:
                on_chunk(chunk)
        if not context.is_main:
            return []
        _write_summary(out, rows)
        _write_combined(out, stems, options, provenance)
        return rows
