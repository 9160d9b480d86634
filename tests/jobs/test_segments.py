"""Resume inside a chunk (kgif.jobs.segments): segment-by-segment passes are exact, saved and
reused, and a damaged segment is recomputed."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import (
    _env,
    _kg,
    _per_triple,
    _run_args,
    _write_run_inputs,
    graph_checkpoints,
    kill_when,
)
from reference import reference_influence
from tolerances import ATOL64, RTOL64

from kgif.cli import main
from kgif.influence.tracin import TracIn
from kgif.jobs.explain_run import RunOptions, explain_all
from kgif.jobs.segments import SegmentStore, segment_spans, segmented_top_influences


def test_segment_spans_are_batch_aligned_and_cover_every_row():
    assert segment_spans(10, 4, 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]  # 4 -> one batch of 3
    assert segment_spans(10, 7, 3) == [(0, 6), (6, 10)]
    assert segment_spans(10, 1, 3) == [(0, 3), (3, 6), (6, 9), (9, 10)]  # at least one batch
    assert segment_spans(6, 100, 3) == [(0, 6)]
    assert segment_spans(0, 4, 3) == []
    with pytest.raises(ValueError, match="segment=0"):
        segment_spans(10, 0, 3)


def _store(tmp_path, test, k, digest="d"):
    return SegmentStore(tmp_path, 0, test, k, digest)


def _brute_top(scores: torch.Tensor, k: int, largest: bool):
    """Top-k of each row by (score, then smaller row first), sorted."""
    out = []
    for row in scores.tolist():
        order = sorted(range(len(row)), key=lambda i: (-row[i] if largest else row[i], i))
        out.append(order[:k])
    return torch.tensor(out)


@pytest.mark.parametrize("segment", [8, 16, 20, 1000])
def test_float64_segments_match_the_brute_force_reference(tmp_path, segment):
    kg = _kg()
    ckpts = graph_checkpoints(kg)  # float64
    tracin = TracIn(ckpts, kg.training, batch_size=8, show_progress=False)
    test = kg.testing[:4]
    pro, opp = segmented_top_influences(tracin, test, 3, _store(tmp_path, test, 3), segment)
    reference = reference_influence(ckpts, test, kg.training, "score")
    for result, largest in ((pro, True), (opp, False)):
        expected = _brute_top(reference, 3, largest)
        assert torch.equal(result.indices, expected)
        torch.testing.assert_close(result.influence_scores, reference.gather(1, expected),
                                   rtol=RTOL64, atol=ATOL64)


@pytest.mark.parametrize("segment", [16, 24, 33])
def test_float32_segments_are_bit_identical_to_one_pass(tmp_path, segment):
    kg = _kg(n_ent=20, n_train=150, n_test=5)
    tracin = TracIn(graph_checkpoints(kg, torch.float32), kg.training, batch_size=8,
                    show_progress=False)
    test = kg.testing
    one = tracin.top_influences(test, 4)
    got = segmented_top_influences(tracin, test, 4, _store(tmp_path, test, 4), segment)
    for a, b in zip(got, one, strict=True):
        assert torch.equal(a.indices, b.indices)
        assert torch.equal(a.influence_scores, b.influence_scores)


class _Failing:
    """Makes ``tracin.top_influences`` raise after ``allowed`` calls (a kill mid-chunk) and
    counts the calls; ``tracin`` stays a :class:`TracIn`."""

    def __init__(self, tracin: TracIn, allowed: int):
        self.allowed, self.calls = allowed, 0
        self.original = TracIn.top_influences.__get__(tracin)
        tracin.top_influences = self  # an instance attribute shadows the method

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls > self.allowed:
            raise KeyboardInterrupt("killed")
        return self.original(*args, **kwargs)


def test_a_stopped_pass_resumes_from_its_saved_segments(tmp_path):
    kg = _kg(n_ent=20, n_train=150, n_test=5)
    tracin = TracIn(graph_checkpoints(kg, torch.float32), kg.training, batch_size=8,
                    show_progress=False)
    test, n_spans = kg.testing, len(segment_spans(len(tracin.training_edges()), 40, 8))
    _Failing(tracin, allowed=2)
    with pytest.raises(KeyboardInterrupt):
        segmented_top_influences(tracin, test, 4, _store(tmp_path, test, 4), 40)
    assert len(list(_store(tmp_path, test, 4).folder.glob("rows-*.pt"))) == 2
    again = _Failing(tracin, allowed=100)
    got = segmented_top_influences(tracin, test, 4, _store(tmp_path, test, 4), 40)
    assert again.calls == n_spans - 2  # the two saved segments were reused
    one = again.original(test, 4)
    for a, b in zip(got, one, strict=True):
        assert torch.equal(a.indices, b.indices)
        assert torch.equal(a.influence_scores, b.influence_scores)


def test_unusable_segments_are_recomputed_with_a_warning(tmp_path, caplog):
    kg = _kg(n_ent=20, n_train=150, n_test=5)
    tracin = TracIn(graph_checkpoints(kg, torch.float32), kg.training, batch_size=8,
                    show_progress=False)
    test = kg.testing
    store = _store(tmp_path, test, 4)
    expected = segmented_top_influences(tracin, test, 4, store, 40)
    files = sorted(store.folder.glob("rows-*.pt"))
    files[0].write_bytes(b"not a torch file")
    saved = torch.load(files[1], weights_only=True)
    saved["proponents.indices"][0, 0] = 10_000  # a row outside its span
    torch.save(saved, files[1])
    saved = torch.load(files[2], weights_only=True)
    saved["digest"] = "other settings"
    torch.save(saved, files[2])
    counting = _Failing(tracin, allowed=100)
    with caplog.at_level(logging.WARNING, logger="kgif.jobs.segments"):
        got = segmented_top_influences(tracin, test, 4, store, 40)
    assert counting.calls == 3
    text = caplog.text
    assert "outside [" in text and "other settings" in text and str(files[0]) in text
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a.indices, b.indices)
        assert torch.equal(a.influence_scores, b.influence_scores)
    other_k = SegmentStore(tmp_path, 0, test, 3, "d")  # another k: nothing reused
    counting = _Failing(tracin, allowed=100)
    segmented_top_influences(tracin, test, 3, other_k, 40)
    assert counting.calls == len(files)


def test_explain_all_with_segments_writes_the_same_files_and_cleans_up(tmp_path):
    kg = _kg(n_ent=20, n_train=150, n_test=5)
    tracin = TracIn(graph_checkpoints(kg, torch.float32), kg.training, batch_size=8,
                    show_progress=False)
    options = RunOptions(k=3, chunk_size=2)
    explain_all(tracin, kg, kg.testing, tmp_path / "plain", options, segment_edges=0)
    _Failing(tracin, allowed=5)  # chunk 0 (4 spans of 48 rows) and 1 of chunk 1
    with pytest.raises(KeyboardInterrupt):
        explain_all(tracin, kg, kg.testing, tmp_path / "cut", options, segment_edges=48)
    assert len(list((tmp_path / "cut" / ".partial" / "chunk-00001").glob("*.pt"))) == 1
    assert not (tmp_path / "cut" / ".partial" / "chunk-00000").exists()  # written, cleared
    resumed = _Failing(tracin, allowed=100)
    explain_all(tracin, kg, kg.testing, tmp_path / "cut", options, segment_edges=48)
    assert resumed.calls == 3 + 4  # chunk 1's three other spans, chunk 2's four
    assert not (tmp_path / "cut" / ".partial").exists()
    assert _per_triple(tmp_path / "cut") == _per_triple(tmp_path / "plain")


def test_cli_segment_edges_gives_byte_identical_files(tmp_path, capsys):
    _write_run_inputs(tmp_path, 3)
    assert main(_run_args(tmp_path, tmp_path / "b") + ["--segment-edges", "300",
                                                       "--batch-size", "128"]) == 0
    assert main(_run_args(tmp_path, tmp_path / "c") + ["--batch-size", "128"]) == 0
    assert _per_triple(tmp_path / "b") == _per_triple(tmp_path / "c")
    assert len(_per_triple(tmp_path / "b")) == 2 * 3  # json and csv of each test triple
    assert not (tmp_path / "b" / ".partial").exists()
    with pytest.raises(SystemExit) as exit_info:
        main(_run_args(tmp_path, tmp_path / "d") + ["--segment-edges", "-1"])
    assert exit_info.value.code == 2
    assert "argument --segment-edges: expected an integer >= 0, got -1" in capsys.readouterr().err


def test_a_run_killed_inside_its_only_chunk_resumes_there_byte_identical(tmp_path):
    """SIGKILL after some segments of the one chunk are saved: the rerun reuses them and
    writes the same bytes as an uninterrupted run."""
    _write_run_inputs(tmp_path, 24)

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "kgif", "explain", "--checkpoints", str(tmp_path / "ckpts"),
                "--dataset", str(tmp_path / "data"), "--test-file", str(tmp_path / "tests.tsv"),
                "--top-k", "3", "--chunk-size", "24", "--batch-size", "8", "--segment-edges",
                "8", "--output-dir", str(out), "--no-progress", "--quiet"]

    killed, clean = tmp_path / "killed", tmp_path / "clean"
    kill_when(command(killed), tmp_path,
              lambda: len(list(killed.glob(".partial/chunk-00000/rows-*.pt"))) >= 3,
              "third saved segment", poll=0.002)
    saved = len(list(killed.glob(".partial/chunk-00000/rows-*.pt")))
    assert not list(killed.glob("[0-9]*.json")), "the chunk finished before it could be killed"
    runs = {}
    for out in (killed, clean):
        runs[out] = subprocess.run(command(out), env=_env(), cwd=tmp_path,
                                   capture_output=True, text=True, timeout=300)
        assert runs[out].returncode == 0, runs[out].stderr
    assert runs[killed].stderr.count(") reused") == saved  # files appear whole (atomic)
    assert ") reused" not in runs[clean].stderr
    assert _per_triple(killed) == _per_triple(clean)
    assert len(_per_triple(clean)) == 2 * 24
    assert not (killed / ".partial").exists()


def test_segments_left_by_a_kill_after_the_chunk_was_written_are_removed(tmp_path):
    kg = _kg(n_ent=20, n_train=150, n_test=5)
    tracin = TracIn(graph_checkpoints(kg, torch.float32), kg.training, batch_size=8,
                    show_progress=False)
    options = RunOptions(k=3, chunk_size=2)
    explain_all(tracin, kg, kg.testing, tmp_path, options, segment_edges=48)
    before = _per_triple(tmp_path)
    stale = tmp_path / ".partial" / "chunk-00001"
    stale.mkdir(parents=True)
    (stale / "rows-000000000000-000000000048.pt").write_bytes(b"left behind")
    counting = _Failing(tracin, allowed=100)
    explain_all(tracin, kg, kg.testing, tmp_path, options, segment_edges=48)
    assert counting.calls == 0  # every chunk was finished: nothing recomputed
    assert not (tmp_path / ".partial").exists()
    assert _per_triple(tmp_path) == before
