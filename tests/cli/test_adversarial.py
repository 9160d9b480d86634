"""Malformed-input corpus: every boundary refuses with one line naming the thing.

Table-driven: a new boundary gets a new row. Python rows call the public API and expect an
exception type and fragments of its message; CLI rows run ``kgif.cli.main`` in-process and
expect exit status 2, no traceback, and fragments of the ``error:`` line on stderr. The rules are
listed in docs/refusals.md. Every graph here is tiny (Nations, 14 entities, and a 3-entity
graph); the whole file runs in well under a minute on two CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import graph_checkpoints

import kgif
from kgif.cli import main
from kgif.data.datasets import load_dataset
from kgif.evaluation.predict import Query, predict_batch
from kgif.evaluation.ranks import evaluate
from kgif.explanation.paths import rank_paths
from kgif.influence.candidates import Adjacency, candidate_edges_batch
from kgif.model.checkpoint import save_checkpoint
from kgif.studies.faithfulness import run_faithfulness, select_edges, target_metrics


@pytest.fixture(scope="module")
def kg():
    return load_dataset("nations")


@pytest.fixture(scope="module")
def ckpts(kg):
    out = graph_checkpoints(kg)
    for c in out:
        c.config.extra["dataset"] = "nations"
    return out


@pytest.fixture(scope="module")
def tracin(kg, ckpts):
    return kgif.TracIn(ckpts, kg.training, show_progress=False)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ckpts):
    """A folder with the two checkpoints as ``epoch_0001.pt``, ``epoch_0002.pt``."""
    folder = tmp_path_factory.mktemp("run")
    for c in ckpts:
        save_checkpoint(c, folder / "checkpoints" / f"epoch_{c.epoch:04d}.pt")
    return folder


def refused(call, error, *fragments):
    with pytest.raises(error) as info:
        call()
    message = str(info.value.args[0]) if info.value.args else str(info.value)
    assert "\n" not in message.strip(), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def cli_refused(capsys, argv, *fragments):
    """``main(argv)`` exits 2 with one ``error:`` line holding every fragment, no traceback."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse refusals
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# --------------------------------------------------------------------------- 1. triples

T = torch.tensor
TRIPLE_CASES = [  # (id, bad triples, fragments of the message)
    ("negative-head", T([[-1, 23, 4]]), ["head id -1", "0..13"]),
    ("negative-relation", T([[1, -1, 4]]), ["relation id -1", "0..54"]),
    ("relation-too-big", T([[1, 55, 4]]), ["relation id 55", "0..54"]),
    ("tail-too-big", T([[1, 0, 14]]), ["tail id 14", "0..13"]),
    ("float-ids", T([[1.0, 0.0, 12.7]]), ["float", "integer"]),
    ("bool-ids", T([[True, False, True]]), ["torch.bool", "integer"]),
    ("four-columns", T([[1, 0, 2, 3]]), ["shape (1, 4)", "(n, 3)"]),
    ("one-dimensional", T([1, 0, 2]), ["shape (3,)", "(n, 3)"]),
    ("ragged-list", [[1, 0, 2], [1, 0]], ["rectangular"]),
    ("string", "1 0 2", ["str"]),
]


def _explain(tracin, kg, ckpts, bad):
    return kgif.explain(tracin, bad, 2)


def _tracin_train(tracin, kg, ckpts, bad):
    return kgif.TracIn(ckpts, bad, show_progress=False)


def _top(tracin, kg, ckpts, bad):
    return tracin.top_influences(bad, 2)


def _influence(tracin, kg, ckpts, bad):
    return tracin.influence(bad)


def _train_arg(tracin, kg, ckpts, bad):
    return tracin.self_influence(bad)


def _evaluate(tracin, kg, ckpts, bad):
    c = ckpts[0]
    return evaluate(c.params, c.buffers, c.config, bad, kg.training)


def _candidates(tracin, kg, ckpts, bad):
    return candidate_edges_batch(Adjacency.from_triples(kg.training, kg.num_entities), bad)


def _paths(tracin, kg, ckpts, bad):
    return rank_paths(tracin, bad, Adjacency.from_triples(kg.training, kg.num_entities))


def _select(tracin, kg, ckpts, bad):
    return select_edges("random", ckpts, kg.training, bad, 2)


def _targets(tracin, kg, ckpts, bad):
    return target_metrics(ckpts[0], bad, kg.all_triples())


TRIPLE_FUNCTIONS = [  # (public function, its name in the message, argument)
    (_explain, "kgif.explain", "test_triples"),
    (_tracin_train, "TracIn", "train_triples"),
    (_top, "TracIn.top_influences", "test_triples"),
    (_influence, "TracIn.influence", "test_triples"),
    (_train_arg, "TracIn", "train_triples"),
    (_evaluate, "evaluate", "triples"),
    (_select, "select_edges", "targets"),
    (_targets, "target_metrics", "targets"),
]


@pytest.mark.parametrize("case", TRIPLE_CASES, ids=[c[0] for c in TRIPLE_CASES])
@pytest.mark.parametrize("function", TRIPLE_FUNCTIONS, ids=[f[1] for f in TRIPLE_FUNCTIONS])
def test_bad_triples_are_refused(tracin, kg, ckpts, function, case):
    call, where, name = function
    _, bad, fragments = case
    refused(lambda: call(tracin, kg, ckpts, bad), ValueError, f"{where}: {name}", *fragments)


@pytest.mark.parametrize("case", [c for c in TRIPLE_CASES if c[0] not in
                                  ("negative-relation", "relation-too-big", "one-dimensional")],
                         ids=lambda c: c[0])
def test_bad_triples_refused_by_candidates(kg, case):
    _, bad, fragments = case
    refused(lambda: _candidates(None, kg, None, bad), ValueError,
            "candidate_edges_batch: test_triples", *fragments)


@pytest.mark.parametrize("bad, fragments", [
    (T([-1, 0, 3]), ["rank_paths: test_triple", "head id -1"]),
    (T([1.5, 0, 3]), ["rank_paths: test_triple", "float"]),
    (T([1, 0, 3, 4]), ["rank_paths: test_triple", "(1, 4)"]),
    (T([[1, 0, 3], [1, 0, 4]]), ["rank_paths: test_triple", "one triple"]),
])
def test_rank_paths_refuses_bad_triple(tracin, kg, bad, fragments):
    refused(lambda: _paths(tracin, kg, None, bad), ValueError, *fragments)


def test_good_triples_still_explained(tracin):
    """The checks refuse only what is wrong: a list, an int32 tensor and int64 all work."""
    for good in ([[1, 0, 3]], T([[1, 0, 3]], dtype=torch.int32), T([[13, 54, 0]])):
        assert len(kgif.explain(tracin, good, 2, train_triples=T([[1, 0, 2], [3, 1, 4]]),
                                self_influence=False)) == 1


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_explain_refuses_bad_k(tracin, k):
    refused(lambda: kgif.explain(tracin, T([[1, 0, 3]]), k), ValueError, "k=", "integer >= 1")


@pytest.mark.parametrize("query, fragment", [
    (Query(1.5, 0, "tail"), "entity=1.5"), (Query(1, True, "tail"), "relation=True"),
    (Query(-1, 0, "tail"), "outside the graph")])
def test_predict_refuses_bad_query(kg, ckpts, query, fragment):
    refused(lambda: predict_batch(ckpts[0], kg, [query]), ValueError, "predict: query 0",
            fragment)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"batch_size": -5}, "batch_size=-5"), ({"batch_size": 0}, "batch_size=0"),
    ({"k": 0}, "k=0")])
def test_predict_refuses_bad_counts(kg, ckpts, kwargs, fragment):
    refused(lambda: predict_batch(ckpts[0], kg, [Query(1, 0, "tail")], **kwargs), ValueError,
            fragment, "integer >= 1")


# --------------------------------------------------------------------------- 4. arguments

ARGUMENT_CASES = [  # (id, argv after the command's fixed part, fragments)
    ("predict-batch-negative", ["predict", "--checkpoint", "C", "--batch-size", "-5"],
     ["--batch-size", "integer >= 1", "-5"]),
    ("predict-batch-zero", ["predict", "--checkpoint", "C", "--batch-size", "0"],
     ["--batch-size", "integer >= 1"]),
    ("predict-top-k-float", ["predict", "--checkpoint", "C", "--top-k", "2.5"],
     ["--top-k", "integer"]),
    ("report-top-zero", ["report", "R", "--top", "0"], ["--top", "integer >= 1"]),
    ("faithfulness-max-rank-nan", ["faithfulness", "--dataset", "nations", "--max-rank", "nan"],
     ["--max-rank", "finite"]),
    ("faithfulness-lr-negative", ["faithfulness", "--dataset", "nations", "--learning-rate",
                                  "-0.1"], ["--learning-rate", "> 0"]),
    ("convert-lr-inf", ["convert", "--from", "seed", "--input", "x.pt", "--output", "y.pt",
                        "--learning-rate", "inf"], ["--learning-rate", "finite"]),
    ("train-dropout-one", ["train", "--dataset", "nations", "--input-dropout", "1"],
     ["--input-dropout", "< 1"]),
    ("train-epochs-zero", ["train", "--dataset", "nations", "--epochs", "0"],
     ["--epochs", "integer >= 1"]),
    ("train-lr-nan", ["train", "--dataset", "nations", "--learning-rate", "nan"],
     ["--learning-rate", "finite"]),
    ("train-smoothing-negative", ["train", "--dataset", "nations", "--label-smoothing", "-1"],
     ["--label-smoothing", ">= 0"]),
    ("explain-path-length-4", ["explain", "--checkpoints", "C", "--paths", "--path-lengths",
                               "1", "4"], ["--path-lengths", "<= 3"]),
]


@pytest.mark.parametrize("case", ARGUMENT_CASES, ids=[c[0] for c in ARGUMENT_CASES])
def test_numeric_flags_refused(capsys, case):
    _, argv, fragments = case
    cli_refused(capsys, argv, *fragments)


def _explain_argv(run_dir, *extra):
    return ["explain", "--checkpoints", run_dir / "checkpoints", "--test-triple", "usa",
            "intergovorgs", "uk", "--no-progress", *extra]


COMBINATION_CASES = [  # checked before any checkpoint is loaded or TracIn pass runs
    ("path-lengths-without-paths", ["--path-lengths", "1", "2"], ["--path-lengths", "--paths"]),
    ("max-paths-without-paths", ["--max-paths", "5"], ["--max-paths", "--paths"]),
    ("path-lengths-reversed", ["--paths", "--path-lengths", "3", "1"], ["MIN must be <= MAX"]),
    ("min-degree-alone", ["--min-degree", "2"], ["--min-degree needs --filter-hops"]),
]


@pytest.mark.parametrize("case", COMBINATION_CASES, ids=[c[0] for c in COMBINATION_CASES])
def test_flag_combinations_refused_before_work(capsys, tmp_path, case):
    _, extra, fragments = case
    missing = tmp_path / "no-such-checkpoints"  # never read: the refusal comes first
    cli_refused(capsys, ["explain", "--checkpoints", missing, "--test-triple", "a", "b", "c",
                         *extra], *fragments)


def test_output_paths_checked_first(capsys, tmp_path, run_dir):
    ckpt = run_dir / "checkpoints" / "epoch_0001.pt"
    folder = tmp_path / "fa"
    folder.mkdir()
    cases = [
        (["faithfulness", "--dataset", "nations", "--output", folder], ["is a folder"]),
        (["evaluate", "--checkpoint", ckpt, "--output", ckpt],
         ["--output", "is the input --checkpoint"]),
        (["convert", "--from", "seed", "--input", ckpt, "--output", ckpt],
         ["--output", "is the input --input"]),
        (["convert", "--from", "seed", "--input", run_dir / "checkpoints", "--output",
          run_dir / "checkpoints"], ["is the input --input"]),
        (["report", run_dir, "--html", run_dir / "run.json"], ["--html", ".html"]),
        (["report", run_dir, "--html", run_dir], ["--html", "is a folder"]),
        (["predict", "--checkpoint", ckpt, "--head", "usa", "--relation", "intergovorgs",
          "--output", ckpt], ["--output", ".json or .csv"]),
        (["predict", "--checkpoint", ckpt, "--file", tmp_path / "q.csv", "--output",
          tmp_path / "q.csv"], ["is the input --file"]),
        (_explain_argv(run_dir, "--output-dir", ckpt), ["--output-dir", "is a file"]),
        (["train", "--dataset", "nations", "--output-dir", ckpt], ["--output-dir", "is a file"]),
    ]
    for argv, fragments in cases:
        cli_refused(capsys, argv, *fragments)
    assert ckpt.stat().st_size > 0


def test_faithfulness_output_folder_refused_before_training(capsys, tmp_path, monkeypatch):
    import kgif.studies.faithfulness as study

    monkeypatch.setattr(study, "run_faithfulness", lambda *a, **k: pytest.fail("trained"))
    (tmp_path / "fa").mkdir()
    cli_refused(capsys, ["faithfulness", "--dataset", "nations", "--output", tmp_path / "fa"],
                "faithfulness: --output", "is a folder")


def test_kelpie_only_method_refused_in_the_other_protocols(capsys, monkeypatch):
    import kgif.studies.faithfulness as study

    monkeypatch.setattr(study, "run_faithfulness", lambda *a, **k: pytest.fail("trained"))
    cli_refused(capsys, ["faithfulness", "--dataset", "nations", "--methods", "tracin",
                         "tracin_margin"],
                "faithfulness: --methods ['tracin_margin'] exist only with --protocol kelpie")


# --------------------------------------------------------------------------- 5. lost files


def test_second_train_into_locked_folder_refused(capsys, tmp_path):
    from kgif._lock import output_lock

    out = tmp_path / "run"
    out.mkdir()
    with output_lock(out):  # held by "another run" (a second open file: flock conflicts)
        cli_refused(capsys, ["train", "--dataset", "nations", "--epochs", "1", "--output-dir",
                             out, "--no-progress"], "train:", "in use by another kgif run")
    assert not (out / "checkpoints").exists()


def tiny_graph():
    """3 entities, 1 relation, 3 training triples."""
    from kgif.data.graph import KnowledgeGraph

    return KnowledgeGraph({"a": 0, "b": 1, "c": 2}, {"r": 0}, T([[0, 0, 1], [1, 0, 2], [2, 0, 0]]),
                          name="tiny")


def test_resume_from_middle_into_own_folder_refused(tmp_path):
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig, train

    kg = tiny_graph()
    small = ConvEConfig(embedding_dim=8, embedding_height=2, embedding_width=4,
                        output_channels=2)
    tc = TrainingConfig(epochs=3, checkpoint_every=1, eval_every=0, batch_size=64)
    out = tmp_path / "run"
    train(kg, small, tc, output_dir=out, show_progress=False)
    files = sorted((out / "checkpoints").iterdir())
    before = {p.name: p.read_bytes() for p in files}
    refused(lambda: train(kg, small, TrainingConfig(epochs=3, checkpoint_every=1, eval_every=0,
                                                    batch_size=64),
                          output_dir=out, resume_from=files[0], show_progress=False),
            ValueError, "resuming from epoch 1", "later checkpoints", "epoch 2")
    assert {p.name: p.read_bytes() for p in sorted((out / "checkpoints").iterdir())} == before
    # resuming into another folder is a new place for the continuation: allowed
    train(kg, small, tc, output_dir=tmp_path / "other", resume_from=files[0],
          show_progress=False)
    assert Path(tmp_path / "other" / "checkpoints").is_dir()


@pytest.mark.parametrize("kwargs, fragments", [
    ({"ks": (3,)}, ["k=3", "3 training triples"]),
    ({"ks": (1,)}, ["no test split"]),
    ({"ks": (1,), "targets": T([[0, 0, 7]])}, ["targets row 0", "tail id 7"]),
    ({"ks": (1.5,)}, ["k=1.5", "integer"]),
])
def test_faithfulness_refuses_before_training(kwargs, fragments):
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig

    refused(lambda: run_faithfulness(tiny_graph(), ConvEConfig(embedding_dim=8),
                                     TrainingConfig(epochs=1), **kwargs),
            ValueError, "run_faithfulness:", *fragments)


# --------------------------------------------------------------------------- 6. raw tracebacks


def _crafted_checkpoint(tmp_path, ckpts, change):
    """A checkpoint file whose metadata or tensors ``change`` edits (as a forger would)."""
    path = tmp_path / "crafted.pt"
    save_checkpoint(ckpts[0], path)
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


CHECKPOINT_CASES = [  # (id, change, fragments)
    ("extra-config-field", lambda p: p["config"].update(colour="red"), ["unknown field",
                                                                         "colour"]),
    ("string-embedding-dim", lambda p: p["config"].update(embedding_dim="12"),
     ["embedding_dim='12'", "integer"]),
    ("learning-rate-none", lambda p: p.update(learning_rate=None),
     ["'learning_rate' is None", "number"]),
    ("params-list", lambda p: p.update(params=list(p["params"].values())),
     ["params is a list", "map of names to tensors"]),
    ("mixed-dtypes", lambda p: p["params"].update(
        {"fc.bias": p["params"]["fc.bias"].float()}), ["mix dtypes"]),
    ("int64-weight", lambda p: p["params"].update(
        {"fc.weight": p["params"]["fc.weight"].long()}), ["'fc.weight'", "torch.int64",
                                                            "floating"]),
    ("epoch-string", lambda p: p.update(epoch="2"), ["'epoch' is '2'", "integer"]),
]


@pytest.mark.parametrize("case", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_crafted_checkpoints_refused(tmp_path, capsys, ckpts, case):
    _, change, fragments = case
    path = _crafted_checkpoint(tmp_path, ckpts, change)
    refused(lambda: kgif.load_checkpoint(path), ValueError, str(path), *fragments)
    cli_refused(capsys, ["evaluate", "--checkpoint", path, "--dataset", "nations"], *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_cuda_map_location_without_gpu_is_named(run_dir):
    refused(lambda: kgif.load_checkpoints(run_dir / "checkpoints", map_location="cuda"),
            ValueError, "map_location", "no CUDA device")


def test_convert_config_with_wrong_kind(capsys, tmp_path, ckpts):
    from helpers import pykeen_state

    from kgif.interop.pykeen import from_pykeen

    c = ckpts[0]
    path = tmp_path / "pykeen.pt"
    torch.save(pykeen_state(c.params, c.buffers), path)
    refused(lambda: from_pykeen(path, config={"embedding_height": "four", "reciprocal": True},
                                learning_rate=0.1),
            ValueError, "embedding_height='four'", "integer")


PREDICTION_FILES = [  # (id, file text, fragments)
    ("list-for-object", '{"predictions": [[1, 2, 3]]}', ["prediction 1", "is a list"]),
    ("string-rank", '{"predictions": [{"query": 0, "rank": "first", "head_label": "usa", '
                    '"relation_label": "intergovorgs", "tail_label": "uk"}]}',
     ["rank 'first'", "not an integer"]),
    ("float-rank", '{"predictions": [{"query": 0, "rank": 1.5, "head_label": "usa", '
                   '"relation_label": "intergovorgs", "tail_label": "uk"}]}', ["rank 1.5"]),
    ("label-number", '{"predictions": [{"query": 0, "rank": 1, "head_label": 3, '
                     '"relation_label": "intergovorgs", "tail_label": "uk"}]}',
     ["head_label=3", "label string"]),
    ("deep-nesting", "[" * 100_000 + "]" * 100_000, ["nests JSON too deeply"]),
    ("not-json", "{predictions", ["not valid JSON", "line 1"]),
    ("metadata-list", '{"predictions": [], "metadata": [1]}', ["'metadata' is a list"]),
]


@pytest.mark.parametrize("case", PREDICTION_FILES, ids=[c[0] for c in PREDICTION_FILES])
def test_malformed_predictions_refused(capsys, tmp_path, run_dir, case):
    _, text, fragments = case
    path = tmp_path / "p.json"
    path.write_text(text, encoding="utf-8")
    cli_refused(capsys, ["explain", "--checkpoints", run_dir / "checkpoints", "--predictions",
                         path, "--no-progress"], "read_predictions", *fragments)


def test_latin1_predictions_named(capsys, tmp_path, run_dir):
    path = tmp_path / "p.json"
    path.write_bytes('{"predictions": [], "x": "caf\u00e9"}'.encode("latin-1"))
    cli_refused(capsys, ["explain", "--checkpoints", run_dir / "checkpoints", "--predictions",
                         path], str(path), "not valid UTF-8")


def test_non_regular_inputs_refused_before_reading(capsys, tmp_path, run_dir):
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.pt"
    zero.symlink_to("/dev/zero")
    cli_refused(capsys, ["explain", "--checkpoints", run_dir / "checkpoints", "--predictions",
                         fifo], "FIFO", "regular file")
    cli_refused(capsys, ["evaluate", "--checkpoint", zero, "--dataset", "nations"],
                "is a device", "regular file")
    queries = tmp_path / "q.tsv"
    queries.write_bytes("usa\tintergovorgs\t?\ncaf\u00e9\tx\t?\n".encode("latin-1"))
    cli_refused(capsys, ["predict", "--checkpoint", run_dir / "checkpoints" / "epoch_0001.pt",
                         "--file", queries], "line 2", "not valid UTF-8")


# --------------------------------------------------------------------------- 3. text


@pytest.mark.parametrize("label", ["a\x00b", "esc\x1b[31mred", "cr\rinside", "del\x7f",
                                   "c1\x85", "sep\u2028x"])
def test_control_characters_in_labels_refused_with_line(tmp_path, label):
    from kgif.data.tsv import read_encoded_triples

    path = tmp_path / "train.txt"
    path.write_bytes(f"a\tr\tb\n{label}\tr\tb\n".encode())
    refused(lambda: read_encoded_triples(path, "load"), ValueError, str(path), "line 2",
            "control character")


def test_control_characters_refused_in_python_graph():
    from kgif.data.graph import KnowledgeGraph

    refused(lambda: KnowledgeGraph({"a": 0, "b\x1b": 1}, {"r": 0}, T([[0, 0, 1]])),
            ValueError, "KnowledgeGraph: entity label", "U+001B")


def test_dollar_names_render_literally():
    """'$a$' stays text: with math parsing it would draw an italic 'a' and drop the dollars."""
    pytest.importorskip("matplotlib")
    from kgif.data.graph import KnowledgeGraph
    from kgif.explanation.explanation import Explanation, Influence
    from kgif.explanation.plot import plot_explanation

    kg = KnowledgeGraph({"$a$": 0, "b": 1, "$\\frac{1}{0}$": 2}, {"r": 0},
                        T([[0, 0, 1], [1, 0, 2]]))
    ex = Explanation((0, 0, 2), None, [Influence(0, (0, 0, 1), 1.0, None, "proponent", 1)], [])
    fig = plot_explanation(ex, kg)
    texts = [t for t in fig.findobj() if hasattr(t, "get_parse_math")
             and "$" in t.get_text()]
    assert texts and not any(t.get_parse_math() for t in texts)


# --------------------------------------------------------------------------- 2. graph identity


@pytest.fixture(scope="module")
def nations_explanations(tracin):
    return kgif.explain(tracin, T([[1, 0, 3]]), 2, train_triples=T([[1, 0, 2], [3, 1, 4]]))


def _umls():
    return load_dataset("umls")


GRAPH_CONSUMERS = [  # (name, call with explanations and a graph)
    ("to_dataframe", lambda ex, g, tmp: kgif.to_dataframe(ex, g)),
    ("write_csv", lambda ex, g, tmp: kgif.write_csv(tmp / "e.csv", ex, g)),
    ("to_json", lambda ex, g, tmp: kgif.write_json(tmp / "e.json", ex, g)),
    ("explanation_subgraph", lambda ex, g, tmp: kgif.plot_explanation(ex[0], g)),
    ("explanation_subgraph", lambda ex, g, tmp: kgif.write_network(ex[0], g, tmp / "n",
                                                                   "graphml")),
    ("format_explanation", lambda ex, g, tmp: __import__(
        "kgif.explanation.tables", fromlist=["x"]).format_explanation(ex[0], g)),
]


@pytest.mark.parametrize("consumer", GRAPH_CONSUMERS, ids=[c[0] for c in GRAPH_CONSUMERS])
def test_explanations_refused_on_another_graph(tmp_path, kg, nations_explanations, consumer):
    where, call = consumer
    if where == "to_dataframe":
        pytest.importorskip("pandas")
    if where == "explanation_subgraph":
        pytest.importorskip("networkx")
    umls = _umls()
    refused(lambda: call(nations_explanations, umls, tmp_path), ValueError, f"{where}:",
            kg.fingerprint, umls.fingerprint)
    assert not list(tmp_path.iterdir())
    call(nations_explanations, kg, tmp_path)  # the right graph works


def test_fingerprint_changes_with_any_label():
    from kgif.data.graph import graph_fingerprint

    base = graph_fingerprint({"a": 0, "b": 1}, {"r": 0})
    assert base == graph_fingerprint({"b": 1, "a": 0}, {"r": 0})
    for other in (graph_fingerprint({"a": 1, "b": 0}, {"r": 0}),
                  graph_fingerprint({"a": 0, "c": 1}, {"r": 0}),
                  graph_fingerprint({"a": 0, "b": 1}, {"s": 0}),
                  graph_fingerprint({"a": 0}, {"b": 0, "r": 1})):
        assert other != base


def test_old_checkpoint_without_id_maps_loads_and_warns(tmp_path, kg, ckpts, caplog):
    import dataclasses

    anonymous = [dataclasses.replace(c, entity_to_id={}, relation_to_id={}) for c in ckpts]
    path = tmp_path / "old.pt"
    save_checkpoint(anonymous[0], path)
    assert kgif.load_checkpoint(path).graph_fingerprint is None
    tr = kgif.TracIn(anonymous, kg.training, show_progress=False)
    ex = kgif.explain(tr, T([[1, 0, 3]]), 1, train_triples=T([[1, 0, 2]]))
    assert ex[0].graph is None
    with caplog.at_level("WARNING"):
        kgif.write_csv(tmp_path / "e.csv", ex, _umls())  # not checked, but said so
    assert "no graph fingerprint" in caplog.text


def test_checkpoint_with_edited_id_maps_refused(tmp_path, ckpts):
    path = _crafted_checkpoint(tmp_path, ckpts, lambda p: p["entity_to_id"].update(
        {"usa": p["entity_to_id"]["uk"], "uk": p["entity_to_id"]["usa"]}))
    refused(lambda: kgif.load_checkpoint(path), ValueError, "graph_fingerprint",
            "edited or damaged")


def test_predictions_of_another_graph_refused(tmp_path, kg, ckpts):
    from kgif.explanation.tables import read_predictions

    rows = predict_batch(ckpts[0], kg, [Query(1, 0, "tail")], 2)
    path = tmp_path / "p.json"
    kgif.write_predictions(path, rows, {"graph_fingerprint": "0123456789abcdef"})
    refused(lambda: read_predictions(path, kg), ValueError, "0123456789abcdef", kg.fingerprint)


TRICKY_NAMES = ["<b>&amp;</b>", "quote\"'", "$a$", "$x^$", "$\\badcommand$", "$\\frac{1}{0}$",
                "x]]>y", "\u202eevil", "non\u00a0breaking", "caf\u00e9"]


def _tricky_graph():
    from kgif.data.graph import KnowledgeGraph

    labels = {name: i for i, name in enumerate(TRICKY_NAMES)}
    n = len(labels)
    train = T([[i, 0, (i + 1) % n] for i in range(n)])
    return KnowledgeGraph(labels, {"<rel & $r$>": 0}, train,
                          entity_names={i: f"name {name}" for name, i in labels.items()},
                          entity_kinds={i: "Kind<&>" for i in range(n)}, name="tricky")


def test_every_graphml_and_svg_with_tricky_names_is_xml(tmp_path):
    """Printable names that XML, SVG and mathtext treat specially: all files parse as XML."""
    pytest.importorskip("networkx")
    pytest.importorskip("matplotlib")
    from xml.etree import ElementTree

    from kgif.explanation.explanation import Explanation, Influence
    from kgif.explanation.plot import write_figures

    kg = _tricky_graph()
    n = kg.num_entities
    written = []
    for j in range(n):
        ex = Explanation((j, 0, (j + 2) % n), None,
                         [Influence(j, tuple(kg.training[j].tolist()), 1.0, None, "proponent", 1)],
                         [Influence((j + 1) % n, tuple(kg.training[(j + 1) % n].tolist()), -1.0,
                                    None, "opponent", 1)])
        written.append(kgif.write_network(ex, kg, tmp_path / f"n{j}", "graphml"))
        write_figures(ex, kg, tmp_path / f"f{j}")
    written += sorted(tmp_path.glob("*.svg"))
    assert len(written) == 2 * n
    for path in written:
        ElementTree.parse(path)  # raises ParseError on invalid XML


def test_long_names_are_printed_whole_in_terminal_output(tracin):
    """Nothing that identifies an entity is cut (a biologist must be able to look it up); the
    HTML report wraps long names instead (tests/jobs/test_report_page.py)."""
    from kgif.data.graph import KnowledgeGraph
    from kgif.explanation.explanation import Explanation, Influence
    from kgif.explanation.tables import format_explanation

    kg = KnowledgeGraph({"a" * 5000: 0, "b": 1, "c": 2}, {"r" * 3000: 0},
                        T([[0, 0, 1], [1, 0, 2]]))
    ex = Explanation((0, 0, 2), 1.0, [Influence(0, (0, 0, 1), 1.0, None, "proponent", 1)], [])
    text = format_explanation(ex, kg)
    assert "a" * 5000 in text and "r" * 3000 in text and "\u2026" not in text


@pytest.mark.parametrize("call, fragments", [
    (lambda tr, kg: tr.top_influences(T([[1, 0, 3]]), 2, candidates=[T([0.5])]),
     ["TracIn: candidates[0]", "float"]),
    (lambda tr, kg: tr.top_influences(T([[1, 0, 3]]), 2, candidates=[T([True])]),
     ["TracIn: candidates[0]", "bool"]),
    (lambda tr, kg: __import__("kgif.studies.faithfulness", fromlist=["x"]).delete_edges(
        kg, T([1.5])), ["delete_edges: rows", "float"]),
    (lambda tr, kg: kgif.explain(tr, torch.empty(1, 3, dtype=torch.long, device="meta"), 1),
     ["meta device"]),
])
def test_row_ids_and_devices_refused(tracin, kg, call, fragments):
    refused(lambda: call(tracin, kg), ValueError, *fragments)
