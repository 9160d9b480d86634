"""The benchmark suite runs (smoke sizes), reports every suite, and its accuracy is in bounds."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from tolerances import RTOL32, RTOL64

from kgif.bench import SUITES, run_benchmarks
from kgif.bench.__main__ import main
from kgif.bench.scaling import fit_exponent

#: Accuracy tolerance by computation dtype (bfloat16 rows are informational).
TOLERANCE = {"float64": RTOL64, "float32": RTOL32}


@pytest.fixture(scope="module")
def smoke():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny kernels: OpenMP threads only add contention on 2 cores
    try:
        yield run_benchmarks("smoke", argv=["-m", "kgif.bench", "--suite", "smoke"])
    finally:
        torch.set_num_threads(threads)


def test_every_suite_produces_rows(smoke):
    suites = {r["suite"] for r in smoke["rows"]}
    assert suites == set(SUITES)
    assert set(smoke["suites"]) == set(SUITES)
    for key in ("device", "cpu", "torch", "threads", "command"):
        assert smoke["environment"][key] is not None


def test_throughput_rows_cover_every_competitor(smoke):
    rows = [r for r in smoke["rows"] if r["suite"] == "tracin-throughput"]
    methods = {r["method"] for r in rows}
    assert {"kgif-structured", "kgif-generic", "autograd-loop", "captum-tracincp"} <= methods
    measured = [r for r in rows if not r.get("skipped")]
    assert all(r["value"] > 0 for r in measured)
    baseline = [r for r in measured if r["method"] == "autograd-loop"]
    assert baseline and all(r["ratio"] == pytest.approx(1.0) for r in baseline)


def test_accuracy_within_tolerance(smoke):
    rows = [r for r in smoke["rows"] if r["suite"] == "tracin-accuracy" and not r.get("skipped")]
    checked = [r for r in rows if r["dtype"] in TOLERANCE]
    assert {r["method"].split()[0] for r in checked} >= {"kgif-structured", "kgif-generic",
                                                          "autograd-loop"}
    for r in checked:
        assert r["value"] <= TOLERANCE[r["dtype"]], r


def test_scaling_and_roofline_numbers_are_finite(smoke):
    for r in smoke["rows"]:
        if r["suite"] not in ("tracin-scaling", "roofline"):
            continue
        assert math.isfinite(r["value"]), r
        if r["metric"] not in ("streaming RSS rise", "exponent p"):
            assert r["value"] > 0, r


def test_label_memory_is_measured(smoke):
    rows = {(r["case"], r["method"]): r["value"] for r in smoke["rows"]
            if r["metric"] == "label bytes"}
    case = "labels B=128 N=10000 K=1"
    assert rows[(case, "dense")] == 128 * 10_000 * 4
    assert rows[(case, "sparse")] == 2 * 128 * 8


def test_fit_exponent_recovers_a_power_law():
    sizes = [10.0, 100.0, 1000.0, 10_000.0]
    assert fit_exponent(sizes, [3.0 * s**1.5 for s in sizes]) == pytest.approx(1.5)


def test_cli_writes_json_markdown_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, md, png = tmp_path / "r.json", tmp_path / "r.md", tmp_path / "r.png"
    assert main(["--suite", "smoke", "--only", "training", "--threads", "1", "--output",
                 str(out), "--markdown", str(md), "--plot", str(png)]) == 0
    result = json.loads(out.read_text())
    assert result["environment"]["command"].endswith(
        f"--output {out} --markdown {md} --plot {png}")
    captured = capsys.readouterr()
    assert "labels B=128" in captured.out
    assert "training nations 2 epochs, kgif: median epoch" in captured.err  # progress
    assert "## training" in md.read_text() and png.stat().st_size > 0


def test_preset_case_trains_the_presets_model_batch_and_rate_on_both_trainers(monkeypatch):
    # the preset's ConvE (d = 32 as 8 x 4), batch 512 and learning rate 0.01 reach both
    # runners; a small graph stands in for Hetionet so the test trains nothing large
    import kgif.bench.training as bench_training
    import kgif.data.datasets as datasets
    from kgif.bench.common import BENCH_SIZES, with_sizes
    from kgif.training.presets import preset_configs

    calls = []

    def fake(name):
        def run(kg, config, epochs, device, **settings):
            calls.append((name, kg.name, config, epochs, settings))
            return {"epoch_seconds": [2.0, 1.0], "peak_mib": 1.0, "mrr": 0.5}
        return run

    monkeypatch.setattr(bench_training, "_run_kgif", fake("kgif"))
    monkeypatch.setattr(bench_training, "_run_pykeen", fake("pykeen"))
    loaded = []
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name: loaded.append(name) or SimpleNamespace(
                            name=name, training=torch.zeros(10, 3, dtype=torch.long)))
    sizes = with_sizes(BENCH_SIZES["smoke"], {
        "training_datasets": [], "preset_training": [["hetionet", 1]],
        "training_runners": ["kgif", "pykeen"]})
    rows = bench_training._training_rows(sizes, "cpu")
    model, _ = preset_configs("hetionet")
    assert model.embedding_dim == 32 and loaded == ["hetionet", "hetionet"]
    assert [c[0] for c in calls] == ["kgif", "pykeen"]
    for _, _, config, epochs, settings in calls:
        assert config == model and epochs == 1
        assert settings == {"batch_size": 512, "learning_rate": 0.01}
    epoch = [r for r in rows if r["metric"] == "epoch time"]
    assert {r["case"] for r in epoch} == {"preset hetionet, hetionet 1 epochs"}
    assert all(r["batch_size"] == 512 and r["value"] == 1.0 for r in epoch)


def test_bad_arguments():
    with pytest.raises(ValueError, match="suite="):
        run_benchmarks("huge")
    with pytest.raises(ValueError, match="unknown suite"):
        run_benchmarks("smoke", only=["nope"])


def test_filtered_row_streams_no_more_edges_than_unfiltered(smoke):
    rows = {r["method"]: r for r in smoke["rows"] if r["suite"] == "tracin-filtered"}
    assert set(rows) == {"unfiltered", "filtered k=1"}
    assert rows["filtered k=1"]["edges"] <= rows["unfiltered"]["edges"]
    assert rows["filtered k=1"]["ratio"] > 0


def test_set_replaces_preset_sizes(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["--suite", "smoke", "--only", "roofline", "--threads", "1", "--set",
                 "matmul_size=64", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["sizes"] == {"matmul_size": 64}
    cases = {r["case"] for r in result["rows"]}
    assert "matmul 64^3 float32" in cases and not any("256^3" in c for c in cases)
    capsys.readouterr()


def test_set_refuses_unknown_fields_and_wrong_types(capsys):
    from kgif.bench.common import BENCH_SIZES, with_sizes

    smoke = BENCH_SIZES["smoke"]
    assert with_sizes(smoke, {"kelpie_training": [["fb15k237", 1]], "training_datasets": []}
                      ).kelpie_training == (("fb15k237", 1),)
    with pytest.raises(ValueError, match="--set nope: unknown size"):
        with_sizes(smoke, {"nope": 1})
    with pytest.raises(ValueError, match="--set matmul_size='64': expected a value like 256"):
        with_sizes(smoke, {"matmul_size": "64"})
    with pytest.raises(ValueError, match="expected a value like"):
        with_sizes(smoke, {"hetionet_preset": 1})  # an int is not a bool
    with pytest.raises(ValueError, match="expected a value like"):
        with_sizes(smoke, {"training_datasets": [1, 2]})
    assert with_sizes(smoke, {"training_runners": ["pykeen"]}).training_runners == ("pykeen",)
    with pytest.raises(ValueError, match=r"training_runners: \['x'\] unknown; expected some of"):
        with_sizes(smoke, {"training_runners": ["kgif", "x"]})
    with pytest.raises(ValueError, match=r"preset_training: \['x'\] unknown; expected presets"):
        with_sizes(smoke, {"preset_training": [["x", 1]]})
    for bad in ([["nations", 0]], [["nations"]], [["nations", 2, 3]], [[3, 2]]):
        with pytest.raises(ValueError, match=r"kelpie_training: case .*; expected \[name, "
                                             r"epochs\] with epochs >= 1"):
            with_sizes(smoke, {"kelpie_training": bad})
    with pytest.raises(ValueError, match=r"preset_training: case \['hetionet', 0\]"):
        with_sizes(smoke, {"preset_training": [["hetionet", 0]]})
    with pytest.raises(ValueError, match=r"training datasets \['nosuch'\]: neither a folder "
                                         r"nor a known dataset name"):
        with_sizes(smoke, {"kelpie_training": [["nosuch", 1]]})
    assert with_sizes(smoke, {"training_datasets": ["FB15k-237"]}).training_datasets == (
        "FB15k-237",)  # a known name in another spelling
    with pytest.raises(ValueError, match="training_epochs=0; expected >= 1"):
        with_sizes(smoke, {"training_epochs": 0})
    with pytest.raises(SystemExit, match="--set nope: unknown size"):
        main(["--suite", "smoke", "--set", "nope=1"])
    with pytest.raises(SystemExit):
        main(["--suite", "smoke", "--set", "matmul_size=[1"])
    assert "is not JSON" in capsys.readouterr().err
