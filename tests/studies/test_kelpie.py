"""Kelpie's end-to-end protocol: targets, candidates, explanations, union deletion, deltas,
budget, and the resumable retraining cache, on a toy graph."""

from __future__ import annotations

import dataclasses
import importlib
import math
import os

import pytest
import torch
from reference import reference_influence
from tolerances import ATOL32, RTOL32

from kgif.bench.faithfulness import toy_graph
from kgif.data.graph import KnowledgeGraph, with_reciprocals
from kgif.influence.tracin import TracIn
from kgif.model.checkpoint import load_checkpoint, load_checkpoints
from kgif.model.conve import ConvEConfig, hidden, score_all
from kgif.studies import kelpie
from kgif.studies import retrain_cache as cache_module
from kgif.studies.kelpie import (
    KELPIE_METHODS,
    Ranking,
    allocate_budget,
    candidate_rows,
    choose,
    kelpie_deltas,
    rank1_targets,
    rank_candidates,
    read_targets,
    run_kelpie,
    runner_up,
    summarize_kelpie,
    write_targets,
)
from kgif.studies.kelpie_report import markdown_table
from kgif.studies.retrain_cache import RetrainCache, RetrainJob
from kgif.training.loop import TrainingConfig, train

train_module = importlib.import_module("kgif.training.loop")
CONFIG = ConvEConfig(embedding_dim=12, embedding_height=3, output_channels=2)
TC = TrainingConfig(epochs=3, checkpoint_every=1, eval_every=0, seed=3, learning_rate=0.02)


@pytest.fixture(scope="module")
def kg():
    """The toy graph with 40 of its facts as the test split (so some reach rank 1)."""
    base = toy_graph()
    everything = torch.cat([base.testing, base.training])
    return KnowledgeGraph(base.entity_to_id, base.relation_to_id, training=everything[40:],
                          testing=everything[:40], name="toy40")


@pytest.fixture(scope="module")
def checkpoints(kg, tmp_path_factory):
    out = tmp_path_factory.mktemp("kelpie-original")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the retrainings' thread count (RetrainCache threads=1)
    try:
        train(kg, CONFIG, TC, output_dir=out, show_progress=False)
    finally:
        torch.set_num_threads(threads)
    return load_checkpoints(out / "checkpoints")


@pytest.fixture(scope="module")
def targets(kg, checkpoints):
    return rank1_targets(checkpoints[-1], kg, 3, seed=0)


def _tail_scores(ckpt, h: int, r: int) -> torch.Tensor:
    with torch.no_grad():
        f, _ = hidden(ckpt.params, ckpt.buffers, torch.tensor([h]), torch.tensor([2 * r]),
                      ckpt.config)
        return score_all(ckpt.params, f)[0].double()


# --------------------------------------------------------------------------- targets


def test_targets_are_rank1_test_facts(kg, checkpoints, targets):
    test = {tuple(x) for x in kg.testing.tolist()}
    known = {tuple(x) for x in kg.all_triples().tolist()}
    assert len(targets) == 3
    for h, r, t in targets.tolist():
        assert (h, r, t) in test
        scores = _tail_scores(checkpoints[-1], h, r)
        rivals = [e for e in range(kg.num_entities) if e != t and (h, r, e) not in known]
        assert all(scores[t] > scores[e] for e in rivals)  # filtered tail rank 1, no tie
    pool = [x for x in kg.testing.tolist()
            if all(_tail_scores(checkpoints[-1], x[0], x[1])[x[2]] >
                   _tail_scores(checkpoints[-1], x[0], x[1])[e]
                   for e in range(kg.num_entities) if e != x[2] and (x[0], x[1], e) not in known)]
    everyone = rank1_targets(checkpoints[-1], kg, 1000, seed=0)
    assert sorted(everyone.tolist()) == sorted(pool)
    assert torch.equal(rank1_targets(checkpoints[-1], kg, 3, seed=0), targets)  # seeded


def test_target_file_round_trip_and_refusals(kg, targets, tmp_path):
    path = write_targets(tmp_path / "targets.tsv", kg, targets)
    assert torch.equal(read_targets(path, kg), targets)
    h, r, t = kg.training[0].tolist()
    lines = path.read_text().splitlines()
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join([*lines[:2], f"e{h}\tr{r}\te{t}", lines[2]]) + "\n")
    with pytest.raises(ValueError, match=rf"line 3 of {bad}: \(e{h}, r{r}, e{t}\) is not a "
                                         "test fact"):
        read_targets(bad, kg)
    bad.write_text(lines[0] + "\nnobody\tr0\te1\n")
    with pytest.raises(ValueError, match="line 2 of .* not in the dataset"):
        read_targets(bad, kg)
    bad.write_text(lines[0] + "\n" + lines[0] + "\n")
    with pytest.raises(ValueError, match="line 2 of .* repeats line 1"):
        read_targets(bad, kg)
    bad.write_text("e1\tr0\n")
    with pytest.raises(ValueError, match="line 1 of .* has 2 columns"):
        read_targets(bad, kg)


# --------------------------------------------------------------------------- candidates


@pytest.mark.parametrize("method", list(KELPIE_METHODS))
def test_every_chosen_fact_mentions_the_head(kg, checkpoints, targets, method):
    cands = candidate_rows(kg.training, targets, "head")
    ranking = rank_candidates(method, checkpoints, kg.training, targets, cands, 4, seed=1,
                              known=kg.all_triples())
    for j, (h, _, _) in enumerate(targets.tolist()):
        rows = ranking.rows[j][ranking.rows[j] >= 0]
        assert len(rows) == min(4, len(cands[j])) and len(set(rows.tolist())) == len(rows)
        for row in rows.tolist():
            assert h in (int(kg.training[row, 0]), int(kg.training[row, 2]))
        scores = ranking.scores[j, : len(rows)]
        assert bool((scores[:-1] >= scores[1:]).all())  # best first


@pytest.mark.parametrize(("method", "last_only"), [("tracin", False), ("tracin_last", True)])
def test_tracin_ranking_is_the_top_of_the_full_influence_matrix(kg, checkpoints, targets, method,
                                                                 last_only):
    """The top of the float64 influence over all checkpoints (``tracin``) or the last one
    alone (``tracin_last``)."""
    cands = candidate_rows(kg.training, targets, "head")
    ranking = rank_candidates(method, checkpoints, kg.training, targets, cands, 4)
    used = checkpoints[-1:] if last_only else checkpoints
    reference = [c.to(dtype=torch.float64) for c in used]
    full = TracIn(reference, kg.training, show_progress=False).influence(targets)  # (T, n)
    for j in range(len(targets)):
        mine = full[j, cands[j]]
        order = mine.argsort(descending=True, stable=True)[:4]
        assert ranking.rows[j, : len(order)].tolist() == cands[j][order].tolist()
        torch.testing.assert_close(ranking.scores[j, : len(order)], mine[order],
                                   rtol=RTOL32, atol=ATOL32)


def test_runner_up_is_the_best_unknown_tail(kg, checkpoints, targets):
    known = {tuple(x) for x in kg.all_triples().tolist()}
    rivals = runner_up(checkpoints[-1], targets, kg.all_triples())
    for j, (h, r, t) in enumerate(targets.tolist()):
        scores = _tail_scores(checkpoints[-1], h, r)
        pool = [e for e in range(kg.num_entities) if e != t and (h, r, e) not in known]
        assert int(rivals[j]) == max(pool, key=lambda e: (float(scores[e]), -e))
        assert (h, r, int(rivals[j])) not in known


def test_runner_up_refuses_a_query_without_rivals():
    from helpers import small_conve

    from kgif.model.checkpoint import Checkpoint

    config, params, buffers = small_conve(num_entities=3, num_relations=1)
    ckpt = Checkpoint(params, buffers, config, 0.1, epoch=1)
    every_tail = torch.tensor([[0, 0, 0], [0, 0, 1], [0, 0, 2]])  # all 3 entities known
    with pytest.raises(ValueError, match=r"target \[0, 0, 1\] has no unknown tail"):
        runner_up(ckpt, torch.tensor([[0, 0, 1]]), every_tail)
    assert runner_up(ckpt, torch.tensor([[0, 0, 1]]), every_tail[1:]).tolist() == [0]


def test_margin_ranking_against_a_float64_loop(kg, checkpoints, targets):
    """TracInCP of s(h, r, t) - s(h, r, c*), each checkpoint's gradients by plain autograd."""
    cands = candidate_rows(kg.training, targets, "head")
    ranking = rank_candidates("tracin_margin", checkpoints, kg.training, targets, cands, 4,
                              known=kg.all_triples())
    reference = [c.to(dtype=torch.float64) for c in checkpoints]
    known = {tuple(x) for x in kg.all_triples().tolist()}
    for j, (h, r, t) in enumerate(targets.tolist()):
        scores = _tail_scores(checkpoints[-1], h, r)
        rival = max((e for e in range(kg.num_entities) if e != t and (h, r, e) not in known),
                    key=lambda e: (float(scores[e]), -e))
        both = reference_influence(reference, torch.tensor([[h, r, t], [h, r, rival]]),
                                   kg.training[cands[j]], "score")  # (2, E_j)
        margin = both[0] - both[1]
        order = sorted(range(len(margin)), key=lambda i: (-float(margin[i]),
                                                          int(cands[j][i])))[:4]
        assert ranking.rows[j, : len(order)].tolist() == cands[j][order].tolist()
        torch.testing.assert_close(ranking.scores[j, : len(order)], margin[order],
                                   rtol=RTOL32, atol=ATOL32)
    with pytest.raises(ValueError, match="tracin_margin needs the known facts"):
        rank_candidates("tracin_margin", checkpoints, kg.training, targets, cands, 4)


def test_similarity_ranking_against_a_plain_loop(kg, checkpoints, targets):
    last = checkpoints[-1].to(dtype=torch.float64)
    for scope in ("head", "all"):
        cands = candidate_rows(kg.training, targets, scope)
        ranking = rank_candidates("similarity", checkpoints, kg.training, targets, cands, 4)
        for j, (h, r, _) in enumerate(targets.tolist()):
            mine = range(len(kg.training)) if cands is None else cands[j].tolist()
            f_t = hidden(last.params, last.buffers, torch.tensor([h]), torch.tensor([2 * r]),
                         last.config)[0][0]
            sims = {}
            for row in mine:
                a, b, _ = kg.training[row].tolist()
                f = hidden(last.params, last.buffers, torch.tensor([a]), torch.tensor([2 * b]),
                           last.config)[0][0]
                sims[row] = float(f @ f_t / (f.norm() * f_t.norm()))
            best = sorted(sims, key=lambda row: (-sims[row], row))[:4]
            top = ranking.scores[j, : len(best)]
            assert bool(ranking.scores[j, len(best):].isnan().all())
            torch.testing.assert_close(top, torch.tensor([sims[b] for b in best],
                                                         dtype=torch.float64),
                                       rtol=RTOL32, atol=ATOL32)
            assert set(ranking.rows[j, : len(best)].tolist()) <= {row for row in sims
                                                     if sims[row] >= sims[best[-1]] - 1e-6}


def test_random_ranking_is_seeded_and_draws_without_repeats(kg, checkpoints, targets):
    cands = candidate_rows(kg.training, targets, "head")
    a = rank_candidates("random", checkpoints, kg.training, targets, cands, 4, seed=1)
    b = rank_candidates("random", checkpoints, kg.training, targets, cands, 4, seed=1)
    c = rank_candidates("random", checkpoints, kg.training, targets, cands, 4, seed=2)
    assert torch.equal(a.rows, b.rows) and not torch.equal(a.rows, c.rows)
    for j in range(len(targets)):
        rows = a.rows[j][a.rows[j] >= 0].tolist()
        assert len(set(rows)) == len(rows) and set(rows) <= set(cands[j].tolist())


def test_candidate_scope_all_and_unknown(kg, targets):
    assert candidate_rows(kg.training, targets, "all") is None
    with pytest.raises(ValueError, match="scope='tail'"):
        candidate_rows(kg.training, targets, "tail")


# --------------------------------------------------------------------------- budget


def test_budget_allocation_hand_computed():
    nan = math.nan
    scores = torch.tensor([[10.0, 9.0, 1.0, nan], [2.0, 1.9, 1.8, 1.7], [5.0, nan, nan, nan]],
                          dtype=torch.float64)
    # tops first; then ratios 0.95 (t1), 0.9 (t0, j=1) before 0.9 (t1, j=2), 0.85 (t1), 0.1
    assert allocate_budget(scores, 6).tolist() == [2, 3, 1]
    assert allocate_budget(scores, 2).tolist() == [1, 1, 0]
    assert allocate_budget(scores, 8).tolist() == [3, 4, 1]
    with pytest.raises(ValueError, match=r"budget=9 must be in \[1, 8\]"):
        allocate_budget(scores, 9)
    equal = torch.tensor([[4.0, 3.0, 2.0], [4.0, 3.0, 2.0]], dtype=torch.float64)
    assert allocate_budget(equal, 3).tolist() == [2, 1]  # round-robin


def test_budget_mode_spends_exactly_the_budget(kg, checkpoints, targets):
    cands = candidate_rows(kg.training, targets, "head")
    for method in ("tracin", "random"):
        ranking = rank_candidates(method, checkpoints, kg.training, targets, cands, 4)
        for budget in (3, 5, 7):
            chosen = choose(ranking, budget=budget)
            assert int((chosen >= 0).sum()) == budget
            assert bool((chosen[:, 0] >= 0).all())  # every target keeps its best fact
    with pytest.raises(ValueError, match="exactly one of k and budget"):
        choose(ranking, k=1, budget=3)
    with pytest.raises(ValueError, match=r"k=5 must be in \[1, 4\]"):
        choose(ranking, k=5)


def test_choose_top_k():
    ranking = Ranking(torch.tensor([[5, 6, 7], [8, -1, -1]]),
                      torch.tensor([[3.0, 2.0, 1.0], [1.0, math.nan, math.nan]]))
    assert choose(ranking, k=2).tolist() == [[5, 6, -1], [8, -1, -1]]


# --------------------------------------------------------------------------- deltas


def test_kelpie_deltas_hand_computed():
    out = kelpie_deltas(torch.tensor([1.0, 1.0, 1.0, 1.0]), torch.tensor([1.0, 2.0, 4.0, 1.5]))
    # H@1 1 -> 1/4; MRR 1 -> (1 + 1/2 + 1/4 + 2/3) / 4 = 0.6041666...
    assert out["h1"] == pytest.approx(-0.75)
    assert out["mrr"] == pytest.approx((1 + 0.5 + 0.25 + 2 / 3) / 4 - 1)
    assert out["h1_before"] == 1.0 and out["mrr_before"] == 1.0
    with pytest.raises(ValueError, match="ranks >= 1"):
        kelpie_deltas(torch.tensor([1.0]), torch.tensor([0.5]))


def test_summary_pairs_each_method_with_random_and_null():
    before = torch.ones(20, dtype=torch.float64)
    after = {"tracin@1": torch.full((20,), 4.0, dtype=torch.float64),
             "random@1": torch.ones(20, dtype=torch.float64),
             "null": torch.ones(20, dtype=torch.float64),
             # the noise rows: seed 1 moves every target as far as tracin@1, seed 2 none
             "null_seed1": torch.full((20,), 4.0, dtype=torch.float64),
             "null_seed2": torch.ones(20, dtype=torch.float64)}
    rows = {r["job"]: r for r in summarize_kelpie(before, after)}
    assert rows["tracin@1"]["mrr"] == pytest.approx(-0.75)
    assert rows["tracin@1"]["mrr_ci"] == pytest.approx([-0.75, -0.75])
    assert set(rows["tracin@1"]["vs"]) == {"random@1", "null", "null_seed1", "null_seed2"}
    assert rows["tracin@1"]["vs"]["random@1"]["mrr_p"] < 1e-4  # 20 equal differences
    assert rows["tracin@1"]["vs"]["null_seed2"]["mrr_p"] < 1e-4
    assert rows["tracin@1"]["vs"]["null_seed1"] == {"h1_p": 1.0, "mrr_p": 1.0}  # no difference
    assert rows["null"]["vs"] == {} and rows["null_seed1"]["vs"] == {}


# --------------------------------------------------------------------------- deletion


def _spy_positives(monkeypatch) -> list[set]:
    """The positive (h, r', t) examples of every training step."""
    seen: list[set] = []
    real = train_module.make_step

    def spying_make_step(cfg, tcfg):
        step = real(cfg, tcfg)

        def wrapped(params, buffers, h, r, pos_rows, pos_cols, row_weight=None):
            seen.append({(int(h[i]), int(r[i]), int(t))
                         for i, t in zip(pos_rows.tolist(), pos_cols.tolist(), strict=True)})
            return step(params, buffers, h, r, pos_rows, pos_cols, row_weight)
        return wrapped

    monkeypatch.setattr(train_module, "make_step", spying_make_step)
    return seen


def test_union_of_all_explanations_leaves_training_and_nothing_else(kg, checkpoints, targets,
                                                                    tmp_path, monkeypatch):
    cands = candidate_rows(kg.training, targets, "head")
    ranking = rank_candidates("tracin", checkpoints, kg.training, targets, cands, 4)
    chosen = choose(ranking, k=2)
    job, = kelpie.kelpie_jobs({"tracin@2": chosen}, training_seed=3)[:1]
    seen = _spy_positives(monkeypatch)
    RetrainCache(tmp_path, kg, CONFIG, TC).run(job)
    union = {tuple(kg.training[r].tolist()) for r in chosen[chosen >= 0].tolist()}
    assert len(union) >= 2
    deleted = {tuple(x) for x in with_reciprocals(torch.tensor(sorted(union))).tolist()}
    everything = {tuple(x) for x in with_reciprocals(kg.training).tolist()}
    assert len(deleted) == 2 * len(union) and deleted <= everything  # both directions
    assert set().union(*seen) == everything - deleted


# --------------------------------------------------------------------------- cache


def _counting_train(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = cache_module.train

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache_module, "train", counting)
    return calls


def test_cache_hit_skips_retraining(kg, tmp_path, monkeypatch):
    calls = _counting_train(monkeypatch)
    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    job = RetrainJob("x", torch.tensor([4, 2, 2]), 3)
    first = cache.run(job)
    again = RetrainCache(tmp_path, kg, CONFIG, TC).run(RetrainJob("y", torch.tensor([2, 4]), 3))
    assert len(calls) == 1 and again["checkpoint"] == first["checkpoint"]
    assert cache.status(job) == "done"
    # where it was trained: the machine and the thread count of the training (RetrainCache's
    # default: one thread), read back from result.json
    made_on = again["environment"]
    assert made_on["threads"] == 1 and made_on["torch"] == torch.__version__
    assert made_on["cpu_count"] == os.cpu_count()
    assert len(list((tmp_path / cache.key(job)[:20] / "run" / "checkpoints").iterdir())) == 1
    # anything that decides the model makes a new key
    keys = {cache.key(job), cache.key(RetrainJob("x", torch.tensor([4]), 3)),
            cache.key(RetrainJob("x", torch.tensor([4, 2]), 4)),
            RetrainCache(tmp_path, kg, CONFIG, TC, threads=2).key(job),
            RetrainCache(tmp_path, kg, CONFIG, TC, protocol="stable").key(job)}
    assert len(keys) == 5


def test_killed_retraining_resumes_from_its_last_checkpoint(kg, tmp_path, monkeypatch):
    job = RetrainJob("x", torch.tensor([1, 5]), 3)
    straight = RetrainCache(tmp_path / "a", kg, CONFIG, TC, checkpoint_every=1).run(job)
    cache = RetrainCache(tmp_path / "b", kg, CONFIG, TC, checkpoint_every=1,
                         keep_intermediate=True)
    cache.run(job)
    folder = cache.job_folder(job)
    (folder / "result.json").unlink()  # as if killed after epoch 2
    (folder / "run" / "checkpoints" / "checkpoint_epoch_0003.pt").unlink()
    assert cache.status(job) == "partial (epoch 2)"
    resumed = cache.run(job)
    assert resumed["resumed_from_epoch"] == 2
    a, b = load_checkpoint(straight["checkpoint"]), load_checkpoint(resumed["checkpoint"])
    for name, value in a.params.items():
        assert torch.equal(b.params[name], value), name


def test_stable_null_retraining_reproduces_the_original(kg, checkpoints, tmp_path):
    cache = RetrainCache(tmp_path, kg, CONFIG, TC, protocol="stable")
    null = cache.final_model(RetrainJob("null", torch.empty(0, dtype=torch.long), 3))
    for name, value in checkpoints[-1].params.items():
        assert torch.equal(null.params[name], value), name


def test_a_job_trained_by_another_process_is_refused(kg, tmp_path):
    import fcntl

    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    job = RetrainJob("x", torch.tensor([3]), 3)
    cache.job_folder(job).mkdir(parents=True)
    with open(cache.job_folder(job) / "lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(BlockingIOError, match="job 'x' is being trained by another process"):
            cache.run(job)
    assert cache.run(job)["name"] == "x"  # released: it trains


def test_cache_keys_survive_new_training_settings(kg, tmp_path):
    """Keys written before ``fused_adam`` existed (literals from commit 34fb30e) stay valid at
    its default, so finished retrainings are found; setting it gives a new key."""
    from dataclasses import replace

    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    null = RetrainJob("null", torch.empty(0, dtype=torch.long), 3)
    two = RetrainJob("a", torch.tensor([0, 5]), 3)
    assert cache.key(null) == "b37c5e89426ebd66e7b5570048d43039aac2ba48a2e180dbc4e305e2e41763ed"
    assert cache.key(two) == "20a7bd86bfa4767fdc7cd8ce33ba404fc1b011642ea2c0c359b25ec4723f012c"
    fused = RetrainCache(tmp_path, kg, CONFIG, replace(TC, fused_adam=True))
    assert fused.key(null) != cache.key(null)
    assert fused.spec(null)["training_config"]["fused_adam"] is True


def test_cache_refuses_bad_settings(kg, tmp_path):
    with pytest.raises(ValueError, match="protocol='kelpie'"):
        RetrainCache(tmp_path, kg, CONFIG, TC, protocol="kelpie")
    with pytest.raises(ValueError, match="threads=0"):
        RetrainCache(tmp_path, kg, CONFIG, TC, threads=0)
    with pytest.raises(ValueError, match="removes row 9999"):
        RetrainCache(tmp_path, kg, CONFIG, TC).run(RetrainJob("x", torch.tensor([9999]), 3))


# --------------------------------------------------------------------------- the study


@pytest.mark.parametrize("part", ["params", "buffers"])
def test_null_check_sees_one_changed_number(kg, checkpoints, targets, tmp_path, part):
    """`null_reproduces_original` compares parameters and BatchNorm buffers: one number of the
    explained model changed by one ulp in either makes the same-seed null retraining differ."""
    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    kwargs = dict(targets=targets, methods=["random"], ks=[1], run_jobs=["null"])
    assert run_kelpie(kg, checkpoints, cache, **kwargs).null_reproduces_original is True
    last = checkpoints[-1]
    tensors = {n: v.clone() for n, v in getattr(last, part).items()}
    name = next(n for n, v in tensors.items() if v.is_floating_point() and v.numel())
    flat = tensors[name].view(-1)
    flat[0] = torch.nextafter(flat[0], torch.tensor(float("inf"), dtype=flat.dtype))
    changed = dataclasses.replace(last, **{part: tensors})
    result = run_kelpie(kg, [*checkpoints[:-1], changed], cache, **kwargs)
    assert result.null_reproduces_original is False


def test_run_kelpie_end_to_end_and_resumed(kg, checkpoints, targets, tmp_path, monkeypatch):
    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    calls = _counting_train(monkeypatch)
    partial = run_kelpie(kg, checkpoints, cache, targets=targets, methods=["tracin", "random"],
                         ks=[1], budget=4, noise_seeds=[7], run_jobs=["null"])
    assert len(calls) == 1 and partial.status["tracin@1"] == "pending"
    assert partial.null_reproduces_original is True  # same seed, threads and settings
    assert int((partial.explanations["tracin@budget4"] >= 0).sum()) == 4
    done = run_kelpie(kg, checkpoints, cache, targets=targets, methods=["tracin", "random"],
                      ks=[1], budget=4, noise_seeds=[7])
    assert len(calls) == 6  # 4 deletions + noise; the null came from the cache
    assert set(done.after) == {"tracin@1", "random@1", "tracin@budget4", "random@budget4",
                               "null", "null_seed7"}
    assert done.extraction_cached == ["tracin", "random"]  # rankings read from the cache
    assert done.extraction_seconds == partial.extraction_seconds  # as recorded then
    assert partial.extraction_cached == [] and partial.extraction_seconds["tracin"] > 0
    assert torch.equal(done.after["null"], done.before["rank"])
    rows = {r["job"]: r for r in summarize_kelpie(done.before["rank"], done.after)}
    assert set(rows["tracin@1"]["vs"]) == {"random@1", "null", "null_seed7"}
    assert done.retrain_resumed_from == dict.fromkeys(done.after, 0)  # each trained in one go
    done.retrain_resumed_from["null_seed7"] = 35  # as a job finished by a resumed process
    table = markdown_table(done, list(rows.values()))
    seven = [line for line in table.splitlines() if line.startswith("| null_seed7 |")]
    assert len(seven) == 1 and "after resuming at epoch 35 | done |" in seven[0]
    tracin_row = [line for line in table.splitlines() if line.startswith("| tracin@1 |")][0]
    assert "| seed7: " in tracin_row  # the p-values against the noise row
    assert table.count("after resuming") == 1
    with pytest.raises(ValueError, match="unknown jobs"):
        run_kelpie(kg, checkpoints, cache, targets=targets, run_jobs=["nope"])


def test_run_kelpie_refuses_bad_arguments(kg, checkpoints, targets, tmp_path):
    cache = RetrainCache(tmp_path, kg, CONFIG, TC)
    for kwargs, message in (({"methods": ["tracin_fc"]}, "unknown methods"),
                            ({"ks": [5]}, r"k=\[5\] outside 1..4"),
                            ({"budget": 13}, r"budget=13 must be in \[1, 12\]"),
                            ({"candidates": "tail"}, "candidates='tail'")):
        with pytest.raises(ValueError, match=message):
            run_kelpie(kg, checkpoints, cache, targets=targets, **kwargs)
    with pytest.raises(ValueError, match="not test facts"):
        run_kelpie(kg, checkpoints, cache, targets=kg.training[:2])


# --------------------------------------------------------------------------- command line


def _write_dataset(kg, folder):
    folder.mkdir()
    for split, triples in (("train", kg.training), ("valid", kg.validation),
                           ("test", kg.testing)):
        (folder / f"{split}.txt").write_text("".join(
            f"e{h}\tr{r}\te{t}\n" for h, r, t in triples.tolist()))


def test_cli_kelpie_runs_resumes_and_refuses(kg, tmp_path, capsys):
    import json

    from kgif.cli import main

    data, original, cache = tmp_path / "toy", tmp_path / "original", tmp_path / "cache"
    _write_dataset(kg, data)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["train", "--dataset", str(data), "--output-dir", str(original),
                     "--embedding-dim", "12", "--embedding-height", "3",
                     "--output-channels", "2", "--epochs", "3", "--checkpoint-every", "1",
                     "--eval-every", "0", "--seed", "3", "--learning-rate", "0.02",
                     "--no-progress"]) == 0
    finally:
        torch.set_num_threads(threads)
    common = ["faithfulness", "--protocol", "kelpie", "--dataset", str(data), "--original",
              str(original), "--cache-dir", str(cache), "--methods", "tracin", "random",
              "--k", "1", "--budget", "3"]
    out, tsv = tmp_path / "k.json", tmp_path / "targets.tsv"
    assert main([*common, "--targets", "2", "--write-targets", str(tsv), "--jobs", "tracin@1",
                 "null", "--output", str(out), "--markdown", str(tmp_path / "k.md")]) == 0
    payload = json.loads(out.read_text())
    assert len(payload["targets"]) == 2 and len(tsv.read_text().splitlines()) == 2
    status = {name: job["status"] for name, job in payload["jobs"].items()}
    assert status == {"tracin@1": "done", "random@1": "pending", "tracin@budget3": "pending",
                      "random@budget3": "pending", "null": "done"}
    assert payload["null_reproduces_original"] is True
    assert "| Kelpie (published) | 226 | -0.430 | -0.284 |" in (tmp_path / "k.md").read_text()
    assert main([*common, "--targets-file", str(tsv), "--no-retrain", "--output",
                 str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["jobs"]["tracin@1"]["status"] == "done" and again["targets"] == payload["targets"]
    capsys.readouterr()
    for extra, message in ((["--k", "5"], "kelpie explanations have 1 to 4 facts"),
                           (["--jobs", "tracin@9"], "--jobs ['tracin@9'] are not jobs"),
                           (["--methods", "tracin_fc"], "are not kelpie methods"),
                           (["--targets-file", str(tmp_path / "none.tsv")], "does not exist")):
        assert main([*common, *extra]) == 2
        assert message in capsys.readouterr().err
    assert main(["faithfulness", "--protocol", "kelpie", "--dataset", str(data)]) == 2
    assert "needs --original" in capsys.readouterr().err
