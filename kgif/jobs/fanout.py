"""An explain run fanned out over separate jobs (the Snakemake workflow, docs/workflow.md).

:func:`write_test_chunks` picks the test triples (a dataset's test split, optionally one
relation and at most ``limit`` triples) and writes them, by label, into ``n`` chunk files of
consecutive triples, one per ``explain --output-dir`` job, and the ``(head, relation, ?)``
queries of those triples for ``predict --file``. Each job is an ordinary resumable batch run
(:mod:`kgif.jobs.explain_run`). :func:`merge_explain_runs` then copies the chunk folders'
per-triple files into one folder with one numbering (the index prefix of each stem becomes the
triple's position in the whole list) and combines their ``explanations.json`` / ``.csv``, so
``python -m kgif report`` reads the merged folder like a single run's.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from kgif._io import atomic_write, atomic_write_json
from kgif.data.graph import KnowledgeGraph
from kgif.data.tsv import write_label_triples

logger = logging.getLogger(__name__)

__all__ = ["merge_explain_runs", "split_evenly", "test_triple_labels", "write_test_chunks"]

#: Files of a finished explain folder that describe the whole folder, not one test triple.
_RUN_FILES = {"run.json", "summary.json", "summary.csv", "explanations.json",
              "explanations.csv", ".kgif.lock"}
_INDEX_DIGITS = 5  # kgif.jobs.explain_run.triple_stem: f"{index:05d}__..."


def test_triple_labels(kg: KnowledgeGraph, relation: str | None = None,
                       limit: int | None = None) -> list[tuple[str, str, str]]:
    """The test-split triples to explain, by label, in split order.

    Args:
        kg: the dataset.
        relation: keep only this relation's triples (label or id), or None for all.
        limit: at most this many triples (the first ones), or None for all.

    Returns:
        ``(head, relation, tail)`` labels.

    Raises:
        ValueError: an unknown relation, ``limit < 1``, or no test triple left.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"test_triple_labels: limit={limit} must be at least 1")
    test = kg.testing
    if relation is not None:
        test = test[test[:, 1] == kg.resolve_relation(relation)]
    rows = test[:limit].tolist()
    if not rows:
        raise ValueError(f"test_triple_labels: {kg.name or 'the dataset'} has no test triples"
                         + (f" of relation {relation!r}" if relation is not None else ""))
    return [(kg.entity_label(h), kg.relation_label(r), kg.entity_label(t)) for h, r, t in rows]


def split_evenly(items: list, n: int) -> list[list]:
    """``items`` cut into ``n`` runs of consecutive items whose lengths differ by at most one
    (the first ``len(items) % n`` runs one longer).

    Raises:
        ValueError: ``n < 1`` or more parts than items (a chunk job needs a triple).
    """
    if n < 1 or n > len(items):
        raise ValueError(f"split_evenly: cannot cut {len(items)} test triples into {n} chunks "
                         "(expected 1 <= chunks <= triples)")
    size, extra = divmod(len(items), n)
    bounds = [0]
    for i in range(n):
        bounds.append(bounds[-1] + size + (i < extra))
    return [items[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def write_test_chunks(kg: KnowledgeGraph, chunk_files: list[str | os.PathLike],
                      queries_file: str | os.PathLike, relation: str | None = None,
                      limit: int | None = None) -> list[tuple[str, str, str]]:
    """Write the test triples into ``len(chunk_files)`` chunk files and their queries.

    Args:
        kg: the dataset.
        chunk_files: one headerless ``head<TAB>relation<TAB>tail`` file per chunk
            (:func:`kgif.data.tsv.write_label_triples`), in order.
        queries_file: ``head<TAB>relation<TAB>?`` per distinct (head, relation) of the triples,
            the tail queries ``python -m kgif predict --file`` reads.
        relation, limit: which test triples (:func:`test_triple_labels`).

    Returns:
        All chosen triples, in chunk order.

    Raises:
        ValueError: see :func:`test_triple_labels` and :func:`split_evenly`.
    """
    triples = test_triple_labels(kg, relation, limit)
    for path, part in zip(chunk_files, split_evenly(triples, len(chunk_files)), strict=True):
        write_label_triples(path, part)
    queries = dict.fromkeys((h, r) for h, r, _ in triples)
    text = "".join(f"{h}\t{r}\t?\n" for h, r in queries)
    atomic_write(queries_file, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return triples


def _finished_stems(folder: Path) -> list[str]:
    """The per-triple stems of a complete explain folder, in index order.

    Raises:
        ValueError: the folder has no complete ``summary.json`` (a chunk job that did not
            finish).
    """
    path = folder / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"merge_explain_runs: cannot read {path}: {error}") from None
    if summary.get("done") != summary.get("total") or not (folder / "explanations.json").is_file():
        raise ValueError(f"merge_explain_runs: {folder} is incomplete ({summary.get('done')} of "
                         f"{summary.get('total')} test triples done); rerun its explain job")
    return [Path(row["file"]).stem for row in summary["triples"]]


def _copy_triple(source: Path, stem: str, target: Path, new_stem: str) -> int:
    """Copy every file of one test triple (``<stem>.json``, ``.csv``, ``.paths.json``,
    figures, network exports) under its new stem; returns how many."""
    files = [p for p in source.iterdir() if p.name.startswith(stem + ".")
             and p.name not in _RUN_FILES]
    for path in files:
        shutil.copyfile(path, target / (new_stem + path.name[len(stem):]))
    return len(files)


def _combine_csv(sources: list[Path], target: Path) -> None:
    """Concatenate CSV files that share one header (kept once; line endings kept)."""
    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            for n, path in enumerate(sources):
                with open(path, newline="", encoding="utf-8") as part:
                    lines = part.readlines()
                handle.writelines(lines if n == 0 else lines[1:])

    atomic_write(target, write)


def merge_explain_runs(folders: list[str | os.PathLike], output_dir: str | os.PathLike) -> Path:
    """Merge complete chunk folders of ``explain --output-dir`` into one folder.

    The per-triple files are copied with their index prefix renumbered to the triple's
    position over all folders in order (``00001__a__r__b`` of the second folder of three
    triples each becomes ``00004__a__r__b``); ``explanations.json`` (metadata of the first
    folder plus ``"chunks"``: the source folders) and ``explanations.csv`` combine them all.
    The merged folder is built beside ``output_dir`` and then moved into its place, replacing
    an earlier merge whole (no stale triple is left behind).

    Args:
        folders: the chunk folders, in chunk order.
        output_dir: the merged folder.

    Returns:
        ``output_dir`` as a Path.

    Raises:
        ValueError: no folder given, or a folder that is not a complete explain run.
    """
    sources = [Path(f) for f in folders]
    if not sources:
        raise ValueError("merge_explain_runs: no chunk folders given")
    out = Path(output_dir)
    building = out.with_name(out.name + ".merging")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    results: list = []
    metadata: dict = {}  # the first folder's
    offset = 0
    for folder in sources:
        stems = _finished_stems(folder)
        for local, stem in enumerate(stems):
            _copy_triple(folder, stem, building, f"{offset + local:0{_INDEX_DIGITS}d}"
                         + stem[_INDEX_DIGITS:])
        combined = json.loads((folder / "explanations.json").read_text(encoding="utf-8"))
        metadata = metadata or combined["metadata"]
        results += combined["results"]
        offset += len(stems)
    atomic_write_json(building / "explanations.json",
                      {"metadata": {**metadata, "chunks": [str(f) for f in sources]},
                       "results": results})
    _combine_csv([f / "explanations.csv" for f in sources], building / "explanations.csv")
    shutil.rmtree(out, ignore_errors=True)
    building.rename(out)
    logger.info("merge_explain_runs: %d test triples of %d folders -> %s", offset, len(sources),
                out)
    return out
