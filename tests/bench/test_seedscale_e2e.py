"""benchmarks/seedscale_e2e.py at its smoke size: the job runs through ``explain
--output-dir``, its record adds up, a rerun resumes a finished run as a no-op, and the written
top proponents are the library's."""

from __future__ import annotations

import importlib.util
import json

import pytest
from helpers import REPO

from kgif.data.datasets import load_dataset
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import load_checkpoints


@pytest.fixture(scope="module")
def e2e():
    spec = importlib.util.spec_from_file_location("seedscale_e2e",
                                                  REPO / "benchmarks" / "seedscale_e2e.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_job_runs_records_and_resumes(e2e, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the child imports kgif from the working folder
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    work = tmp_path / "work"
    assert e2e.main(["--work", str(work), "--size", "smoke"]) == 0
    assert e2e.main(["--work", str(work), "--size", "smoke"]) == 0  # resumes: nothing to do
    log = json.loads((work / "e2e.json").read_text())
    first, second = log["runs"]
    n_test = len((work / "test.tsv").read_text().splitlines())
    assert first["returncode"] == 0 and first["complete"] and first["done_after"] == n_test
    assert first["done_before"] == 0 and first["cpu_user_s"] > 0 and first["peak_rss_mib"] > 0
    assert "--segment-edges 1024" in first["command"]
    assert second["done_before"] == n_test and second["chunks"] == []
    assert log["total"]["wall_s"] == pytest.approx(first["wall_s"] + second["wall_s"])
    assert log["total"]["done"] == n_test and log["total"]["complete"]
    assert not (work / "out" / ".partial").exists()  # every chunk's segments were cleared
    with pytest.raises(SystemExit, match="is a --size smoke run, not tenth"):
        e2e.main(["--work", str(work), "--size", "tenth"])
    # the top proponents written equal one in-process pass of the library over the same files
    kg = load_dataset(work / "data")
    ckpts = load_checkpoints(sorted(str(p) for p in (work / "ckpts").glob("*.pt")))
    test = kg.testing
    pro, _ = TracIn(ckpts, kg.training, batch_size=256, show_progress=False).top_influences(
        test, 10)
    written = json.loads((work / "out" / "explanations.json").read_text())["results"]
    for j, result in enumerate(written):
        ids = [x["train_index"] for x in result["influences"] if x["kind"] == "proponent"]
        expected = [i for i, s in zip(pro.indices[j].tolist(),
                                      pro.influence_scores[j].tolist(), strict=True) if s > 0]
        assert ids == expected
