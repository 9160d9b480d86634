"""DrugMechDB loader: supporting edges as training rows; malformed files refused by line."""

from __future__ import annotations

import gzip

import pytest

from kgif.data.build import from_label_triples
from kgif.data.drugmechdb import COLUMNS, drugmechdb_file, read_drugmechdb

TRAIN = [("C1", "BINDS_CbG", "G1"), ("D1", "ASSOCIATES_DaG", "G1"), ("G1", "INTERACTS_GiG", "G2"),
         ("D1", "ASSOCIATES_DaG", "G2"), ("C2", "TREATS_CtD", "D1"), ("C2", "BINDS_CbG", "G2"),
         ("D2", "RESEMBLES_DrD", "D1"), ("C3", "BINDS_CbG", "G1")]
HEADER = "\t".join(COLUMNS)


def _graph():
    return from_label_triples(TRAIN, valid=[("C2", "TREATS_CtD", "D2")],
                              test=[("C1", "TREATS_CtD", "D1")], name="toy")


def _write(tmp_path, lines, name="dmdb.tsv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


GOOD = ["C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_CbG\tG1",
        "C1\tTREATS_CtD\tD1\ttest\tP1\tD1\tASSOCIATES_DaG\tG1",
        "C1\tTREATS_CtD\tD1\ttest\tP2\tG1\tINTERACTS_GiG\tG2",
        "C1\tTREATS_CtD\tD1\ttest\tP2\tC1\tBINDS_CbG\tG1",
        "C2\tTREATS_CtD\tD2\tvalid\tP3\tC2\tBINDS_CbG\tG2",
        "C3\tTREATS_CtD\tD1\tnone\tP4\tD1\tASSOCIATES_DaG\tG2"]


def test_reads_pairs_paths_and_training_rows(tmp_path):
    kg = _graph()
    path = _write(tmp_path, GOOD)
    (test,) = read_drugmechdb(kg, path)
    ent, rel = kg.entity_to_id, kg.relation_to_id
    assert test.triple == (ent["C1"], rel["TREATS_CtD"], ent["D1"]) and test.split == "test"
    assert test.supporting.tolist() == [0, 1, 2]  # training rows of TRAIN, in file order
    assert list(test.paths) == ["P1", "P2"]
    assert test.paths["P1"].tolist() == [0, 1] and test.paths["P2"].tolist() == [0, 2]
    every = read_drugmechdb(kg, path, splits=None)
    assert [m.split for m in every] == ["test", "valid", "none"]
    assert every[1].supporting.tolist() == [5]
    with gzip.open(tmp_path / "x.tsv.gz", "wt") as handle:
        handle.write("\n".join([HEADER, *GOOD]) + "\n")
    assert read_drugmechdb(kg, tmp_path / "x.tsv.gz")[0].supporting.tolist() == [0, 1, 2]


@pytest.mark.parametrize(("lines", "line", "message"), [
    (["C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_CbG"], 2, "7 fields, expected 8"),
    (["C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_CbG\tGX"], 2, "unknown entity label 'GX'"),
    ([GOOD[0], "C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_XX\tG1"], 3,
     "unknown relation label 'BINDS_XX'"),
    (["C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_CbG\tG2"], 2,
     "supporting edge C1 BINDS_CbG G2 is not a training edge"),
    (["C1\tTREATS_CtD\tD1\ttest\tP1\tC1\tTREATS_CtD\tD1"], 2, "is not a training edge"),
    (["C1\tTREATS_CtD\tD1\tholdout\tP1\tC1\tBINDS_CbG\tG1"], 2, "split 'holdout'"),
    (["C2\tTREATS_CtD\tD2\ttest\tP1\tC2\tBINDS_CbG\tG2"], 2, "not in the graph's test split"),
    ([GOOD[0], "C1\tTREATS_CtD\tD1\tnone\tP1\tD1\tASSOCIATES_DaG\tG1"], 3, "earlier line"),
])
def test_refuses_a_malformed_line_naming_it(tmp_path, lines, line, message):
    path = _write(tmp_path, lines)
    with pytest.raises(ValueError, match=rf"^read_drugmechdb: line {line} of {path}: .*") as info:
        read_drugmechdb(_graph(), path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_refuses_a_wrong_header(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("head\trelation\ttail\n")
    with pytest.raises(ValueError, match=r"line 1 of .*bad.tsv: header"):
        read_drugmechdb(_graph(), path)
    with pytest.raises(ValueError, match="splits"):
        read_drugmechdb(_graph(), _write(tmp_path, GOOD), splits=("tests",))


def test_bundled_file_is_shipped_with_provenance():
    path = drugmechdb_file()
    assert path.is_file()
    provenance = (path.parent / "PROVENANCE.md").read_text()
    for word in ("CC0 1.0", "MIT", "CC-BY 3.0", "CC BY 4.0", "Method", "sha256"):
        assert word in provenance
    with gzip.open(path, "rt") as handle:
        assert handle.readline().rstrip("\n").split("\t") == list(COLUMNS)
        assert sum(1 for _ in handle) == 2485
