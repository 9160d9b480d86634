"""Tests for kgif._io: the one atomic writer (umask, crash safety, clean-up of its temporaries)."""

from __future__ import annotations

import math
import os
import stat
import sys

import pytest
import torch

from kgif._io import (
    TMP_PATTERN,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temporaries,
)
from kgif.data.pykeen_folder import write_pykeen_triples
from kgif.data.tsv import write_label_triples

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@pytest.fixture
def umask():
    """Set the process umask for one test, restoring it afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _writers(folder):
    """Every kind of atomic write kgif does, one file each."""
    atomic_write_text(folder / "a.txt", "x")
    atomic_write_json(folder / "b.json", {"x": 1})
    write_label_triples(folder / "c.txt", [("a", "r", "b")])
    write_label_triples(folder / "d.txt.gz", [("a", "r", "b")])
    write_pykeen_triples(folder / "pk", {"a": 0, "b": 1}, {"r": 0}, torch.tensor([[0, 0, 1]]))
    return sorted(p for p in folder.rglob("*") if p.is_file())


@posix_only
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600)])
def test_new_files_get_the_umask_mode(tmp_path, umask, mask, expected):
    umask(mask)
    files = _writers(tmp_path)
    assert len(files) == 8  # a, b, c, d and the four files of the PyKEEN folder
    assert {p.name: oct(_mode(p)) for p in files} == {p.name: oct(expected) for p in files}


def test_crash_mid_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "result.txt"
    path.write_text("old", encoding="utf-8")

    def crash(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("half of the new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, crash)
    assert path.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.txt"]


def test_label_writer_refusal_leaves_the_old_file(tmp_path):
    path = tmp_path / "train.txt.gz"
    write_label_triples(path, [("a", "r", "b")])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="triple 1 has an unwritable label"):
        write_label_triples(path, [("a", "r", "c"), ("a", "r", "")])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.txt.gz"]


def test_temporary_names_match_the_pattern(tmp_path):
    seen = []
    atomic_write(tmp_path / "x.csv", lambda tmp: (seen.append(os.path.basename(tmp)),
                                                  open(tmp, "w").close()))
    assert TMP_PATTERN.fullmatch(seen[0])
    assert seen[0].startswith(".x.csv.kgif-") and seen[0].endswith(".tmp")


def test_cleanup_removes_only_kgif_temporaries(tmp_path):
    ours = [tmp_path / ".best.pt.kgif-0a1b2c3d.tmp", tmp_path / ".a.b.json.kgif-ffffffff.tmp"]
    users = [tmp_path / name for name in ("notes.tmp", ".x.tmp", ".a.kgif-xyz.tmp",
                                          ".a.kgif-0a1b2c3d.tmp.bak", "a.kgif-0a1b2c3d.tmp")]
    for p in ours + users:
        p.write_text("x", encoding="utf-8")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(ours)
    assert sorted(p for p in tmp_path.iterdir()) == sorted(users)
    assert remove_stale_temporaries(tmp_path / "missing") == []


@pytest.mark.parametrize(("document", "where"), [
    ({"a": [1.0, math.nan]}, r"\$\.a\[1\]"),
    ([{"x": 0.5}, {"x": -math.inf}], r"\$\[1\]\.x"),
    ({"rows": ({"value": math.inf},)}, r"\$\.rows\[0\]\.value"),
])
def test_json_refuses_nan_naming_the_key_path(tmp_path, document, where):
    path = tmp_path / "x.json"
    with pytest.raises(ValueError, match=rf"x\.json: {where} is not finite"):
        atomic_write_json(path, document)
    assert list(tmp_path.iterdir()) == []


def test_json_finite_document_round_trips(tmp_path):
    path = atomic_write_json(tmp_path / "x.json", {"a": [1, 2.5, None], "b": {"c": True}})
    assert path.read_text(encoding="utf-8") == (
        '{\n  "a": [\n    1,\n    2.5,\n    null\n  ],\n  "b": {\n    "c": true\n  }\n}\n')


def test_prediction_writer_refuses_nan(tmp_path):
    from kgif.explanation.tables import write_predictions

    with pytest.raises(ValueError, match=r"\$\.predictions\[0\]\.logit is not finite"):
        write_predictions(tmp_path / "p.json", [{"query": 0, "logit": math.nan}])
    assert list(tmp_path.iterdir()) == []


def test_bench_json_writes_null_for_not_measured():
    from kgif.bench.__main__ import json_ready

    assert json_ready({"value": math.nan, "rows": (1, math.inf, "x"), "dtype": torch.float32}) \
        == {"value": None, "rows": [1, None, "x"], "dtype": "torch.float32"}
