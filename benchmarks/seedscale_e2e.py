"""The seed project's whole job, end to end, resumable: ``explain --output-dir`` on the
synthetic seed-size graph of ``kgif.bench.wholegraph`` (1 M entities, 18.6 M training edges,
750 test triples, 3 random-weight checkpoints of the seed ConvE: d = 32 as 8 x 4, 32 channels),
exact, every parameter, no filter, top-10.

Usage (from the repository root; stop it at any time, rerun the same line to resume):

    flock /work/tmp/heavy.lock python benchmarks/seedscale_e2e.py --work /tmp/seedscale \\
        [--size full] [--max-seconds 3000]

``--size smoke`` is the seconds-long check (500 entities, 4,000 edges, 8 test triples).
Step 1 (once, skipped when present): write the graph as a TSV dataset folder and the
checkpoints. Step 2: run ``python -m kgif explain ... --output-dir WORK/out`` in a child,
poll the output folder once a second, and append one record per invocation to
``WORK/e2e.json``: wall and CPU seconds of the child, its peak RSS (``ru_maxrss`` of the
children), the load average before/after and at each change, and the finished test triples
and saved segments at each change. ``--max-seconds`` stops the child (SIGTERM) after that
long; the resumable batch path keeps every finished chunk and, inside a chunk, every finished
segment of ``--segment-edges`` training edges (``kgif.jobs.segments``; the full size is one
chunk of all 750 test triples, the fastest, saved every 1,048,576 edges). The totals over all
invocations are the measured job.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import torch

SIZES = {
    "smoke": {"num_entities": 500, "n_edges": 4_000, "n_test": 8, "chunk": 4, "batch": 256,
              "segment": 1024},
    "tenth": {"num_entities": 1_000_000, "n_edges": 1_860_000, "n_test": 750, "chunk": 750,
              "batch": 2048, "segment": 1 << 18},
    "full": {"num_entities": 1_000_000, "n_edges": 18_600_000, "n_test": 750, "chunk": 750,
             "batch": 2048, "segment": 1 << 20},
}


def _write_tsv(path: Path, triples) -> None:
    with open(path, "w") as out:
        out.writelines(f"e{h}\tr{r}\te{t}\n" for h, r, t in triples.tolist())


def prepare(work: Path, size: dict) -> None:
    """Dataset folder WORK/data, test file WORK/test.tsv and WORK/ckpts (once)."""
    from kgif.bench.wholegraph import seed_checkpoints, synthetic_graph
    from kgif.data.datasets import load_dataset
    from kgif.model.checkpoint import save_checkpoint

    if (work / "ckpts" / "done").exists():
        return
    graph = synthetic_graph(size["n_edges"], size["num_entities"], size["n_test"])
    seen = torch.zeros(graph.num_entities, dtype=torch.bool)
    seen[graph.training[:, 0]] = seen[graph.training[:, 2]] = True
    test = graph.testing[seen[graph.testing[:, 0]] & seen[graph.testing[:, 2]]]
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    _write_tsv(data / "train.txt", graph.training)
    _write_tsv(data / "valid.txt", test[:0])
    _write_tsv(data / "test.txt", test)  # test triples whose entities the training edges hold
    _write_tsv(work / "test.tsv", test)
    kg = load_dataset(data)
    (work / "ckpts").mkdir(exist_ok=True)
    run_id = uuid.uuid4().hex  # one synthetic "training run"
    for k, ckpt in enumerate(seed_checkpoints(kg.num_entities, kg.num_relations)):
        ckpt.entity_to_id, ckpt.relation_to_id = kg.entity_to_id, kg.relation_to_id
        ckpt.run_id = run_id
        save_checkpoint(ckpt, work / "ckpts" / f"checkpoint_{k + 1:04d}.pt")
    (work / "ckpts" / "done").write_text("")


def _finished(out: Path) -> int:
    """Test triples with a written explanation (one JSON each, besides the summaries)."""
    skip = {"summary.json", "explanations.json", "run.json"}
    return sum(1 for p in out.rglob("*.json") if p.name not in skip) if out.exists() else 0


def _segments(out: Path) -> int:
    """Saved segments of unfinished chunks (``kgif.jobs.segments``)."""
    return sum(1 for _ in (out / ".partial").rglob("rows-*.pt")) if out.exists() else 0


def run(work: Path, size: dict, max_seconds: float | None, python: str) -> dict:
    """One invocation of the explain child; returns its record."""
    out = work / "out"
    cmd = [python, "-m", "kgif", "explain", "--checkpoints", str(work / "ckpts"), "--dataset",
           str(work / "data"), "--test-file", str(work / "test.tsv"), "--top-k", "10",
           "--chunk-size", str(size["chunk"]), "--batch-size", str(size["batch"]),
           "--segment-edges", str(size["segment"]), "--output-dir", str(out), "--quiet",
           "--no-progress"]
    record = {"command": " ".join(cmd), "start": time.time(), "load_before": os.getloadavg(),
              "done_before": _finished(out), "segments_before": _segments(out), "chunks": []}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": os.getcwd()})
    done = (record["done_before"], record["segments_before"])
    while child.poll() is None:
        time.sleep(1.0)
        now = (_finished(out), _segments(out))
        if now != done:
            done = now
            record["chunks"].append({"t": time.time() - record["start"], "done": now[0],
                                     "segments": now[1], "load": os.getloadavg()})
        if max_seconds is not None and time.time() - record["start"] > max_seconds:
            child.send_signal(signal.SIGTERM)
            child.wait()
            record["stopped"] = True
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    record.update(returncode=child.returncode, wall_s=time.time() - record["start"],
                  cpu_user_s=after.ru_utime - before.ru_utime,
                  cpu_sys_s=after.ru_stime - before.ru_stime,
                  peak_rss_mib=after.ru_maxrss / 1024, load_after=os.getloadavg(),
                  done_after=_finished(out), complete=(out / "explanations.json").exists())
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--max-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    prepare(args.work, size)
    log_path = args.work / "e2e.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {"size": args.size,
                                                                       **size, "runs": []}
    if log["size"] != args.size:
        raise SystemExit(f"seedscale_e2e: {log_path} is a --size {log['size']} run, "
                         f"not {args.size}")
    log.setdefault("prepare_s", time.time() - t0)
    record = run(args.work, size, args.max_seconds, sys.executable)
    log["runs"].append(record)
    runs = log["runs"]
    log["total"] = {"wall_s": sum(r["wall_s"] for r in runs),
                    "cpu_s": sum(r["cpu_user_s"] + r["cpu_sys_s"] for r in runs),
                    "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                    "complete": record["complete"], "done": record["done_after"]}
    tmp = log_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(log, indent=1))
    tmp.replace(log_path)
    print(json.dumps(log["total"]))
    return 0 if record["returncode"] == 0 or record.get("stopped") else record["returncode"]


if __name__ == "__main__":
    sys.exit(main())
