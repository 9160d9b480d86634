"""TracInSettings: every setting that changes a score, recorded and compared everywhere."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest
import torch
from helpers import _kg, _per_triple, _run_args, _write_run_inputs, graph_checkpoints

from kgif.cli import main
from kgif.influence.settings import NOT_SETTINGS, TracInSettings
from kgif.influence.tracin import NORMALIZATIONS, TracIn
from kgif.jobs.explain_run import RunOptions, explain_all
from kgif.jobs.guard import run_settings
from kgif.model.checkpoint import content_digest


def _tracin(**kwargs) -> TracIn:
    kg = _kg()
    return TracIn(graph_checkpoints(kg), kg.training, show_progress=False, **kwargs)


def test_every_settings_field_is_recorded_by_the_run_guard():
    """A new field of TracInSettings cannot be forgotten by run.json."""
    tracin = _tracin()
    recorded = run_settings(tracin, _kg().testing, RunOptions())
    for f in dataclasses.fields(TracInSettings):
        key = f"tracin.{f.name}"
        assert key in recorded or any(k.startswith(key + ".") for k in recorded), f.name


def test_every_tracin_argument_is_a_setting_or_named_as_not_one():
    arguments = set(inspect.signature(TracIn.__init__).parameters) - {"self"}
    fields = {f.name for f in dataclasses.fields(TracInSettings)}
    assert not fields & set(NOT_SETTINGS)
    assert arguments - fields == set(NOT_SETTINGS)


def test_settings_values_and_json_form():
    kg = _kg()
    checkpoints = graph_checkpoints(kg)
    tracin = TracIn(checkpoints, kg.training, normalize="cosine", parameters="fc",
                    method="generic", batch_size=16, dtype=torch.float32,
                    train_objective="pointwise_bce", show_progress=False)
    s = tracin.settings
    assert (s.normalize, s.method, s.batch_size, s.dtype) == ("cosine", "generic", 16,
                                                              torch.float32)
    assert s.parameters == ("fc.weight", "fc.bias", "bn2.weight", "bn2.bias")
    assert s.learning_rates == (0.2, 0.1)
    assert s.checkpoint_digests == tuple(content_digest(c) for c in checkpoints)  # float64
    assert s.relation_repeats is None and s.model_config == checkpoints[0].config
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.normalize = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        tracin.normalize = None  # type: ignore[misc]  # reads the settings, cannot drift
    document = s.as_dict()
    assert list(document) == [f.name for f in dataclasses.fields(TracInSettings)]
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert document["train_objective"] == {"type": "OneHotObjective", "name": "pointwise_bce",
                                           "kind": "loss", "one_hot": True}
    assert document["dtype"] == "float32" and document["learning_rates"] == [0.2, 0.1]
    assert "extra" not in document["model_config"]


@pytest.mark.parametrize(("name", "value"), [
    ("normalize", "cosine"), ("normalize", "relatif"), ("method", "generic"),
    ("parameters", "fc"), ("batch_size", 7), ("dtype", torch.float32),
    ("train_objective", "pointwise_bce"), ("test_objective", "bce_1n")])
def test_each_setting_changes_the_recorded_run_settings(name, value):
    """``run_settings`` scraped attributes before and missed ``normalize``."""
    test = _kg().testing
    plain = run_settings(_tracin(), test, RunOptions())
    other = run_settings(_tracin(**{name: value}), test, RunOptions())
    assert plain != other
    assert any(k.startswith(f"tracin.{name}") and plain.get(k) != other.get(k) for k in other)


def test_resume_with_cosine_after_a_plain_run_is_refused_never_mixed(tmp_path):
    kg = _kg()
    options = RunOptions(k=2, chunk_size=2)
    explain_all(_tracin(), kg, kg.testing[:4], tmp_path, options)
    before = _per_triple(tmp_path)
    for finished in (4, 2):  # a complete run, and a killed one (second chunk lost)
        for path in list(tmp_path.glob("00002__*")) + list(tmp_path.glob("00003__*")):
            if finished == 2:
                path.unlink()
        with pytest.raises(ValueError, match=r'tracin\.normalize: null -> "cosine"'):
            explain_all(_tracin(normalize="cosine"), kg, kg.testing[:4], tmp_path, options)
        assert all(_per_triple(tmp_path)[n] == before[n] for n in _per_triple(tmp_path))
    assert len(_per_triple(tmp_path)) == 4  # nothing written by the refused runs


def test_cli_normalize_flag_and_resume_refusal(tmp_path, capsys):
    _write_run_inputs(tmp_path, 3)
    out = tmp_path / "out"
    args = _run_args(tmp_path, out)
    assert main(args) == 0
    before = _per_triple(out)
    capsys.readouterr()
    assert main(args + ["--normalize", "cosine"]) == 2
    assert 'tracin.normalize: null -> "cosine"' in capsys.readouterr().err
    assert _per_triple(out) == before
    assert main(args[:-4] + ["--normalize", "relatif", "--output-dir", str(tmp_path / "rel"),
                             "--no-progress", "--quiet"]) == 0
    record = json.loads((tmp_path / "rel" / "run.json").read_text())
    assert record["tracin.normalize"] == "relatif"
    document = json.loads(next((tmp_path / "rel").glob("00000__*[!s].json")).read_text())
    assert document["metadata"]["tracin"]["normalize"] == "relatif"
    assert document["metadata"]["run_settings"]["tracin.normalize"] == "relatif"


def test_cli_normalize_choices_come_from_the_registry(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    names = sorted(k for k in NORMALIZATIONS if k)
    assert "--normalize {" + ",".join(names) + "}" in text
    assert "cosine divides each checkpoint's gradient inner product" in text
    with pytest.raises(SystemExit):
        main(["explain", "--checkpoints", "x", "--normalize", "l2"])
    assert "invalid choice: 'l2'" in capsys.readouterr().err
