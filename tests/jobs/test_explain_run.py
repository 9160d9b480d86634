"""Batch explain runs: per-triple files, summary, filters, and resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import (
    _env,
    _kg,
    _per_triple,
    _run_args,
    _write_run_inputs,
    graph_checkpoints,
    kill_when,
)
from tolerances import ATOL64, RTOL64

from kgif._lock import LOCK_NAME, MUTEX_NAME, output_lock
from kgif.cli import main
from kgif.explanation.explanation import explain
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.influence.tracin import TracIn
from kgif.jobs.explain_run import (
    FilterOptions,
    PathOptions,
    RunOptions,
    explain_all,
    remove_partial_files,
    sanitize,
    triple_files,
    triple_stem,
)
from kgif.jobs.guard import settings_record
from kgif.model.checkpoint import save_checkpoint


def test_stems_are_safe_and_unique():
    kg = _kg()
    assert sanitize("/m/08966") == "m_08966"
    assert sanitize("a b:c/d.e-f") == "a_b_c_d.e-f"
    assert sanitize("///") == "_" and len(sanitize("x" * 100)) == 40
    triple = (kg.resolve_entity("ent/0"), kg.resolve_relation("is a"), kg.resolve_entity("ent/1"))
    stem = triple_stem(3, triple, kg)
    assert stem == "00003__ent_0__is_a__ent_1"
    assert "/" not in stem and " " not in stem


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= ATOL64 + RTOL64 * abs(b)


def test_explain_all_matches_explain_and_writes_summary(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16)
    options = RunOptions(k=3, chunk_size=3, metadata={"note": "x"})
    rows = explain_all(tracin, kg, kg.testing, tmp_path, options)
    reference = explain(tracin, kg.testing, 3)
    assert [r["status"] for r in rows] == ["done"] * len(kg.testing)
    for i, ex in enumerate(reference):
        stem = triple_stem(i, ex.triple, kg)
        document = json.loads((tmp_path / f"{stem}.json").read_text())
        record = settings_record(json.loads((tmp_path / "run.json").read_text()))
        assert document["metadata"] == {"note": "x", "index": i, "candidates": len(kg.training),
                                        "tracin": tracin.settings.as_dict(),
                                        "run_settings": record,
                                        "graph_fingerprint": kg.fingerprint}
        got = document["results"][0]["influences"]
        assert [x["train_index"] for x in got] == [x.train_index for x in ex.influences]
        assert all(_close(x["influence"], y.influence) for x, y in zip(got, ex.influences,
                                                                         strict=True))
        assert rows[i]["top_proponent_score"] == got[0]["influence"]
        assert rows[i]["head_label"] == kg.entity_label(ex.triple[0])
    combined = json.loads((tmp_path / "explanations.json").read_text())
    assert len(combined["results"]) == len(kg.testing)
    with open(tmp_path / "explanations.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(kg.testing) * 6
    with open(tmp_path / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert [s["status"] for s in summary] == ["done"] * len(kg.testing)
    assert all(float(s["seconds"]) >= 0 for s in summary)


def test_filters_and_paths(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16)
    options = RunOptions(k=2, chunk_size=4, filters=FilterOptions(1, max_path_length=2),
                         paths=PathOptions(top=3, min_length=1))
    explain_all(tracin, kg, kg.testing, tmp_path, options)
    adj = Adjacency.from_triples(kg.training, kg.num_entities)
    candidates = candidate_edges_batch(adj, kg.testing, 1, None, 2)
    reference = explain(tracin, kg.testing, 2, candidates=candidates)
    for i, ex in enumerate(reference):
        files = triple_files(tmp_path, triple_stem(i, ex.triple, kg), paths=True)
        document = json.loads(files["json"].read_text())
        assert document["metadata"]["candidates"] == len(candidates[i])
        got = [x["train_index"] for x in document["results"][0]["influences"]]
        assert got == [x.train_index for x in ex.influences]
        assert set(got) <= set(candidates[i].tolist())
        paths = json.loads(files["paths_json"].read_text())
        assert len(paths["paths"]) <= 3 and paths["test"]["head"] == ex.triple[0]


def test_settings_mismatch_and_partial_files(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    with pytest.raises(ValueError, match="other settings"):
        explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=3))
    stale = tmp_path / ".00000__x.json.kgif-abc12345.tmp"
    stale.write_text("{")
    assert remove_partial_files(tmp_path) == [stale] and not stale.exists()


def test_resume_refused_naming_each_differing_setting(tmp_path):
    kg = _kg()
    checkpoints = graph_checkpoints(kg)
    tracin = TracIn(checkpoints, kg.training)
    explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    with pytest.raises(ValueError, match=r"(?s)chunk_size: 64 -> 5.*\n  k: 2 -> 3"):
        explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=3, chunk_size=5))
    with pytest.raises(ValueError, match=r"test_triples\.count: 2 -> 3"):
        explain_all(tracin, kg, kg.testing[:3], tmp_path, RunOptions(k=2))
    other = TracIn(checkpoints, kg.training, train_objective="pointwise_bce", method="generic")
    with pytest.raises(ValueError, match=r"(?s)method: \"structured\" -> \"generic\".*"
                                         r"train_objective\.name: \"score\" -> "
                                         r"\"pointwise_bce\""):
        explain_all(other, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    changed = graph_checkpoints(kg)  # same epochs, rates and shapes; one weight differs
    changed[1].params["fc.bias"][0] += 1e-12
    with pytest.raises(ValueError, match=r"tracin\.checkpoint_digests\[1\]: ") as info:
        explain_all(TracIn(changed, kg.training), kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    assert "checkpoint_digests[0]" not in str(info.value)


def test_run_json_of_another_format_or_a_nan_rate_is_refused(tmp_path):
    kg = _kg()
    (tmp_path / "run.json").write_text(json.dumps({"options": {}, "test_triples": []}))
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    with pytest.raises(ValueError, match="written by another kgif version"):
        explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    checkpoints = graph_checkpoints(kg)
    checkpoints[1].learning_rate = float("nan")
    with pytest.raises(ValueError, match=r"checkpoint of epoch 2 has learning rate nan"):
        explain_all(TracIn(checkpoints, kg.training), kg, kg.testing[:2], tmp_path / "new")
    assert not (tmp_path / "new" / "run.json").exists()


def test_resume_refuses_changed_checkpoint_files(tmp_path):
    kg = _kg()
    files = []
    for ckpt in graph_checkpoints(kg):
        files.append(save_checkpoint(ckpt, tmp_path / "ckpts" / f"epoch_{ckpt.epoch}.pt"))
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    out = tmp_path / "out"
    explain_all(tracin, kg, kg.testing[:2], out, RunOptions(k=2), checkpoint_files=files)
    files[0].write_bytes(files[0].read_bytes() + b"x")
    with pytest.raises(ValueError, match=r"checkpoint_files\.sha256\[0\]: \"[0-9a-f]{64}\" -> "):
        explain_all(tracin, kg, kg.testing[:2], out, RunOptions(k=2), checkpoint_files=files)


def _damage(files: dict[str, Path], how: str) -> None:
    if how == "csv cut short":
        text = files["csv"].read_text()
        files["csv"].write_text(text[: len(text) // 2])
    elif how == "invalid json":
        files["json"].write_text(files["json"].read_text()[:-20])
    elif how == "missing key":
        document = json.loads(files["json"].read_text())
        del document["results"][0]["influences"]
        files["json"].write_text(json.dumps(document))
    elif how == "csv row dropped":
        lines = files["csv"].read_text().splitlines(keepends=True)
        files["csv"].write_text("".join(lines[:-1]))
    elif how == "paths json empty":
        files["paths_json"].write_text("")


def test_damaged_outputs_are_logged_and_recomputed(tmp_path, caplog):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16)
    options = RunOptions(k=2, chunk_size=2, paths=PathOptions(top=2, min_length=1))
    explain_all(tracin, kg, kg.testing, tmp_path, options)
    clean = _per_triple(tmp_path)
    damage = {0: "csv cut short", 2: "invalid json", 3: "missing key", 5: "csv row dropped",
              6: "paths json empty"}
    stems = [triple_stem(i, tuple(row), kg) for i, row in enumerate(kg.testing.tolist())]
    for i, how in damage.items():
        _damage(triple_files(tmp_path, stems[i], paths=True), how)
    computed = []
    with caplog.at_level("WARNING", logger="kgif.jobs.explain_run"):
        rows = explain_all(tracin, kg, kg.testing, tmp_path, options,
                           on_chunk=lambda chunk: computed.append(chunk.indices))
    assert computed == [[0, 1], [2, 3], [4, 5], [6]]  # every damaged triple's chunk, whole
    warned = {r.getMessage().split(": ")[1] for r in caplog.records  # not INFO a CLI test
              if r.name == "kgif.jobs.explain_run" and r.levelname == "WARNING"}  # let through
    assert warned == {f"recomputing test triple {i}" for i in damage}
    assert _per_triple(tmp_path) == clean
    assert [r["status"] for r in rows] == ["done"] * len(kg.testing)


def test_summary_is_kept_without_rereading_finished_files(tmp_path, monkeypatch):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16)
    options = RunOptions(k=2, chunk_size=2)
    stems = [triple_stem(i, tuple(row), kg) for i, row in enumerate(kg.testing.tolist())]
    explain_all(tracin, kg, kg.testing, tmp_path, options)
    expected = json.loads((tmp_path / "summary.json").read_text())["triples"]
    for stem in stems[2:]:  # chunks 1..3 to recompute; chunk 0 (2 triples) finished
        for path in triple_files(tmp_path, stem, paths=False).values():
            path.unlink()
    reads: list[str] = []
    read_text = Path.read_text

    def counting(self, *args, **kwargs):
        if re.fullmatch(r"\d{5}__.*\.json", self.name):
            reads.append(self.name)
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    at_chunk: list[int] = []
    rows = explain_all(tracin, kg, kg.testing, tmp_path, options,
                       on_chunk=lambda chunk: at_chunk.append(len(reads)))
    assert at_chunk == [2, 2, 2]  # the two finished files, read once at the start
    assert len(reads) == 2 + len(stems)  # and every file once more for explanations.json
    for row, old in zip(rows, expected, strict=True):
        assert {k: v for k, v in row.items() if k != "seconds"} == \
            {k: v for k, v in old.items() if k != "seconds"}


def test_second_writer_is_refused_and_stale_lock_taken_over(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    with output_lock(tmp_path) as lock:
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(ValueError, match=rf"in use by another kgif run \(pid {os.getpid()}"):
            explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text("999999999\n")  # a killed run's leftover: no flock held
    rows = explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    assert [r["status"] for r in rows] == ["done", "done"]


def test_output_files_follow_the_umask(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    old = os.umask(0o027)
    try:
        explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    finally:
        os.umask(old)
    # the empty lock file is filelock's: before filelock 4 it is always 0o644
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir() if p.name != MUTEX_NAME}
    assert modes and set(modes.values()) == {0o640}, modes




def _command(tmp_path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "kgif", "explain", "--checkpoints", str(tmp_path / "ckpts"),
            "--dataset", str(tmp_path / "data"), "--test-file", str(tmp_path / "tests.tsv"),
            "--top-k", "3", "--chunk-size", "2", "--batch-size", "32", "--paths", "2",
            "--output-dir", str(out), "--no-progress", "--quiet"]




def _done(out: Path) -> list[Path]:
    """The completion markers (``<stem>.json``) present in ``out``."""
    return [p for p in out.glob("[0-9]*.json") if not p.name.endswith(".paths.json")]




def test_resume_after_sigkill_is_byte_identical(tmp_path):
    n_test = 24
    _write_run_inputs(tmp_path, n_test)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    kill_when(_command(tmp_path, killed), tmp_path, lambda: bool(_done(killed)),
              "per-triple file")
    done_before = len(_done(killed))
    assert 1 <= done_before < n_test, "the run finished before it could be killed"
    (killed / ".00005__x.csv.kgif-0000ffff.tmp").write_text("partial")  # as a kill mid-write leaves
    for out in (killed, clean):
        result = subprocess.run(_command(tmp_path, out), env=_env(), cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    resumed, expected = _per_triple(killed), _per_triple(clean)
    assert len(expected) == 4 * n_test  # json, csv, paths.json, paths.csv
    assert resumed.keys() == expected.keys()
    assert all(resumed[name] == expected[name] for name in expected)
    assert (killed / "explanations.json").read_bytes() == (clean / "explanations.json").read_bytes()
    assert not list(killed.glob(".*.tmp"))
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["done"] == n_test


def test_cli_option_errors(tmp_path, capsys):
    kg = _write_run_inputs(tmp_path, 2)
    del kg
    base = ["explain", "--checkpoints", str(tmp_path / "ckpts"), "--dataset",
            str(tmp_path / "data"), "--test-file", str(tmp_path / "tests.tsv"), "--no-progress"]
    assert main(base + ["--min-degree", "2"]) == 2
    assert "--filter-hops" in capsys.readouterr().err
    assert main(base + ["--top-k", "2", "--max-path-length", "2", "--paths", "1",
                        "--path-lengths", "1", "3"]) == 0
    printed = capsys.readouterr().out
    assert "proponents:" in printed and "paths " in printed
    assert "2 learning rates: min 0.1, median 0.15, max 0.2, sum 0.3" in printed


def test_cli_refuses_a_resume_after_checkpoint_files_were_replaced(tmp_path, capsys):
    kg = _write_run_inputs(tmp_path, 3)
    out = tmp_path / "out"
    args = _run_args(tmp_path, out)
    assert main(args) == 0
    before = _per_triple(out)
    replaced = graph_checkpoints(kg)[1]  # same epoch and rate, other weights
    replaced.params["entity_embedding"].mul_(1.5)
    save_checkpoint(replaced, tmp_path / "ckpts" / "checkpoint_epoch_0002.pt")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "checkpoint_files.sha256[1]" in err and "tracin.checkpoint_digests[1]" in err
    assert "sha256[0]" not in err and "digests[0]" not in err
    assert _per_triple(out) == before  # nothing mixed in


def test_lock_of_a_live_process_refuses_and_of_a_killed_one_is_taken_over(tmp_path):
    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from kgif._lock import output_lock\n"
         f"with output_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n"
         "    time.sleep(120)"], env=_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ValueError, match=rf"in use by another kgif run \(pid {holder.pid}"):
            explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    assert (tmp_path / LOCK_NAME).read_text().strip() == str(holder.pid)  # left behind
    rows = explain_all(tracin, kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert not (tmp_path / LOCK_NAME).exists()


def test_figures_and_network_exports_per_triple(tmp_path):
    """--figures / --export: one PNG, SVG, .cyjs and .graphml per triple, part of the completion
    check (a missing figure makes the triple recompute) and of the settings guard."""
    import networkx as nx

    kg = _kg()
    tracin = TracIn(graph_checkpoints(kg), kg.training, batch_size=16, show_progress=False)
    options = RunOptions(k=2, chunk_size=4, paths=PathOptions(top=2, min_length=1),
                         figures=True, export=("cytoscape", "graphml"))
    explain_all(tracin, kg, kg.testing[:3], tmp_path, options)
    for i, row in enumerate(kg.testing[:3].tolist()):
        files = triple_files(tmp_path, triple_stem(i, tuple(row), kg), True, True,
                             ("cytoscape", "graphml"))
        assert files["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert files["svg"].read_text().lstrip().startswith("<?xml")
        cy = json.loads(files["cytoscape"].read_text())
        names = {n["data"]["id"]: n["data"]["name"] for n in cy["elements"]["nodes"]}
        test_edges = [e["data"] for e in cy["elements"]["edges"] if e["data"]["role"] == "test"]
        assert [(names[e["source"]], names[e["target"]]) for e in test_edges] == \
            [(kg.entity_name(row[0]), kg.entity_name(row[2]))]
        graph = nx.read_graphml(files["graphml"])
        assert graph.number_of_nodes() == len(cy["elements"]["nodes"])
    files["png"].unlink()
    calls = []
    explain_all(tracin, kg, kg.testing[:3], tmp_path, options, on_chunk=calls.append)
    assert files["png"].is_file() and len(calls) == 1  # only the damaged chunk recomputed
    with pytest.raises(ValueError, match="figures: true -> false"):
        explain_all(tracin, kg, kg.testing[:3], tmp_path,
                    RunOptions(k=2, chunk_size=4, paths=PathOptions(top=2, min_length=1),
                               export=("cytoscape", "graphml")))
    with pytest.raises(ValueError, match="export=.*unknown"):
        RunOptions(export=("gexf",))
