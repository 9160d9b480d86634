"""The Snakemake workflow shipped with kgif, end to end on Nations, and its fan-out helpers."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kgif.cli import main
from kgif.jobs.fanout import split_evenly

ROOT = Path(__file__).resolve().parents[2]

TINY = """\
dataset: nations
output: results
kgif: {python} -m kgif
threads: 1
split: null
train: {{epochs: 2, embedding_dim: 8, output_channels: 2, checkpoint_every: 1, eval_every: 1}}
predict: {{top_k: 3}}
explain: {{test_relation: null, limit: 5, chunks: 2, top_k: 3, chunk_size: 2}}
report: {{top_relations: 5}}
"""


def _snakemake(folder: Path, *extra: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "TQDM_DISABLE": "1"}
    return subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *extra], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=600)


def test_split_evenly_hand_cases():
    assert split_evenly([1, 2, 3, 4, 5], 2) == [[1, 2, 3], [4, 5]]
    assert split_evenly([1, 2, 3], 3) == [[1], [2], [3]]
    with pytest.raises(ValueError, match="cannot cut 2 test triples into 3 chunks"):
        split_evenly([1, 2], 3)


def test_workflow_command_refuses_to_overwrite(tmp_path, capsys):
    assert main(["workflow", "--output-dir", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == {"Snakefile", "config.yaml"}
    (tmp_path / "config.yaml").write_text("dataset: umls\n", encoding="utf-8")
    assert main(["workflow", "--output-dir", str(tmp_path)]) == 2
    assert "already exist; pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == "dataset: umls\n"
    assert main(["workflow", "--output-dir", str(tmp_path), "--overwrite"]) == 0
    assert "explain:" in (tmp_path / "config.yaml").read_text(encoding="utf-8")


def test_split_rule_runs_first_when_configured(tmp_path):
    """With ``split:`` set, a dry run plans split -> train on its output (the data folder)."""
    assert main(["workflow", "--output-dir", str(tmp_path)]) == 0
    config = TINY.format(python=sys.executable).replace(
        "dataset: nations", "dataset: my_graph").replace(
        "split: null", 'split: {relation: "biolink:treats", valid: 0.1, test: 0.1, seed: 0}')
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    plan = _snakemake(tmp_path, "--dry-run")
    assert plan.returncode == 0, plan.stderr[-3000:]
    text = plan.stdout + plan.stderr
    assert "rule split:" in text
    assert "output: results/data/train.txt, results/data/valid.txt, results/data/test.txt" in text
    assert ("input: results/settings/train.yaml, results/data/train.txt, results/data/valid.txt, "
            "results/data/test.txt") in text
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_workflow_runs_end_to_end_then_has_nothing_to_do(tmp_path):
    assert main(["workflow", "--output-dir", str(tmp_path)]) == 0
    (tmp_path / "config.yaml").write_text(TINY.format(python=sys.executable), encoding="utf-8")
    first = _snakemake(tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "results"
    # train: two epochs, checkpoints and test metrics
    metrics = json.loads((out / "train" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["epochs_run"] == 2 and metrics["model_config"]["embedding_dim"] == 8
    assert sorted(p.name for p in (out / "train" / "checkpoints").iterdir())[:1]
    # select: 5 test triples cut 3 + 2 into the two chunk jobs
    chunks = [(out / "explain" / "chunks" / f"{i}.tsv").read_text().splitlines() for i in (0, 1)]
    assert [len(c) for c in chunks] == [3, 2]
    # predict: top 3 tails of each distinct (head, relation, ?) query
    with open(out / "predictions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    queries = (out / "explain" / "queries.tsv").read_text().splitlines()
    assert len(rows) == 3 * len(queries) and all(q.endswith("\t?") for q in queries)
    # explain: one folder per chunk, merged with one numbering, then the report
    merged = out / "explain" / "all"
    stems = sorted(p.name[:5] for p in merged.glob("0*.json"))
    assert stems == ["00000", "00001", "00002", "00003", "00004"]
    combined = json.loads((merged / "explanations.json").read_text(encoding="utf-8"))
    assert len(combined["results"]) == 5 and len(combined["metadata"]["chunks"]) == 2
    assert [r["test_head_label"] + "\t" + r["test_relation_label"] + "\t" + r["test_tail_label"]
            for r in combined["results"]] == chunks[0] + chunks[1]
    assert all(len(r["influences"]) == 6 for r in combined["results"])  # 3 pro + 3 con
    assert (merged / "report.html").stat().st_size > 1000
    assert json.loads((out / "settings" / "explain.yaml").read_text()) == \
        {"top_k": 3, "chunk_size": 2}
    # a second run has nothing to do
    second = _snakemake(tmp_path)
    assert second.returncode == 0 and "Nothing to be done" in second.stdout + second.stderr
    # a chunk job run again (as after a kill) resumes its folder: finished triples are kept
    third = _snakemake(tmp_path, "--force", "results/explain/chunk_1/explanations.json")
    assert third.returncode == 0, third.stderr[-3000:]
    log = (out / "logs" / "explain_1.log").read_text(encoding="utf-8")
    assert "explain_all: 2 test triples, 0 of 1 chunks to compute" in log
