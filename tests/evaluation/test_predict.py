"""Link prediction: top-k against a brute-force float64 sort, known edges, kinds, files, CLI."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest
import torch
from helpers import small_conve
from tolerances import ATOL64, RTOL64

from kgif.cli import main
from kgif.data.datasets import load_dataset
from kgif.data.tsv import write_label_triples
from kgif.evaluation.predict import (
    PREDICTION_COLUMNS,
    Query,
    make_query,
    predict,
    predict_batch,
    read_queries,
)
from kgif.explanation.tables import read_predictions
from kgif.model.checkpoint import Checkpoint, save_checkpoint
from kgif.model.conve import score_hrt

# A small typed graph: compounds treat diseases and bind genes, diseases associate with genes.
KINDS = {"Compound": ["c0", "c1", "c2", "c3"], "Disease": ["d0", "d1", "d2"],
         "Gene": ["g0", "g1", "g2", "g3", "g4"]}
NAMES = {"c0": "Aspirin", "c1": "Doxorubicin", "c2": "Metformin", "c3": "Imatinib",
         "d0": "asthma", "d1": "breast cancer", "d2": "diabetes"}
TRAIN = ([("c0", "treats", "d0"), ("c1", "treats", "d1"), ("c2", "treats", "d2"),
          ("c3", "treats", "d1")]
         + [(c, "binds", g) for c, g in (("c0", "g0"), ("c1", "g1"), ("c1", "g2"), ("c2", "g3"),
                                         ("c3", "g4"), ("c3", "g1"), ("c0", "g2"))]
         + [(d, "associates", g) for d, g in (("d0", "g0"), ("d1", "g1"), ("d1", "g4"),
                                              ("d2", "g3"), ("d0", "g2"))])
VALID = [("c1", "treats", "d0")]
TEST = [("c0", "treats", "d2")]


def _write_dataset(folder):
    folder.mkdir(parents=True)
    for split, rows in (("train", TRAIN), ("valid", VALID), ("test", TEST)):
        write_label_triples(folder / f"{split}.txt", rows)
    lines = ["id\tname\tkind"] + [f"{e}\t{NAMES.get(e, '')}\t{kind}"
                                  for kind, ids in KINDS.items() for e in ids]
    (folder / "entities.tsv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def kg(tmp_path):
    return load_dataset(_write_dataset(tmp_path / "typed"))


def _checkpoint(kg, seed=0, dtype=torch.float64):
    config, params, buffers = small_conve(seed=seed, num_entities=kg.num_entities,
                                          num_relations=kg.num_relations, dtype=dtype)
    config = replace(config, extra={"dataset": str(kg.name)})
    return Checkpoint(params, buffers, config, 0.1, epoch=1, entity_to_id=kg.entity_to_id,
                      relation_to_id=kg.relation_to_id)


def _brute_force(ckpt, kg, query: Query, k, filter_known=True, type_constrained=True):
    """Score each entity alone in float64 and sort by (-logit, id) in plain Python."""
    known = {tuple(t) for t in kg.all_triples().tolist()}
    kinds_seen = {kg.entity_kinds[t if query.side == "tail" else h]
                  for h, r, t in kg.training.tolist() if r == query.relation}
    row = 2 * query.relation + (query.side == "head")
    out = []
    for e in range(kg.num_entities):
        triple = ((query.entity, query.relation, e) if query.side == "tail"
                  else (e, query.relation, query.entity))
        if type_constrained and kg.entity_kinds[e] not in kinds_seen:
            continue
        if filter_known and triple in known:
            continue
        hrt = torch.tensor([[query.entity, row, e]])
        out.append((float(score_hrt(ckpt.params, ckpt.buffers, hrt, ckpt.config)), e,
                    triple in known))
    return sorted(out, key=lambda x: (-x[0], x[1]))[:k]


def _check_against(rows, expected):
    assert [r["entity"] for r in rows] == [e for _, e, _ in expected]
    assert [r["rank"] for r in rows] == list(range(1, len(expected) + 1))
    assert [r["known"] for r in rows] == [known for _, _, known in expected]
    torch.testing.assert_close(torch.tensor([r["logit"] for r in rows], dtype=torch.float64),
                               torch.tensor([s for s, _, _ in expected], dtype=torch.float64),
                               rtol=RTOL64, atol=ATOL64)
    for r in rows:
        logit = torch.tensor(r["logit"], dtype=torch.float64)
        assert r["probability"] == pytest.approx(torch.sigmoid(logit).item(), rel=1e-12)


@pytest.mark.parametrize("filter_known", [True, False])
@pytest.mark.parametrize("type_constrained", [True, False])
@pytest.mark.parametrize("side", ["tail", "head"])
def test_predict_matches_brute_force_sort(kg, side, filter_known, type_constrained):
    ckpt = _checkpoint(kg, seed=3)
    queries = [Query(kg.resolve_entity(x), kg.resolve_relation(r), side)
               for x, r in (("c1", "treats"), ("c0", "binds"), ("d1", "associates"),
                            ("g1", "binds"), ("d0", "treats"))]
    rows = predict_batch(ckpt, kg, queries, k=6, filter_known=filter_known,
                         type_constrained=type_constrained, batch_size=2)
    for i, query in enumerate(queries):
        got = [r for r in rows if r["query"] == i]
        _check_against(got, _brute_force(ckpt, kg, query, 6, filter_known, type_constrained))
        assert all(r["side"] == side for r in got)


def test_predict_rows_name_the_triple_and_respect_kinds(kg):
    ckpt = _checkpoint(kg)
    rows = predict(ckpt, kg, head="doxorubicin", relation="treats", k=5)
    # d1 is a training answer and d0 a validation answer of (c1, treats, ?): both filtered
    assert [r["entity_label"] for r in rows] == ["d2"]
    row = rows[0]
    assert (row["head_label"], row["relation_label"], row["tail_label"]) == ("c1", "treats", "d2")
    assert (row["head_name"], row["head_kind"], row["tail_kind"]) == ("Doxorubicin", "Compound",
                                                                      "Disease")
    assert row["entity_name"] == "diabetes" and set(row) == set(PREDICTION_COLUMNS)
    kept = predict(ckpt, kg, head="c1", relation="treats", k=5, filter_known=False)
    assert {r["entity_label"]: r["known"] for r in kept} == {"d0": True, "d1": True, "d2": False}
    heads = predict(ckpt, kg, relation="treats", tail="breast cancer", k=10)
    assert {r["entity_label"] for r in heads} == {"c0", "c2"}  # c1, c3 treat d1 in training
    assert all(r["tail_label"] == "d1" and r["side"] == "head" for r in heads)


def test_ties_are_broken_by_smaller_id(kg):
    ckpt = _checkpoint(kg)
    e = ckpt.params["entity_embedding"].clone()
    b = ckpt.params["entity_bias"].clone()
    g = [kg.resolve_entity(x) for x in ("g0", "g1", "g2", "g3", "g4")]
    e[g] = e[g[2]].clone()  # all genes score alike
    b[g] = b[g[2]].clone()
    ckpt.params = {**ckpt.params, "entity_embedding": e, "entity_bias": b}
    rows = predict(ckpt, kg, head="d2", relation="associates", k=10)
    assert [r["entity"] for r in rows] == sorted(set(g) - {kg.resolve_entity("g3")})


def test_predict_refuses_nonfinite_scores_and_foreign_checkpoints(kg):
    ckpt = _checkpoint(kg)
    e = ckpt.params["entity_embedding"].clone()
    e[kg.resolve_entity("d2")] = float("nan")
    broken = replace(ckpt, params={**ckpt.params, "entity_embedding": e})
    with pytest.raises(ValueError, match=r"Doxorubicin --treats--> \?.*non-finite"):
        predict(broken, kg, head="c1", relation="treats")
    foreign = replace(ckpt, entity_to_id={**kg.entity_to_id, "x": kg.num_entities})
    with pytest.raises(ValueError, match="entity ids"):
        predict(foreign, kg, head="c1", relation="treats")
    with pytest.raises(ValueError, match="exactly one of head and tail"):
        predict(ckpt, kg, head="c1", relation="treats", tail="d1")
    with pytest.raises(ValueError, match="k=0; expected an integer >= 1"):
        predict(ckpt, kg, head="c1", relation="treats", k=0)
    with pytest.raises(ValueError, match="query 1 .*outside the graph"):
        predict_batch(ckpt, kg, [Query(0, 0, "tail"), Query(kg.num_entities, 0, "tail")])
    with pytest.raises(ValueError, match="side='middle'"):
        predict_batch(ckpt, kg, [Query(0, 0, "middle")])
    plain = replace(ckpt, config=replace(ckpt.config, reciprocal=False),
                    params={**ckpt.params, "relation_embedding":
                            ckpt.params["relation_embedding"][:kg.num_relations]})
    assert predict_batch(plain, kg, [Query(0, 0, "tail")], k=1)  # tail queries still work
    with pytest.raises(ValueError, match="reciprocal"):
        predict_batch(plain, kg, [Query(0, 0, "head")])


def test_read_queries_format_and_errors(kg, tmp_path):
    path = tmp_path / "q.tsv"
    path.write_text("# drug repurposing\nDoxorubicin\ttreats\t?\n\n?\ttreats\tasthma\n")
    assert read_queries(path, kg) == [make_query(kg, "c1", "treats", None),
                                      make_query(kg, None, "treats", "d0")]
    for text, message in (("c1\ttreats\n", "line 1 of .*q.tsv has 2 tab-separated fields"),
                          ("# x\n?\ttreats\t?\n", "line 2 of .*exactly one"),
                          ("c1\ttreats\td1\n", "line 1 of .*exactly one")):
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_queries(path, kg)
    path.write_text("c1\ttreats\t?\nAspirn\ttreats\t?\n")
    with pytest.raises(KeyError, match="line 2 of .*Aspirin"):
        read_queries(path, kg)


def _saved(kg, tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(_checkpoint(kg, dtype=torch.float32), path)
    return path


def test_cli_predict_names_kinds_and_outputs(kg, tmp_path, capsys):
    model = _saved(kg, tmp_path)
    folder = tmp_path / "typed"
    code = main(["predict", "--checkpoint", str(model), "--dataset", str(folder), "--head",
                 "ASPIRIN", "--relation", "binds", "--top-k", "5", "--keep-known",
                 "--output", str(tmp_path / "p.json"), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Aspirin (c0) [Compound] --binds--> ?" in printed and "Gene" in printed
    assert "(known)" in printed  # g0 and g2 are training tails of Aspirin
    document = json.loads((tmp_path / "p.json").read_text())
    expected = predict(model, kg, head="c0", relation="binds", k=5, filter_known=False)
    assert document["predictions"] == expected
    assert document["metadata"]["dataset"] == kg.name and document["metadata"]["top_k"] == 5
    (tmp_path / "q.tsv").write_text("?\tassociates\tg1\nc3\ttreats\t?\n")
    code = main(["predict", "--checkpoint", str(model), "--dataset", str(folder), "--file",
                 str(tmp_path / "q.tsv"), "--output", str(tmp_path / "p.csv"), "--no-progress",
                 "--quiet"])
    assert code == 0
    with open(tmp_path / "p.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == PREDICTION_COLUMNS
    queries = read_queries(tmp_path / "q.tsv", kg)
    expected = predict_batch(model, kg, queries, k=20)
    assert [(r["query"], r["entity_label"], r["entity_kind"]) for r in rows] == [
        (str(r["query"]), r["entity_label"], r["entity_kind"]) for r in expected]


def test_cli_predict_errors(kg, tmp_path, capsys):
    model = _saved(kg, tmp_path)
    base = ["predict", "--checkpoint", str(model), "--dataset", str(tmp_path / "typed")]
    for extra, message in ((["--head", "Aspirin"], "need --relation"),
                           (["--head", "c0", "--tail", "d0", "--relation", "treats"], "not both"),
                           (["--head", "Asprin", "--relation", "treats"], "Aspirin"),
                           (["--head", "c0", "--relation", "treats", "--output", "p.txt"],
                            ".json or .csv")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err


def test_read_predictions_limit_and_provenance(kg, tmp_path):
    model = _saved(kg, tmp_path)
    folder = tmp_path / "typed"
    (tmp_path / "q.tsv").write_text("c0\tbinds\t?\n?\tassociates\tg3\n")
    assert main(["predict", "--checkpoint", str(model), "--dataset", str(folder), "--file",
                 str(tmp_path / "q.tsv"), "--output", str(tmp_path / "p.json"), "--quiet",
                 "--no-progress"]) == 0
    rows = json.loads((tmp_path / "p.json").read_text())["predictions"]
    top2 = [(r["head"], r["relation"], r["tail"]) for r in rows if r["rank"] <= 2]
    assert read_predictions(tmp_path / "p.json", kg, limit=2).tolist() == [list(t) for t in top2]
    other = load_dataset(_write_dataset(tmp_path / "other"))
    other.name = "another"
    with pytest.raises(ValueError, match="made on dataset"):
        read_predictions(tmp_path / "p.json", other)
    (tmp_path / "bad.csv").write_text("query,rank,head_label\n0,1,c0\n")
    with pytest.raises(ValueError, match="prediction 1 of .*bad.csv lacks"):
        read_predictions(tmp_path / "bad.csv", kg)
    (tmp_path / "bad.csv").write_text("query,rank,head_label,relation_label,tail_label\n"
                                      "0,1,c0,binds,g1\n0,first,c0,binds,g3\n")
    with pytest.raises(ValueError, match="prediction 2 of .*bad.csv has rank 'first'"):
        read_predictions(tmp_path / "bad.csv", kg)
    (tmp_path / "bad.csv").write_text("query,rank,head_label,relation_label,tail_label\n"
                                      "0,1,c0,binds,g9\n")
    with pytest.raises(KeyError, match="bad.csv.*g9"):
        read_predictions(tmp_path / "bad.csv", kg)


def test_predict_then_explain_in_two_commands(kg, tmp_path, capsys):
    from kgif.model.conve import ConvEConfig
    from kgif.training.loop import TrainingConfig, train

    folder = tmp_path / "typed"
    config = ConvEConfig(embedding_dim=12, embedding_height=3, embedding_width=4,
                         output_channels=4)
    train(kg, config, TrainingConfig(epochs=2, batch_size=8, checkpoint_every=1, eval_every=0),
          output_dir=tmp_path / "run", show_progress=False)
    (tmp_path / "q.tsv").write_text("Aspirin\tbinds\t?\n?\tassociates\tg3\n")
    assert main(["predict", "--checkpoint", str(tmp_path / "run" / "checkpoints" /
                                                "checkpoint_epoch_0002.pt"),
                 "--dataset", str(folder), "--file", str(tmp_path / "q.tsv"), "--output",
                 str(tmp_path / "p.json"), "--quiet", "--no-progress"]) == 0
    predicted = json.loads((tmp_path / "p.json").read_text())["predictions"]
    top2 = [[r["head"], r["relation"], r["tail"]] for r in predicted if r["rank"] <= 2]
    assert len(top2) == 4
    capsys.readouterr()
    assert main(["explain", "--checkpoints", str(tmp_path / "run" / "checkpoints"),
                 "--dataset", str(folder), "--predictions", str(tmp_path / "p.json"),
                 "--limit", "2", "--top-k", "3", "--output-dir", str(tmp_path / "out"),
                 "--no-progress"]) == 0
    assert "proponents by relation:" in capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "explanations.json").read_text())["results"]
    assert [[x["test_head"], x["test_relation"], x["test_tail"]] for x in results] == top2
    for x in results:
        counts = x["proponent_summary"]["by_relation"]
        assert sum(c["count"] for c in counts) == 3
        assert x["test_head_kind"] in KINDS and x["test_tail_kind"] in KINDS
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert len(summary) == 4 and all(row["proponent_relations"] for row in summary)
    assert all("->" in row["proponent_kinds"] for row in summary)
