"""report.html parts: safe JSON in scripts, settings read from a run folder, network records."""

from __future__ import annotations

import json

import pytest

from kgif.jobs.report_page import CYTOSCAPE_VERSION, cytoscape_js, network_elements, script_json
from kgif.jobs.report_settings import read_settings


def test_script_json_cannot_end_the_script_element():
    text = script_json({"name": "</script><!-- & \u2028"})
    assert text == '{"name": "\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028"}'
    assert json.loads(text) == {"name": "</script><!-- & \u2028"}
    with pytest.raises(ValueError):
        script_json({"x": float("nan")})


def test_bundled_cytoscape_is_the_recorded_version_with_its_licence():
    js = cytoscape_js()
    assert js.startswith("/**\n * Copyright (c) 2016-")
    assert "Permission is hereby granted, free of charge" in js[:2000]  # MIT header kept
    assert f'"{CYTOSCAPE_VERSION}"' in js
    assert "</script" not in js.lower()


def _result():
    def part(prefix, h, r, t, name_h):
        return {f"{prefix}_head_label": h, f"{prefix}_head_name": name_h,
                f"{prefix}_relation_label": r, f"{prefix}_relation_name": r + " (name)",
                f"{prefix}_tail_label": t, f"{prefix}_tail_name": t.upper(),
                f"{prefix}_head_kind": "Compound", f"{prefix}_tail_kind": ""}
    return {**part("test", "d", "treats", "x", "drug D"), "influences": [
        {**part("train", "d", "binds", "g", "drug D"), "influence": 0.5, "kind": "proponent",
         "rank": 1},
        {**part("train", "g", "causes", "x", "gene G"), "influence": -0.25, "kind": "opponent",
         "rank": 1}]}


def test_network_from_the_json_when_there_is_no_cyjs(tmp_path):
    elements = network_elements(tmp_path, "missing", _result())
    nodes = {n["data"]["id"]: (n["data"]["name"], n["data"]["role"]) for n in elements["nodes"]}
    assert nodes == {"d": ("drug D", "head"), "x": ("X", "tail"), "g": ("G", "context")}
    edges = [(e["data"]["source"], e["data"]["relation_name"], e["data"]["target"],
              e["data"]["role"], e["data"]["influence"]) for e in elements["edges"]]
    assert edges == [("d", "treats (name)", "x", "test", 0.0),
                     ("d", "binds (name)", "g", "proponent", 0.5),
                     ("g", "causes (name)", "x", "opponent", -0.25)]
    pos = {n["data"]["id"]: n["position"] for n in elements["nodes"]}
    assert pos["d"]["x"] < pos["x"]["x"]  # head left of tail, as in the static figure
    assert network_elements(tmp_path, "missing", _result()) == elements  # same every time


def test_network_prefers_the_cyjs_file(tmp_path):
    cyjs = {"elements": {"nodes": [{"data": {"id": "a", "name": "A", "role": "head"}},
                                   {"data": {"id": "b", "name": "B", "role": "tail"}}],
                         "edges": [{"data": {"id": "e0", "source": "a", "target": "b",
                                             "role": "test", "influence": 0.0}}]}}
    (tmp_path / "t.cyjs").write_text(json.dumps(cyjs), encoding="utf-8")
    elements = network_elements(tmp_path, "t", _result())
    assert [n["data"]["id"] for n in elements["nodes"]] == ["a", "b"]
    (tmp_path / "t.cyjs").write_text("{broken", encoding="utf-8")
    assert len(network_elements(tmp_path, "t", _result())["nodes"]) == 3  # falls back


def test_settings_from_run_json_and_the_training_metrics(tmp_path):
    train = tmp_path / "train"
    (train / "checkpoints").mkdir(parents=True)
    (train / "metrics.json").write_text(json.dumps({
        "dataset": "umls", "best_epoch": 3, "epochs_run": 3,
        "test": {"both": {"realistic.mrr": 0.25, "realistic.hits@1": 0.125,
                          "realistic.hits@3": 0.5, "realistic.hits@10": 0.75,
                          "realistic.mr": 4.0}}}), encoding="utf-8")
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({
        "train_objective.name": "bce_1n", "test_objective.name": "score", "method": "exact",
        "k": 10, "metadata.epochs": [1, 2], "metadata.learning_rates": [0.01, 0.005],
        "metadata.checkpoints": [str(train / "checkpoints")]}), encoding="utf-8")
    settings = read_settings(out)
    rows = dict(settings.rows)
    assert rows["training objective"] == "bce_1n" and rows["test objective"] == "score"
    assert rows["TracIn method"] == "exact"
    assert rows["proponents and opponents kept per test triple (k)"] == "10"
    assert rows["normalisation of the scores"].startswith("not recorded")
    assert settings.checkpoints == [("1", "0.01"), ("2", "0.005")]
    assert dict(settings.metrics) == {"MRR": "0.25", "Hits@1": "0.125", "Hits@3": "0.5",
                                      "Hits@10": "0.75", "mean rank": "4", "dataset": "umls",
                                      "best epoch (validation)": "3", "epochs trained": "3",
                                      "from": str(train / "metrics.json")}
    assert settings.notes == []


def test_settings_of_a_bare_folder_say_what_is_missing(tmp_path):
    settings = read_settings(tmp_path)
    assert settings.metrics == [] and settings.checkpoints == []
    assert len(settings.notes) == 2
    assert "no run.json" in settings.notes[0] and "metrics.json" in settings.notes[1]
