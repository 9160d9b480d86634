"""Tests for kgif.data.tsv and the dataset readers on damaged or unusual text input.

The fast (pyarrow / pandas) readers are checked against the plain line loop, and every damaged
input must give a ValueError that names the file (and the line where known).
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import random
from pathlib import Path

import pytest

from kgif.data import tsv as labels
from kgif.data.build import from_label_triples
from kgif.data.datasets import read_tsv_dataset
from kgif.data.tsv import EncodedTriples, read_label_triples

HAS_PANDAS = importlib.util.find_spec("pandas") is not None
HAS_ARROW = importlib.util.find_spec("pyarrow") is not None
ROWS = [("netherlands", "militaryalliance", "uk"), ("egypt", "intergovorgs3", "usa"),
        ("uk", "militaryalliance", "usa")]


def _write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _tsv(rows) -> bytes:
    return "".join("\t".join(r) + "\n" for r in rows).encode("utf-8")


def _reference(path: Path) -> list[tuple[str, str, str]]:
    """Plain reading: split lines on \\n, drop \\r, skip blank lines, split on tabs."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        text = f.read().decode("utf-8")
    out = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.strip():
            h, r, t = line.split("\t")
            out.append((h, r, t))
    return out


# ------------------------------------------------------------------ fast readers vs the loop


def _random_rows(seed: int, n: int = 400) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    words = ["a", "b b", "Ä", "σ", "x ", "ü-1", "Compound::DB0001", "日本", "e,quote\"d", "#c"]
    return [(rng.choice(words), rng.choice(words[:4]) + "_r", rng.choice(words))
            for _ in range(n)]


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
@pytest.mark.parametrize("seed", [0, 1])
def test_fast_reader_equals_plain_reading(tmp_path: Path, suffix: str, seed: int) -> None:
    rows = _random_rows(seed)
    body = _tsv(rows).replace(b"\n", b"\r\n", 5) + b"\n\n"  # some CRLF, trailing blank lines
    path = _write_bytes(tmp_path / f"train{suffix}", body)
    assert read_label_triples(path) == _reference(path)


@pytest.mark.parametrize("reader", [
    pytest.param("_read_arrow", marks=pytest.mark.skipif(not HAS_ARROW, reason="no pyarrow")),
    pytest.param("_read_pandas", marks=pytest.mark.skipif(not HAS_PANDAS, reason="no pandas")),
    "_read_whole",
    "_read_loop",
])
def test_each_reader_equals_plain_reading(tmp_path: Path, reader: str) -> None:
    path = _write_bytes(tmp_path / "train.txt.gz", _tsv(_random_rows(3)))
    read = getattr(labels, reader)
    enc = read(path, "t") if reader == "_read_loop" else read(path)
    assert enc.labels() == _reference(path)


def test_label_sorted_ids_as_from_label_triples(tmp_path: Path) -> None:
    rows = _random_rows(4)
    path = _write_bytes(tmp_path / "d" / "train.txt", _tsv(rows))
    kg = read_tsv_dataset(path.parent, duplicates="keep")
    ref = from_label_triples(rows, duplicates="keep")
    assert kg.entity_to_id == ref.entity_to_id == {
        e: i for i, e in enumerate(sorted({x for h, _, t in rows for x in (h, t)}))}
    assert kg.relation_to_id == ref.relation_to_id
    assert kg.training.tolist() == ref.training.tolist()
    assert kg.training.tolist() == [[ref.entity_to_id[h], ref.relation_to_id[r],
                                     ref.entity_to_id[t]] for h, r, t in rows]


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
@pytest.mark.parametrize(("lines", "message"), [
    (["a\tr\tb", "a\tr\tb\tc"], r"line 2 of .*train\.txt(\.gz)? has 4 columns, expected 3"),
    (["a\tr\tb", "", "a\tr"], r"line 3 of .*train\.txt(\.gz)? has 2 columns, expected 3"),
    (["a\tr\tb", "a\t \tb"], r"line 2 of .*train\.txt(\.gz)? has an empty field"),
    (["a\tr\tb", "a\t\tb"], r"line 2 of .*train\.txt(\.gz)? has an empty field"),
])
@pytest.mark.parametrize("core_install", [False, True])
def test_malformed_lines_are_named_through_the_fast_path(tmp_path: Path, suffix: str,
                                                         lines: list[str], message: str,
                                                         core_install: bool, monkeypatch) -> None:
    if core_install:  # no pyarrow, no pandas: the whole-file reader in front of the line loop
        monkeypatch.setattr(labels, "_fast_readers", lambda: [labels._read_whole])
    path = _write_bytes(tmp_path / f"train{suffix}", ("\n".join(lines) + "\n").encode())
    with pytest.raises(ValueError, match=message):
        read_label_triples(path)


@pytest.mark.parametrize("body", [b"a\tr\tb\r\nc\tr\td\n", b"a\tr\tb\n\nc\tr\td",
                                  b"a\tr\tb\tx\nc\td\n", b""])
def test_whole_file_reader_refuses_what_the_line_loop_must_handle(tmp_path: Path,
                                                                    body: bytes) -> None:
    """CRLF, blank lines and uneven tabs (even when the total tab count is right) go to the
    line loop; the whole-file reader never guesses."""
    path = _write_bytes(tmp_path / "train.txt", body)
    if not body:
        assert len(labels._read_whole(path)) == 0
        return
    with pytest.raises(ValueError):
        labels._read_whole(path)


# ------------------------------------------------------------------ damaged files


def test_truncated_gzip_names_the_file(tmp_path: Path) -> None:
    data = gzip.compress(_tsv(_random_rows(0, 3000)))
    path = tmp_path / "train.txt.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"train\.txt\.gz is a damaged or truncated gzip"):
        read_label_triples(path)


def test_corrupt_gzip_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train.txt.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"train\.txt\.gz is a damaged or truncated gzip"):
        read_label_triples(path)


def test_not_gzip_at_all_names_the_file(tmp_path: Path) -> None:
    path = _write_bytes(tmp_path / "x" / "train.txt", _tsv(ROWS))
    (tmp_path / "train.txt.gz").write_bytes(path.read_bytes())  # plain text named .gz
    with pytest.raises(ValueError, match=r"train\.txt\.gz is a damaged or truncated gzip"):
        read_label_triples(tmp_path / "train.txt.gz")


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_non_utf8_names_file_and_line(tmp_path: Path, suffix: str) -> None:
    body = _tsv(ROWS) + "caf\u00e9\tr\tb\n".encode("latin-1")
    path = _write_bytes(tmp_path / f"train{suffix}", body)
    with pytest.raises(ValueError, match=r"line 4 of .*train\.txt(\.gz)? is not valid UTF-8"):
        read_label_triples(path)


def test_damaged_node_table_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "g"
    _write_bytes(folder / "train.txt", _tsv(ROWS))
    data = gzip.compress(b"id\tname\tkind\n" + b"uk\tUnited Kingdom\tCountry\n" * 5000)
    (folder / "entities.tsv.gz").write_bytes(data[:-20])
    with pytest.raises(ValueError, match=r"entities\.tsv\.gz is a damaged or truncated gzip"):
        read_tsv_dataset(folder)


# ------------------------------------------------------------------ BOM, header, duplicates


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz"])
def test_bom_is_stripped(tmp_path: Path, suffix: str) -> None:
    path = _write_bytes(tmp_path / "d" / f"train{suffix}", b"\xef\xbb\xbf" + _tsv(ROWS))
    assert read_label_triples(path)[0] == ROWS[0]
    kg = read_tsv_dataset(path.parent)
    assert "netherlands" in kg.entity_to_id and kg.num_entities == 4
    assert not any(label.startswith("\ufeff") for label in kg.entity_to_id)


def test_bom_on_a_label_that_recurs_maps_to_one_entity() -> None:
    enc = EncodedTriples.from_labels([("\ufeffuk", "r", "usa"), ("uk", "r", "egypt")])
    kg = from_label_triples(enc.strip_bom().labels())
    assert kg.num_entities == 3


@pytest.mark.parametrize("header", ["head\trelation\ttail", "subject\tpredicate\tobject",
                                    "source\tedge\ttarget", "Head\tRelation\tTail"])
def test_header_line_is_skipped_and_logged(tmp_path: Path, header: str,
                                           caplog: pytest.LogCaptureFixture) -> None:
    path = _write_bytes(tmp_path / "train.txt", (header + "\n").encode() + _tsv(ROWS))
    with caplog.at_level(logging.WARNING, logger="kgif.data.tsv"):
        assert read_label_triples(path) == ROWS
    assert "skipped header line" in caplog.text and str(path) in caplog.text


def test_a_triple_that_only_looks_like_words_is_not_a_header(tmp_path: Path) -> None:
    rows = [("head", "of_state", "tail"), *ROWS]
    path = _write_bytes(tmp_path / "train.txt", _tsv(rows))
    assert read_label_triples(path) == rows


def test_duplicates_dropped_by_default_and_reported(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    rows = [ROWS[0], ROWS[1], ROWS[0], ROWS[2], ROWS[0]]
    path = _write_bytes(tmp_path / "d" / "train.txt", _tsv(rows))
    with caplog.at_level(logging.WARNING, logger="kgif.data.datasets"):
        kg = read_tsv_dataset(path.parent)
    assert "dropped 2 repeated training triples of 5" in caplog.text
    ent, rel = kg.entity_to_id, kg.relation_to_id
    assert kg.training.tolist() == [[ent[h], rel[r], ent[t]] for h, r, t in ROWS]  # first kept


def test_duplicates_keep_and_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [ROWS[0], ROWS[1], ROWS[0]]
    with caplog.at_level(logging.WARNING, logger="kgif.data.datasets"):
        kg = from_label_triples(rows, duplicates="keep")
    assert len(kg.training) == 3 and "kept 1 repeated" in caplog.text
    with pytest.raises(ValueError, match=r"1 training triples repeat.*netherlands"):
        from_label_triples(rows, duplicates="error")
    with pytest.raises(ValueError, match="duplicates must be one of"):
        from_label_triples(rows, duplicates="sometimes")


def test_no_duplicates_no_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kgif.data.datasets"):
        from_label_triples(ROWS)
    assert "repeated" not in caplog.text


def test_damaged_pykeen_map_names_the_file(tmp_path: Path) -> None:
    import torch

    from kgif.data.pykeen_folder import read_pykeen_triples, write_pykeen_triples

    write_pykeen_triples(tmp_path, {"a": 0, "b": 1}, {"r": 0}, torch.tensor([[0, 0, 1]]))
    path = tmp_path / "entity_to_id.tsv.gz"
    path.write_bytes(path.read_bytes()[:-9])
    with pytest.raises(ValueError, match=r"entity_to_id\.tsv\.gz is a damaged or truncated"):
        read_pykeen_triples(tmp_path)


def test_bench_synthetic_file_reads_back(tmp_path: Path) -> None:
    from kgif.bench.loading import SYNTHETIC_RELATIONS, measure_read, write_synthetic

    write_synthetic(tmp_path / "train.txt", 1234, seed=1)
    assert len(_reference(tmp_path / "train.txt")) == 1234
    result = measure_read(str(tmp_path))
    assert result["lines"] == 1234 and result["seconds"] > 0
    kg = read_tsv_dataset(tmp_path, duplicates="keep")
    assert kg.num_relations <= SYNTHETIC_RELATIONS
    assert all(label.startswith("ROBO:") for label in kg.entity_to_id)
