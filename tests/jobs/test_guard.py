"""The run guard: provenance in every per-triple file, report on a partial run, the lock's
portability (issue 23, "provenance that lives in one file"; issue 20, ``fcntl``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from helpers import REPO, _env, _kg, _per_triple, _write_run_inputs, graph_checkpoints

from kgif.cli import main
from kgif.influence.tracin import TracIn
from kgif.jobs.explain_run import RunOptions, explain_all, triple_files, triple_stem
from kgif.jobs.guard import settings_differences, settings_record
from kgif.jobs.html_report import read_run, write_run_report


def _tracin(kg, checkpoints=None) -> TracIn:
    return TracIn(checkpoints or graph_checkpoints(kg), kg.training, show_progress=False)


# --------------------------------------------------------------------------- Python API


@pytest.mark.parametrize(("change", "expected"), [
    ("top_k", r"^  k: 2 -> 3$"),
    ("checkpoints", r"tracin\.checkpoint_digests: \"sha256:[0-9a-f]{16}\" -> \"sha256:"),
    ("normalize", r'tracin\.normalize: null -> "cosine"'),
])
def test_rerun_without_run_json_never_reuses_results_of_other_settings(tmp_path, change,
                                                                       expected):
    kg = _kg()
    explain_all(_tracin(kg), kg, kg.testing[:4], tmp_path, RunOptions(k=2, chunk_size=2))
    before = _per_triple(tmp_path)
    (tmp_path / "run.json").unlink()
    tracin, options = _tracin(kg), RunOptions(k=2, chunk_size=2)
    if change == "top_k":
        options = RunOptions(k=3, chunk_size=2)
    elif change == "checkpoints":
        tracin = _tracin(kg, graph_checkpoints(kg)[1:])
    else:
        tracin = TracIn(graph_checkpoints(kg), kg.training, normalize="cosine",
                        show_progress=False)
    with pytest.raises(ValueError, match=r"was computed with other settings") as info:
        explain_all(tracin, kg, kg.testing[:4], tmp_path, options)
    assert "00000__" in str(info.value)  # names the file
    assert any(re.search(expected, line)
               for line in str(info.value).splitlines()), str(info.value)
    assert _per_triple(tmp_path) == before  # never overwritten, never mixed
    assert not (tmp_path / "run.json").exists()  # a refused run writes no guard


def test_rerun_without_run_json_and_same_settings_reuses_and_restores_the_guard(tmp_path):
    kg = _kg()
    options = RunOptions(k=2, chunk_size=2)
    explain_all(_tracin(kg), kg, kg.testing[:4], tmp_path, options)
    guard = (tmp_path / "run.json").read_bytes()
    before = _per_triple(tmp_path)
    (tmp_path / "run.json").unlink()
    computed = []
    explain_all(_tracin(kg), kg, kg.testing[:4], tmp_path, options,
                on_chunk=lambda chunk: computed.append(chunk.indices))
    assert computed == [] and _per_triple(tmp_path) == before
    assert (tmp_path / "run.json").read_bytes() == guard


def test_a_file_without_settings_record_is_refused(tmp_path):
    """A per-triple file of an older kgif (no record) is not trusted without run.json."""
    kg = _kg()
    explain_all(_tracin(kg), kg, kg.testing[:2], tmp_path, RunOptions(k=2))
    (tmp_path / "run.json").unlink()
    path = triple_files(tmp_path, triple_stem(0, tuple(kg.testing[0].tolist()), kg),
                        False)["json"]
    document = json.loads(path.read_text())
    del document["metadata"]["run_settings"]
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"records no run settings"):
        explain_all(_tracin(kg), kg, kg.testing[:2], tmp_path, RunOptions(k=2))


def test_settings_record_keeps_short_values_and_hashes_long_ones():
    settings = {"k": 10, "tracin.normalize": None, "digests": ["a" * 64, "b" * 64]}
    record = settings_record(settings)
    assert record["k"] == 10 and record["tracin.normalize"] is None
    assert record["digests"].startswith("sha256:") and len(record["digests"]) == 7 + 16
    other = settings_record(settings | {"digests": ["a" * 64, "c" * 64]})
    assert other["digests"] != record["digests"]
    assert settings_differences(record, other) == [
        f"digests: \"{record['digests']}\" -> \"{other['digests']}\""]
    assert settings_differences({"x": [1, 2, 3]}, {"x": [1, 5, 3]}) == ["x[1]: 2 -> 5"]


def test_report_of_a_killed_run_counts_the_pending_triples(tmp_path):
    kg = _kg()
    explain_all(_tracin(kg), kg, kg.testing, tmp_path, RunOptions(k=2, chunk_size=3))
    for i in (4, 5, 6):  # as a run killed after its first chunks leaves it
        stem = triple_stem(i, tuple(kg.testing[i].tolist()), kg)
        for path in triple_files(tmp_path, stem, False).values():
            path.unlink()
    data = read_run(tmp_path)
    assert (len(data.triples), data.total, data.pending) == (4, 7, 3)
    page = write_run_report(tmp_path).read_text()
    assert "The run is not finished: 3 of 7 test triples are pending" in page
    for i in range(4):
        (tmp_path / f"{triple_stem(i, tuple(kg.testing[i].tolist()), kg)}.json").unlink()
    with pytest.raises(ValueError, match=r"no finished test triple yet \(7 pending\)"):
        read_run(tmp_path)


# --------------------------------------------------------------------------- CLI


def _explain(tmp_path, out, checkpoints: str, *extra: str) -> list[str]:
    return ["explain", "--checkpoints", checkpoints, "--dataset", str(tmp_path / "data"),
            "--test-file", str(tmp_path / "tests.tsv"), "--output-dir", str(out),
            "--no-progress", "--quiet", *extra]


def test_cli_rerun_without_run_json_is_refused_naming_the_difference(tmp_path, capsys):
    _write_run_inputs(tmp_path, 3)
    out = tmp_path / "mix"
    assert main(_explain(tmp_path, out, str(tmp_path / "ckpts"), "--top-k", "2")) == 0
    before = _per_triple(out)
    (out / "run.json").unlink()
    capsys.readouterr()
    assert main(_explain(tmp_path, out, str(tmp_path / "ckpts"), "--top-k", "3")) == 2
    err = capsys.readouterr().err
    assert "was computed with other settings" in err and "k: 2 -> 3" in err
    one = str(tmp_path / "ckpts" / "checkpoint_epoch_0002.pt")
    assert main(_explain(tmp_path, out, one, "--top-k", "2")) == 2
    err = capsys.readouterr().err
    assert "tracin.checkpoint_digests: " in err and "checkpoint_files.sha256: " in err
    assert _per_triple(out) == before
    assert main(_explain(tmp_path, out, str(tmp_path / "ckpts"), "--top-k", "2")) == 0
    assert _per_triple(out) == before and (out / "run.json").is_file()


def test_cli_report_on_a_killed_run_says_how_many_are_pending(tmp_path, capsys):
    _write_run_inputs(tmp_path, 3)
    out = tmp_path / "out"
    assert main(_explain(tmp_path, out, str(tmp_path / "ckpts"), "--top-k", "2",
                         "--chunk-size", "1")) == 0
    for path in out.glob("00002__*"):
        path.unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the run is not finished: 1 of 3 test triples pending" in printed


# --------------------------------------------------------------------------- portability


def test_import_kgif_without_fcntl():
    """``fcntl`` does not exist on Windows: nothing of kgif may need it to import."""
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "import kgif, kgif.jobs.guard, kgif.jobs.explain_run, kgif.cli\n"
            "print('imported')")
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], env=_env(), cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_paths_csv_of_an_earlier_kgif_is_still_whole(tmp_path):
    """A per-triple ``.paths.csv`` written before the PathNames column is reused on resume;
    any other header, or rows of the wrong width, is damaged output (recomputed)."""
    from kgif.explanation.paths import PATH_COLUMNS
    from kgif.jobs.guard import DamagedOutput, _check_csv

    old = tmp_path / "old.csv"
    old.write_text(",".join(PATH_COLUMNS[:-1]) + "\n" + ",".join(["x"] * 10) + "\n")
    _check_csv(old, PATH_COLUMNS, 1, older=[PATH_COLUMNS[:-1]])
    with pytest.raises(DamagedOutput, match="unexpected header"):
        _check_csv(old, PATH_COLUMNS, 1)
    old.write_text(",".join(PATH_COLUMNS[:-1]) + "\n" + ",".join(["x"] * 11) + "\n")
    with pytest.raises(DamagedOutput, match="expected 1 of 10 fields"):
        _check_csv(old, PATH_COLUMNS, 1, older=[PATH_COLUMNS[:-1]])
