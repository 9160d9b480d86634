"""Deletion-retraining faithfulness: deletion, retraining, selection, statistics, end to end."""

from __future__ import annotations

import importlib
import itertools

import pytest
import torch
from tolerances import ATOL32, RTOL32

from kgif.bench.faithfulness import toy_graph
from kgif.data.graph import KnowledgeGraph, with_reciprocals
from kgif.influence.tracin import TracIn
from kgif.model.conve import ConvEConfig
from kgif.studies import faithfulness as faith
from kgif.studies.faithfulness import (
    bootstrap_ci,
    delete_edges,
    markdown_table,
    retrain,
    run_faithfulness,
    select_edges,
    sign_flip_test,
    summarize,
    target_metrics,
)
from kgif.training.loop import TrainingConfig, train

# kgif.training.loop is also the function
train_module = importlib.import_module("kgif.training.loop")
CONFIG = ConvEConfig(embedding_dim=12, embedding_height=3, output_channels=2)
TC = TrainingConfig(epochs=2, checkpoint_every=1, eval_every=0, seed=3)


@pytest.fixture(scope="module")
def kg():
    return toy_graph()


@pytest.fixture(scope="module")
def checkpoints(kg, tmp_path_factory):
    from kgif.model.checkpoint import load_checkpoints

    out = tmp_path_factory.mktemp("faith")
    train(kg, CONFIG, TC, output_dir=out, show_progress=False)
    return load_checkpoints(out / "checkpoints")


def _examples(triples: torch.Tensor) -> set[tuple[int, int, int]]:
    return {tuple(x) for x in with_reciprocals(triples).tolist()}


# --------------------------------------------------------------------------- deletion


def test_delete_removes_every_copy_and_both_directions():
    base = toy_graph()
    train_rows = torch.cat([base.training, base.training[[4, 9]]])  # duplicates of two edges
    kg = KnowledgeGraph(base.entity_to_id, base.relation_to_id, training=train_rows,
                        testing=base.testing)
    out = delete_edges(kg, torch.tensor([4, 9, 4, -1]))
    gone = kg.training[[4, 9]]
    for h, r, t in gone.tolist():
        assert (h, 2 * r, t) not in _examples(out.training)
        assert (t, 2 * r + 1, h) not in _examples(out.training)
    assert len(out.training) == len(kg.training) - 4
    keep = torch.ones(len(base.training), dtype=torch.bool)
    keep[[4, 9]] = False
    assert torch.equal(out.training, base.training[keep])  # the others, in order
    assert torch.equal(out.testing, kg.testing)


def test_delete_refuses_rows_out_of_range(kg):
    with pytest.raises(ValueError, match=f"\\[0, {len(kg.training)}\\)"):
        delete_edges(kg, [len(kg.training)])
    with pytest.raises(ValueError, match="min -2"):
        delete_edges(kg, [-2])


def _spy_batches(monkeypatch) -> list[dict]:
    """Record every training step's rows, positives and row weights."""
    batches = []
    real = train_module.make_step

    def spying_make_step(cfg, tcfg):
        step = real(cfg, tcfg)

        def wrapped(params, buffers, h, r, pos_rows, pos_cols, row_weight=None):
            weight = torch.ones(len(h)) if row_weight is None else row_weight.clone()
            batches.append({"rows": list(zip(h.tolist(), r.tolist(), strict=True)),
                            "positives": {(int(h[i]), int(r[i]), int(t)) for i, t in
                                          zip(pos_rows.tolist(), pos_cols.tolist(),
                                              strict=True)},
                            "weight": weight})
            return step(params, buffers, h, r, pos_rows, pos_cols, row_weight)
        return wrapped

    monkeypatch.setattr(train_module, "make_step", spying_make_step)
    return batches


@pytest.mark.parametrize("protocol", ["stable", "reshuffle"])
def test_retrained_model_never_sees_a_deleted_edge(kg, monkeypatch, protocol):
    batches = _spy_batches(monkeypatch)
    rows = torch.tensor([0, 7, 30])
    tc = TrainingConfig(epochs=2, batch_size=16, eval_every=0, seed=3)
    retrain(kg, rows, CONFIG, tc, protocol)
    seen = set().union(*(b["positives"] for b in batches))
    deleted = _examples(kg.training[rows])
    assert len(deleted) == 6 and not seen & deleted
    assert seen == _examples(kg.training) - deleted  # nothing else went missing


def _emptied_rows(kg, rows) -> set[tuple[int, int]]:
    """(h, r') rows of the reciprocal training split whose every label is in ``rows``."""
    before = {(h, r) for h, r, _ in _examples(kg.training)}
    after = {(h, r) for h, r, _ in _examples(delete_edges(kg, rows).training)}
    return before - after


def test_stable_retraining_keeps_every_batch_of_the_original_run(kg, monkeypatch):
    tc = TrainingConfig(epochs=2, batch_size=16, eval_every=0, seed=3)
    batches = _spy_batches(monkeypatch)
    train(kg, CONFIG, tc, show_progress=False)
    original = list(batches)
    # delete every edge of one row with one label and of one row with two, plus another edge
    counts = {}
    for h, r, t in _examples(kg.training):
        counts.setdefault((h, r), []).append((h, r, t))
    single = next(k for k, v in sorted(counts.items()) if len(v) == 1 and k[1] % 2 == 0)
    (h, r, t), = counts[single]
    rows = torch.nonzero((kg.training == torch.tensor([h, r // 2, t])).all(1))[:, 0].tolist()
    rows.append(5)
    emptied = _emptied_rows(kg, rows)
    assert single in emptied  # the case under test really empties a row
    batches.clear()
    retrain(kg, rows, CONFIG, tc, "stable")
    assert len(batches) == len(original)
    deleted = _examples(kg.training[rows])
    for old, new in zip(original, batches, strict=True):
        assert new["rows"] == old["rows"]  # same rows, same order, same batches
        assert new["positives"] == old["positives"] - deleted
        expected = torch.tensor([0.0 if row in emptied else 1.0 for row in new["rows"]])
        assert torch.equal(new["weight"], expected)
    # the reshuffled protocol changes the row ids and with them the order of every epoch
    batches.clear()
    retrain(kg, rows, CONFIG, tc, "reshuffle")
    assert [b["rows"] for b in batches] != [b["rows"] for b in original]


def test_stable_retraining_step_matches_a_dense_reference():
    """A weight-0 row adds nothing to the loss and leaves the others' gradients as they are:
    the loss equals the dense torch BCE over the kept rows, divided by all B * N terms."""
    import torch.nn.functional as F

    from kgif.model.loss import smoothing_coefficients, sparse_bce_with_logits

    gen = torch.Generator().manual_seed(11)
    b, n, eps = 6, 9, 0.1
    logits = torch.randn(b, n, generator=gen, dtype=torch.float64, requires_grad=True)
    labels = torch.rand(b, n, generator=gen) < 0.3
    weight = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    labels[1] = False  # an emptied row has no labels left
    pos_rows, pos_cols = torch.nonzero(labels, as_tuple=True)
    a, c = smoothing_coefficients(eps, n, "pykeen")
    dense = torch.where(labels, a + c, torch.full((b, n), c, dtype=torch.float64))
    reference = F.binary_cross_entropy_with_logits(logits, dense, weight=weight[:, None],
                                                   reduction="sum") / (b * n)
    fast = sparse_bce_with_logits(logits, pos_rows, pos_cols, eps, row_weight=weight)
    torch.testing.assert_close(fast, reference, rtol=1e-12, atol=1e-12)
    g_fast, = torch.autograd.grad(fast, logits)
    g_ref, = torch.autograd.grad(reference, logits)
    torch.testing.assert_close(g_fast, g_ref, rtol=1e-12, atol=1e-12)
    assert torch.all(g_fast[weight == 0] == 0)


def test_keep_rows_of_refuses_a_training_row_it_lacks(kg):
    with pytest.raises(ValueError, match="keep_rows_of lacks the row"):
        train(kg, CONFIG, TC, show_progress=False, keep_rows_of=kg.training[10:])


def test_retrain_refuses_an_unknown_protocol(kg):
    with pytest.raises(ValueError, match="protocol='fresh'"):
        retrain(kg, [], CONFIG, TC, "fresh")


@pytest.mark.parametrize("protocol", ["stable", "reshuffle"])
def test_retrain_without_deletion_reproduces_the_original(kg, checkpoints, protocol):
    again = retrain(kg, [], CONFIG, TC, protocol)
    for name, value in checkpoints[-1].params.items():
        assert torch.equal(again.params[name], value), name


# --------------------------------------------------------------------------- measurement


def test_target_metrics_against_brute_force(kg, checkpoints):
    from kgif.model.conve import score_all

    ckpt = checkpoints[-1]
    targets = kg.testing[:4]
    got = target_metrics(ckpt, targets, kg.all_triples())
    known = {tuple(x) for x in kg.all_triples().tolist()}
    for j, (h, r, t) in enumerate(targets.tolist()):
        f, _ = faith.hidden(ckpt.params, ckpt.buffers, torch.tensor([h]),
                            torch.tensor([2 * r]), ckpt.config)
        s = score_all(ckpt.params, f)[0]
        others = [e for e in range(kg.num_entities) if e != t and (h, r, e) not in known]
        better = sum(float(s[e]) > float(s[t]) for e in others)
        ties = sum(float(s[e]) == float(s[t]) for e in others)
        assert got["rank"][j] == 1 + better + ties / 2
        assert got["rr"][j] == 1 / got["rank"][j]
        torch.testing.assert_close(got["logit"][j], s[t].double(), rtol=RTOL32, atol=ATOL32)


# --------------------------------------------------------------------------- selection


def test_selections_against_brute_force(kg, checkpoints):
    targets, k = kg.testing[:3], 5
    full = TracIn(checkpoints, kg.training, show_progress=False).influence(targets)
    assert torch.equal(select_edges("tracin", checkpoints, kg.training, targets, k),
                       full.argsort(dim=1, descending=True, stable=True)[:, :k])
    assert torch.equal(select_edges("tracin_opponents", checkpoints, kg.training, targets, k),
                       full.argsort(dim=1, stable=True)[:, :k])
    last = TracIn(checkpoints[-1:], kg.training, show_progress=False).influence(targets)
    assert torch.equal(select_edges("tracin_last", checkpoints, kg.training, targets, k),
                       last.argsort(dim=1, descending=True, stable=True)[:, :k])
    rand = select_edges("random", checkpoints, kg.training, targets, k, seed=1)
    assert all(len(set(r)) == k for r in rand.tolist())
    assert torch.equal(rand, select_edges("random", checkpoints, kg.training, targets, k, 1))
    hop = select_edges("random_1hop", checkpoints, kg.training, targets, k)
    for (h, _, t), rows in zip(targets.tolist(), hop.tolist(), strict=True):
        for row in rows:
            eh, _, et = kg.training[row].tolist() if row >= 0 else (h, 0, t)
            assert {eh, et} & {h, t}


def test_similarity_is_the_closest_hidden_vectors(kg, checkpoints):
    ckpt, targets = checkpoints[-1], kg.testing[:2]
    got = select_edges("similarity", checkpoints, kg.training, targets, 4)

    def f(h, r):
        return faith.hidden(ckpt.params, ckpt.buffers, torch.tensor([h]), torch.tensor([r]),
                            ckpt.config)[0][0]

    for j, (h, r, _) in enumerate(targets.tolist()):
        sims = torch.stack([torch.cosine_similarity(f(h, 2 * r), f(eh, 2 * er), dim=0)
                            for eh, er, _ in kg.training.tolist()])
        top = sims.argsort(descending=True, stable=True)[:4]
        torch.testing.assert_close(sims[got[j]], sims[top], rtol=1e-5, atol=1e-6)


def test_one_hop_pads_when_too_few_incident_edges():
    kg = KnowledgeGraph({f"e{i}": i for i in range(4)}, {"r": 0},
                        training=torch.tensor([[0, 0, 1], [2, 0, 3]]),
                        testing=torch.tensor([[0, 0, 2]]))
    got = select_edges("random_1hop", [], kg.training, kg.testing, 3)
    assert sorted(got[0].tolist()) == [-1, 0, 1]


def test_unknown_method_and_bad_k_are_refused(kg, checkpoints):
    with pytest.raises(ValueError, match="unknown method 'lime'"):
        select_edges("lime", checkpoints, kg.training, kg.testing[:1], 3)
    with pytest.raises(ValueError, match="k=0"):
        select_edges("random", checkpoints, kg.training, kg.testing[:1], 0)


# --------------------------------------------------------------------------- statistics


def test_bootstrap_hand_computed_cases():
    assert bootstrap_ci(torch.full((5,), 0.25)) == (0.25, 0.25, 0.25)
    mean, low, high = bootstrap_ci(torch.tensor([0.0, 1.0]))
    assert (mean, low, high) == (0.5, 0.0, 1.0)  # resample means 0, .5, .5, 1


def test_bootstrap_matches_exact_enumeration():
    values = torch.tensor([0.0, 1.0, 3.0, 7.0], dtype=torch.float64)
    means = torch.tensor([values[list(idx)].mean().item()
                          for idx in itertools.product(range(4), repeat=4)], dtype=torch.float64)
    exact = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64))
    _, low, high = bootstrap_ci(values, n_boot=40000, seed=5)
    assert abs(low - exact[0]) <= 0.25 and abs(high - exact[1]) <= 0.25


def test_sign_flip_hand_computed_and_monte_carlo():
    assert sign_flip_test(torch.tensor([1.0, 2.0, 3.0])) == 0.25  # |sum| >= 6: 2 of 8
    assert sign_flip_test(torch.tensor([1.0, -1.0])) == 1.0
    assert sign_flip_test(torch.zeros(4)) == 1.0
    p = sign_flip_test(torch.ones(20), n_perm=5000)  # exact value 2 / 2**20
    assert p == pytest.approx(1 / 5001, abs=2 / 5001)


def test_statistics_refuse_bad_input():
    with pytest.raises(ValueError, match="finite"):
        bootstrap_ci(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="finite"):
        sign_flip_test(torch.tensor([]))
    with pytest.raises(ValueError, match="level=1.5"):
        bootstrap_ci(torch.ones(3), level=1.5)


# --------------------------------------------------------------------------- end to end


def test_run_per_target_and_grouped_delete_what_the_methods_name(kg, checkpoints, monkeypatch):
    calls = []
    real = faith.retrain

    def spy(graph, rows, config, tc, protocol):
        calls.append(torch.as_tensor(rows).clone())
        return real(graph, rows, config, tc, protocol)

    monkeypatch.setattr(faith, "retrain", spy)
    targets = kg.testing[:3]
    result = run_faithfulness(kg, CONFIG, TC, methods=["tracin", "random"], ks=[2],
                              checkpoints=checkpoints, targets=targets)
    # first the reproducibility check (nothing deleted), then one retraining per job
    assert result.retrains == 6 and len(calls) == 7 and len(calls[0]) == 0
    assert torch.equal(calls[1], result.deleted[("tracin", 2)][0])
    solo = retrain(kg, result.deleted[("tracin", 2)][1], CONFIG, TC)
    want = target_metrics(solo, targets[1:2], kg.all_triples())
    for q in faith.QUANTITIES:
        assert result.after[("tracin", 2)][q][1] == want[q][0]
    calls.clear()
    grouped = run_faithfulness(kg, CONFIG, TC, methods=["tracin"], ks=[2], group_size=2,
                               checkpoints=checkpoints, targets=targets)
    assert grouped.retrains == 2
    assert torch.equal(calls[1], grouped.deleted[("tracin", 2)][:2].reshape(-1))
    rows = summarize(result)
    assert {(r["method"], r["quantity"]) for r in rows} == {
        (m, q) for m in ("tracin", "random") for q in faith.QUANTITIES}
    tracin_rr = next(r for r in rows if r["method"] == "tracin" and r["quantity"] == "rr")
    diff = result.changes("tracin", 2, "rr") - result.changes("random", 2, "rr")
    assert tracin_rr["vs"]["random"]["p"] == sign_flip_test(diff)
    table = markdown_table(rows, 2)
    assert table.count("\n") == 4 and "| tracin |" in table


def test_run_refuses_an_original_that_a_retraining_does_not_reproduce(kg, checkpoints):
    other = TrainingConfig(epochs=2, checkpoint_every=1, eval_every=0, seed=4)  # another seed
    with pytest.raises(RuntimeError, match="does not reproduce the original model"):
        run_faithfulness(kg, CONFIG, other, methods=["random"], ks=[1], checkpoints=checkpoints,
                         targets=kg.testing[:1])


def test_original_trained_here_is_reproduced_by_one_thread_workers(kg):
    """With workers > 1 the retrainings run on one thread each and the original model is
    trained on one thread too: the whole path, with its reproducibility check, runs through."""
    result = run_faithfulness(kg, CONFIG, TC, methods=["random"], ks=[1], workers=2,
                              targets=kg.testing[:2])
    assert result.retrains == 2 and torch.isfinite(result.after[("random", 1)]["logit"]).all()


def test_run_refuses_bad_arguments(kg, checkpoints):
    with pytest.raises(ValueError, match="unknown methods"):
        run_faithfulness(kg, CONFIG, TC, methods=["nope"], checkpoints=checkpoints)
    with pytest.raises(ValueError, match="group_size=0"):
        run_faithfulness(kg, CONFIG, TC, group_size=0, checkpoints=checkpoints)
    with pytest.raises(ValueError, match="protocol='fresh'"):
        run_faithfulness(kg, CONFIG, TC, protocol="fresh", checkpoints=checkpoints)


def test_cli_writes_json_and_markdown(kg, tmp_path):
    import json

    from kgif.cli import main

    folder = tmp_path / "toy"
    folder.mkdir()
    ent = {i: e for e, i in kg.entity_to_id.items()}
    rel = {i: r for r, i in kg.relation_to_id.items()}
    for split, triples in (("train", kg.training), ("valid", kg.testing[:0]),
                           ("test", kg.testing)):
        (folder / f"{split}.txt").write_text("".join(
            f"{ent[h]}\t{rel[r]}\t{ent[t]}\n" for h, r, t in triples.tolist()))
    out = tmp_path / "f.json"
    code = main(["faithfulness", "--dataset", str(folder), "--methods", "tracin", "random",
                 "--k", "2", "--targets", "2", "--max-rank", "100", "--embedding-dim", "12",
                 "--output-channels", "2", "--epochs", "2", "--checkpoint-every", "1",
                 "--protocol", "reshuffle",
                 "--output", str(out), "--markdown", str(tmp_path / "f.md")])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["retrains"] == 4 and len(payload["targets"]) == 2
    assert payload["protocol"] == "reshuffle" and payload["args"]["protocol"] == "reshuffle"
    assert {r["method"] for r in payload["summary"]} == {"tracin", "random"}
    assert "| tracin |" in (tmp_path / "f.md").read_text()
