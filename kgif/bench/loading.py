"""``loading``: wall time, lines/s and peak memory of reading label-TSV training files.

Cases (by preset, see :data:`CASES`): the bundled Hetionet training file (765,569 lines, gzip),
and generated files of random ``CURIE<TAB>predicate<TAB>CURIE`` lines shaped like the seed
project's ROBOKOP graph (200,000 entities, 64 predicates; 18.6 M lines in the ``full`` preset),
written to a temporary directory and removed afterwards. Each read builds the whole
:class:`kgif.data.graph.KnowledgeGraph` (vectorised reading, label-sorted ids, duplicate check) in a
fresh ``multiprocessing`` *spawn* child, so ``peak RSS`` (Linux ``VmHWM``) is that read's alone
and includes the interpreter, torch and the reader's imports (the ``baseline RSS`` row: the
child's resident set just before the read). ``reader`` names the fast reader used (pyarrow,
pandas or the line loop); its import is timed apart (``reader import``). On Hetionet the plain
line loop (the reference reader, used to locate errors) runs too, as the ratio's baseline.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kgif.bench.common import BenchSize, row, status_mib

SUITE = "loading"
#: Bench size name -> cases: ("hetionet", None) or ("synthetic", number of lines).
CASES = {
    "smoke": (("synthetic", 2_000),),
    "quick": (("hetionet", None), ("synthetic", 1_860_000)),
    "full": (("hetionet", None), ("synthetic", 18_600_000)),
}
SYNTHETIC_ENTITIES, SYNTHETIC_RELATIONS = 200_000, 64
_CHUNK = 500_000


def write_synthetic(path: Path, n_lines: int, seed: int = 0) -> None:
    """Write ``n_lines`` random label triples (plain TSV), chunk by chunk."""
    rng = np.random.default_rng(seed)
    ents = np.array([f"ROBO:{i:07d}" for i in range(SYNTHETIC_ENTITIES)], dtype=object)
    rels = np.array([f"biolink:predicate_{i}" for i in range(SYNTHETIC_RELATIONS)], dtype=object)
    with open(path, "w", encoding="utf-8") as f:
        for start in range(0, n_lines, _CHUNK):
            n = min(_CHUNK, n_lines - start)
            h = ents[rng.integers(0, len(ents), n)]
            r = rels[rng.integers(0, len(rels), n)]
            t = ents[rng.integers(0, len(ents), n)]
            f.write("\n".join(map("\t".join, zip(h, r, t, strict=True))) + "\n")


def measure_read(folder: str, line_loop: bool = False, core: bool = False) -> dict:
    """Child-process body: read the dataset folder once, report seconds and memory.

    The fast reader's module (pyarrow or pandas) is imported first and timed apart
    (``import_seconds``); ``line_loop=True`` reads with the plain line loop (the reference),
    ``core=True`` with the reader of a core install (no pyarrow, no pandas).
    """
    from kgif.data import datasets as data
    from kgif.data import tsv as labels

    start = time.perf_counter()
    readers: list[Callable[[Path], labels.EncodedTriples]] = (
        [] if line_loop else [labels._read_whole] if core else labels._fast_readers())
    for reader in readers:
        module = {"_read_arrow": "pyarrow.csv", "_read_pandas": "pandas"}.get(reader.__name__)
        if module:
            __import__(module)
    import_seconds = time.perf_counter() - start
    saved, labels._fast_readers = labels._fast_readers, lambda: readers
    try:
        base = status_mib("VmRSS")
        start = time.perf_counter()
        kg = data.read_tsv_dataset(folder, duplicates="keep")
        seconds = time.perf_counter() - start
    finally:
        labels._fast_readers = saved
    name = readers[0].__name__.removeprefix("_read_") if readers else "line loop"
    name = {"whole": "core install, whole-file split"}.get(name, name)
    return {"seconds": seconds, "lines": len(kg.training), "entities": kg.num_entities,
            "peak_rss_mib": status_mib("VmHWM"), "base_rss_mib": base, "reader": name,
            "import_seconds": import_seconds}


def _in_child(folder: Path, line_loop: bool = False, core: bool = False) -> dict:
    pool = multiprocessing.get_context("spawn").Pool(1)
    try:
        return pool.apply(measure_read, (str(folder), line_loop, core))
    finally:
        pool.close()
        pool.join()


LOOP = "kgif read_tsv_dataset (line loop)"


def _rows(case: str, result: dict, note: str = "", baseline: str | None = None) -> list[dict]:
    method = f"kgif read_tsv_dataset ({result['reader']})"
    extra = {"lines": result["lines"], "entities": result["entities"]}
    return [
        row(SUITE, case, method, "seconds", result["seconds"], "s", baseline=baseline,
            note=note, **extra),
        row(SUITE, case, method, "lines/s", result["lines"] / result["seconds"], "lines/s",
            baseline=baseline, **extra),
        row(SUITE, case, method, "reader import", result["import_seconds"], "s",
            note="import of pyarrow/pandas, paid once per process, not in seconds", **extra),
        row(SUITE, case, method, "peak RSS", result["peak_rss_mib"] or float("nan"), "MiB",
            note="VmHWM of the spawn child", **extra),
        row(SUITE, case, method, "baseline RSS", result["base_rss_mib"] or float("nan"), "MiB",
            note="child RSS before the read (interpreter + torch)", **extra),
    ]


def _hetionet(tmp: Path) -> tuple[str, Path, str]:
    from kgif.data.datasets import bundled_dir

    folder = tmp / "hetionet"
    folder.mkdir()
    (folder / "train.txt.gz").symlink_to(bundled_dir() / "hetionet" / "train.txt.gz")
    return "hetionet train (765,569 lines, gzip)", folder, "bundled copy"


def _synthetic(tmp: Path, n_lines: int) -> tuple[str, Path, str]:
    folder = tmp / f"synthetic-{n_lines}"
    folder.mkdir()
    start = time.perf_counter()
    write_synthetic(folder / "train.txt", n_lines)
    note = f"generated in {time.perf_counter() - start:.1f} s"
    return f"synthetic {n_lines:,} lines (plain)", folder, note


def run_loading(preset: BenchSize, device: str) -> list[dict]:
    """Rows for every case of the preset (``device`` is unused: reading is on the CPU)."""
    del device
    rows = []
    with tempfile.TemporaryDirectory(prefix="kgif-bench-loading-") as tmp:
        for kind, n_lines in CASES[preset.name]:
            case, folder, note = (_hetionet(Path(tmp)) if n_lines is None  # kind hetionet
                                  else _synthetic(Path(tmp), n_lines))
            if kind == "hetionet":  # the reference line loop, for the speed-up; a core install
                rows.extend(_rows(case, _in_child(folder, line_loop=True), note)[:2])
                rows.extend(_rows(case, _in_child(folder, core=True), note, baseline=LOOP))
            rows.extend(_rows(case, _in_child(folder), note,
                              baseline=LOOP if kind == "hetionet" else None))
    return rows
