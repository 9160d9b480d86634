"""``python -m kgif drugmechdb`` end to end on a toy Hetionet-like graph, checked against a
float64 TracIn loop and a brute-force path enumeration."""

from __future__ import annotations

import json

import pytest
import torch
from helpers import graph_checkpoints, nondirect_paths_brute_force
from reference import reference_influence

from kgif.cli import main
from kgif.data.datasets import load_dataset
from kgif.data.drugmechdb import COLUMNS
from kgif.data.tsv import write_label_triples
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.model.checkpoint import save_checkpoint
from kgif.studies.drugmechdb_run import run_drugmechdb, top_relations

EDGES = [
    ("C1", "BINDS_CbG", "G1"), ("D1", "ASSOCIATES_DaG", "G1"),
    ("C1", "BINDS_CbG", "G2"), ("G3", "REGULATES_Gr>G", "G2"),
    ("D1", "ASSOCIATES_DaG", "G3"), ("G2", "INTERACTS_GiG", "G1"),
    ("C1", "TREATS_CtD", "D2"), ("C2", "TREATS_CtD", "D1"),
    ("C1", "RESEMBLES_CrC", "C2"), ("C2", "PALLIATES_CpD", "D1"),
    ("C2", "BINDS_CbG", "G3"), ("D2", "ASSOCIATES_DaG", "G4"), ("G4", "INTERACTS_GiG", "G5"),
]
SUPPORTING = [("C1", "BINDS_CbG", "G2"), ("D1", "ASSOCIATES_DaG", "G3"),
              ("G3", "REGULATES_Gr>G", "G2")]


@pytest.fixture
def run(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    write_label_triples(folder / "train.txt", EDGES)
    write_label_triples(folder / "test.txt", [("C1", "TREATS_CtD", "D1")])
    kg = load_dataset(folder)
    ckpts = graph_checkpoints(kg)  # float64: the orders below are exact
    for ckpt in ckpts:
        save_checkpoint(ckpt, tmp_path / "ckpts" / f"checkpoint_epoch_{ckpt.epoch:04d}.pt")
    mechanisms = tmp_path / "dmdb.tsv"
    mechanisms.write_text("\t".join(COLUMNS) + "\n" + "".join(
        f"C1\tTREATS_CtD\tD1\ttest\tP1\t{h}\t{r}\t{t}\n" for h, r, t in SUPPORTING))
    return kg, ckpts, folder, mechanisms


def test_drugmechdb_command_against_a_float64_loop(run, tmp_path, capsys):
    kg, ckpts, folder, mechanisms = run
    out = tmp_path / "out.json"
    code = main(["drugmechdb", "--checkpoints", str(tmp_path / "ckpts"), "--dataset",
                 str(folder), "--mechanisms", str(mechanisms), "--cache-dir",
                 str(tmp_path / "cache"), "--rankings", "tracin_khop", "path_count",
                 "--draws", "5", "--output", str(out), "--markdown", str(tmp_path / "o.md")])
    assert code == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["n_pairs"] == 1 and result["n_supporting"] == 3
    pair = result["per_pair"][0]
    assert pair["pair"] == ["C1", "D1"]
    assert set(pair) >= {"tracin_khop", "path_count", "mechanism_mean", "random"}
    # independent expectation: float64 TracInCP of every edge, local rows (edges at C1 or D1
    # and on non-direct head-tail paths) first, 1-hop candidates first among them, then score
    rel = kg.relation_to_id
    h, t = kg.entity_to_id["C1"], kg.entity_to_id["D1"]
    test = torch.tensor([[h, rel["TREATS_CtD"], t]])
    scores = reference_influence(ckpts, test, kg.training, "score")[0]
    direct = {rel["TREATS_CtD"], rel["PALLIATES_CpD"]}
    train = kg.training.tolist()
    local = {e for e, (a, _, b) in enumerate(train) if {a, b} & {h, t}}
    local |= {e for _, edges in nondirect_paths_brute_force(kg, h, t, direct) for e in edges}
    khop = set(candidate_edges_batch(Adjacency.from_triples(kg.training, kg.num_entities),
                                     test, k=1)[0].tolist())
    order = sorted(range(len(train)), key=lambda e: (
        -(10 * (e in local) + (e in khop)), -float(scores[e]) if e in local else 0.0, e))
    supporting = [kg.resolve_triples([x])[0].tolist() for x in SUPPORTING]
    rows = [train.index(s) for s in supporting]
    first = min(order.index(r) for r in rows) + 1
    assert pair["tracin_khop"]["rr"] == pytest.approx(1 / first, rel=1e-12)
    # the relations of the 10 highest float64 scores among the local rows, proponents only
    top = sorted(local, key=lambda e: (-float(scores[e]), e))[:10]
    expected: dict[str, int] = {}
    for e in top:
        if float(scores[e]) > 0:
            label = kg.relation_label(train[e][1])
            expected[label] = expected.get(label, 0) + 1
    assert sum(expected.values()) >= 2  # the toy's ranking has proponents of several kinds
    assert result["top_relations"] == {"k": 10, "counts": expected}
    text = (tmp_path / "o.md").read_text()
    assert "TracIn, 1-hop candidates first" in text and "# DrugMechDB benchmark: 1 " in text
    assert "highest TracIn proponents" in text
    assert ", ".join(f"`{k}` {v}" for k, v in
                     sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))) in text


def test_top_relations_refuses_bad_arguments(run):
    kg = run[0]
    with pytest.raises(ValueError, match="k = 0"):
        top_relations(kg, torch.zeros(1, len(kg.training)), [torch.arange(3)], k=0)
    with pytest.raises(ValueError, match="2 local row sets for 1 score rows"):
        top_relations(kg, torch.zeros(1, len(kg.training)), [torch.arange(3)] * 2)


def test_drugmechdb_refusals(run, tmp_path, capsys):
    kg, ckpts, folder, mechanisms = run
    base = ["drugmechdb", "--checkpoints", str(tmp_path / "ckpts"), "--dataset", str(folder),
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--mechanisms", str(mechanisms), "--output", str(mechanisms)]) == 2
    assert "--output" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("\t".join(COLUMNS) + "\nC1\tTREATS_CtD\tD1\ttest\tP1\tC1\tBINDS_CbG\n")
    assert main([*base, "--mechanisms", str(bad), "--output", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and str(bad) in err and "Traceback" not in err
    assert main([*base, "--mechanisms", str(mechanisms), "--splits", "train", "--output",
                 str(tmp_path / "o.json")]) == 2
    assert "no pair of splits ['train']" in capsys.readouterr().err
    with pytest.raises(ValueError, match="methods \\['nope'\\] unknown"):
        run_drugmechdb(kg, ckpts, [object()], tmp_path / "c", methods=["nope"])
    with pytest.raises(ValueError, match="0 checkpoints"):
        run_drugmechdb(kg, [], [object()], tmp_path / "c")


def test_top_relations_counts_proponents_only(run):
    kg = run[0]
    scores = torch.zeros(2, len(kg.training), dtype=torch.float64)
    scores[0, :4] = torch.tensor([0.5, 0.7, -1.0, 0.0])  # two proponents among four rows
    scores[1, 4:6] = torch.tensor([-0.1, -0.2])  # opponents only: nothing counted
    label = [kg.relation_label(int(r)) for r in kg.training[:, 1]]
    expected: dict[str, int] = {}
    for row in (1, 0):
        expected[label[row]] = expected.get(label[row], 0) + 1
    got = top_relations(kg, scores, [torch.arange(4), torch.arange(4, 6)], k=3)
    assert got == dict(sorted(expected.items(), key=lambda kv: (-kv[1], kv[0])))
    assert sum(got.values()) == 2
