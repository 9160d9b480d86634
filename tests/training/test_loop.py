"""Trainer: sparse 1-N loss vs a dense reference, exact resume, compile vs eager, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers import TINY, _tiny_graph
from tolerances import ATOL32, ATOL64, RTOL32, RTOL64

from kgif.data.graph import TailIndex, with_reciprocals
from kgif.evaluation.ranks import evaluate
from kgif.model.checkpoint import list_checkpoints, load_checkpoint
from kgif.model.conve import ConvEConfig, hidden, init_conve, score_all
from kgif.training.loop import LR_SCHEDULES, TrainingConfig, _forward_loss, make_step, train


def _dense_reference_loss(params, buffers, rows, training, config, eps):
    """Dense labels built with a Python loop, PyKEEN's smoothing, torch's BCE (mean)."""
    h, r = rows.unbind(1)
    f, _ = hidden(params, buffers, h, r, config, training=True)
    logits = score_all(params, f)
    labels = torch.zeros_like(logits)
    for i, (hi, ri) in enumerate(rows.tolist()):
        for a, b, c in with_reciprocals(training).tolist():
            if (a, b) == (hi, ri):
                labels[i, c] = 1.0
    n = logits.shape[1]
    smoothed = labels * (1.0 - eps) + (1.0 - labels) * eps / (n - 1)
    return F.binary_cross_entropy_with_logits(logits, smoothed)


def test_sparse_training_loss_and_gradient_equal_dense_reference_float64():
    kg = _tiny_graph()
    config = ConvEConfig(**TINY, input_dropout=0.0, feature_map_dropout=0.0, output_dropout=0.0)
    params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=1,
                                 dtype=torch.float64)
    index = TailIndex.from_triples(with_reciprocals(kg.training), 2 * kg.num_relations)
    batch = torch.tensor([0, 3, 5, 7, 11, 2])
    pos_rows, pos_cols = index.gather(batch)
    leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    h, r = index.rows[batch].unbind(1)
    loss, _ = _forward_loss(leaf, buffers, h, r, pos_rows, pos_cols, config, 0.1, "pykeen")
    grads = torch.autograd.grad(loss, list(leaf.values()))
    ref_leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    ref = _dense_reference_loss(ref_leaf, buffers, index.rows[batch], kg.training, config, 0.1)
    ref_grads = torch.autograd.grad(ref, list(ref_leaf.values()))
    torch.testing.assert_close(loss, ref, rtol=RTOL64, atol=ATOL64)
    for g, rg in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, rg, rtol=RTOL64, atol=ATOL64)


def test_rows_cover_every_training_direction_once():
    kg = _tiny_graph(seed=3)
    index = TailIndex.from_triples(with_reciprocals(kg.training), 2 * kg.num_relations)
    rows, cols = index.gather(torch.arange(index.num_rows))
    got = {(*index.rows[i].tolist(), c) for i, c in zip(rows.tolist(), cols.tolist(),
                                                          strict=True)}
    assert got == {tuple(t) for t in with_reciprocals(kg.training).tolist()}
    assert len(got) == len(rows)


def _assert_same_run(a, b):
    assert a.loss_history == b.loss_history
    assert a.final.epoch == b.final.epoch
    for name, value in {**a.final.params, **a.final.buffers}.items():
        other = b.final.params.get(name, b.final.buffers.get(name))
        assert torch.equal(value, other), name


def test_resume_is_exact(tmp_path):
    kg = _tiny_graph(seed=1)
    config = ConvEConfig(**TINY)
    tc = TrainingConfig(epochs=4, batch_size=24, checkpoint_every=2, eval_every=1,
                        lr_schedule="exponential", lr_decay=0.9, seed=5)
    straight = train(kg, config, tc, output_dir=tmp_path / "a", show_progress=False)
    again = train(kg, config, tc, show_progress=False)
    _assert_same_run(straight, again)  # seeded: two runs agree
    first = train(kg, config, TrainingConfig(**{**tc.__dict__, "epochs": 2}),
                  output_dir=tmp_path / "b", show_progress=False)
    resumed = train(kg, config, tc, output_dir=tmp_path / "b", resume_from=tmp_path / "b" /
                    "checkpoints" / "checkpoint_epoch_0002.pt", show_progress=False)
    assert first.loss_history == straight.loss_history[:2]
    _assert_same_run(straight, resumed)
    assert resumed.metrics_history == straight.metrics_history
    assert resumed.best.epoch == straight.best.epoch
    for name, value in straight.best.params.items():
        assert torch.equal(resumed.best.params[name], value), name


def _adam_step_float64(p, g, m, v, step, lr, betas=(0.9, 0.999), eps=1e-8):
    """Adam (Kingma & Ba, ICLR 2015, Algorithm 1), written out in float64."""
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * g * g
    m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)
    return p - lr * m_hat / (v_hat.sqrt() + eps), m, v


def test_fused_adam_trains_the_same_model(monkeypatch):
    """``fused_adam`` builds the fused Adam (spied) and gives the unfused run's model within
    float32 rounding; the fused update itself equals Adam written out in float64."""
    built = []
    real_adam = torch.optim.Adam

    def spy(*args, **kwargs):
        built.append(kwargs.get("fused"))
        return real_adam(*args, **kwargs)

    kg = _tiny_graph(seed=4)
    config = ConvEConfig(**TINY, input_dropout=0.0, feature_map_dropout=0.0, output_dropout=0.0)
    tc = TrainingConfig(epochs=2, batch_size=24, checkpoint_every=0, eval_every=0, seed=2)
    monkeypatch.setattr(torch.optim, "Adam", spy)
    plain = train(kg, config, tc, show_progress=False)
    fused = train(kg, config, TrainingConfig(**{**tc.__dict__, "fused_adam": True}),
                  show_progress=False)
    assert built == [None, True]
    for name, value in plain.final.params.items():
        torch.testing.assert_close(fused.final.params[name], value, rtol=RTOL32, atol=ATOL32)
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    leaf = p.clone().requires_grad_(True)
    opt = real_adam([leaf], lr=0.01, fused=True)
    m = v = torch.zeros_like(p)
    for step in (1, 2, 3):
        g = torch.randn(5, 3, generator=gen, dtype=torch.float64)
        leaf.grad = g.clone()
        opt.step()
        p, m, v = _adam_step_float64(p, g, m, v, step, 0.01)
        torch.testing.assert_close(leaf.detach(), p, rtol=RTOL64, atol=ATOL64)


def test_checkpoints_names_learning_rates_and_best(tmp_path):
    kg = _tiny_graph(seed=2)
    tc = TrainingConfig(epochs=5, batch_size=16, checkpoint_every=2, eval_every=1,
                        lr_schedule="exponential", lr_decay=0.5, learning_rate=0.01)
    result = train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path, show_progress=False)
    files = [p.name for p in list_checkpoints(tmp_path / "checkpoints")]
    assert files == ["checkpoint_epoch_0002.pt", "checkpoint_epoch_0004.pt",
                     "checkpoint_epoch_0005.pt"]
    lrs = [LR_SCHEDULES["exponential"](tc, e) for e in range(5)]
    for path, closed in zip(list_checkpoints(tmp_path / "checkpoints"),
                            (lrs[0:2], lrs[2:4], lrs[4:5]), strict=True):
        ckpt = load_checkpoint(path)
        assert ckpt.learning_rate == pytest.approx(sum(closed))  # TracInCP: sum over the interval
        assert ckpt.config.extra["dataset"] == "tiny"
        assert ckpt.entity_to_id == kg.entity_to_id
    mrrs = [m["validation.realistic.mrr"] for m in result.metrics_history]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best.epoch == result.best.epoch == 1 + mrrs.index(max(mrrs))
    assert best.metrics["validation.realistic.mrr"] == max(mrrs)
    recomputed = evaluate(best.params, best.buffers, best.config, kg, split="validation")
    assert recomputed["realistic.mrr"] == pytest.approx(max(mrrs), abs=1e-12)


def test_early_stopping_follows_patience():
    kg = _tiny_graph(seed=4)
    tc = TrainingConfig(epochs=60, batch_size=16, eval_every=1, patience=3, learning_rate=0.05,
                        checkpoint_every=0)
    result = train(kg, ConvEConfig(**TINY), tc, show_progress=False)
    mrrs = [m["validation.realistic.mrr"] for m in result.metrics_history]
    assert result.stopped_early
    best = mrrs.index(max(mrrs))
    assert len(mrrs) == best + 1 + tc.patience  # stopped right when patience ran out
    assert result.final.epoch == len(mrrs) and result.best.epoch == best + 1


def test_training_fits_a_tiny_graph():
    kg = _tiny_graph(seed=6, n=60)
    config = ConvEConfig(**TINY, input_dropout=0.0, feature_map_dropout=0.0, output_dropout=0.0)
    tc = TrainingConfig(epochs=60, batch_size=64, learning_rate=0.03, eval_every=0,
                        label_smoothing=0.0)
    result = train(kg, config, tc, show_progress=False)
    assert result.loss_history[-1] < 0.5 * result.loss_history[0]
    metrics = evaluate(result.final.params, result.final.buffers, config, kg.training,
                       kg.all_triples())
    assert metrics["realistic.mrr"] > 0.9  # memorises its own training edges


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
@pytest.mark.slow
def test_compiled_step_equals_eager():
    pytest.importorskip("torch._inductor")
    from torch._inductor import config as inductor_config

    kg = _tiny_graph(seed=7)
    config = ConvEConfig(**TINY)
    index = TailIndex.from_triples(with_reciprocals(kg.training), 2 * kg.num_relations)
    params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=0)
    tol = dict(rtol=RTOL32, atol=ATOL32)
    runs = []
    with inductor_config.patch(fallback_random=True):  # compiled dropout draws = eager draws
        for compiled in (False, True):
            step = make_step(config, TrainingConfig(compile=compiled))
            leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
            torch.manual_seed(0)
            out = []
            for batch in (torch.arange(0, 9), torch.arange(9, 20), torch.arange(20, 24)):
                pos_rows, pos_cols = index.gather(batch)
                h, r = index.rows[batch].unbind(1)
                # the last batch weights its rows (a weight-0 row: kept_row_index's masking)
                weight = torch.tensor([1.0, 0.0, 1.0, 1.0]) if len(batch) == 4 else None
                loss, new = step(leaf, buffers, h, r, pos_rows, pos_cols, weight)
                grads = torch.autograd.grad(loss, list(leaf.values()))
                out.append((loss.detach(), [g.detach() for g in grads], new))
            runs.append(out)
    for (l_e, g_e, b_e), (l_c, g_c, b_c) in zip(*runs, strict=True):
        torch.testing.assert_close(l_c, l_e, **tol)
        for a, b in zip(g_c, g_e, strict=True):
            torch.testing.assert_close(a, b, **tol)
        for name in b_e:
            torch.testing.assert_close(b_c[name], b_e[name], **tol)


def test_bf16_loss_close_to_float32():
    kg = _tiny_graph(seed=8)
    config = ConvEConfig(**TINY, input_dropout=0.0, feature_map_dropout=0.0, output_dropout=0.0)
    params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=0)
    index = TailIndex.from_triples(with_reciprocals(kg.training), 2 * kg.num_relations)
    batch = torch.arange(16)
    h, r = index.rows[batch].unbind(1)
    losses = [make_step(config, TrainingConfig(bf16=flag))(params, buffers, h, r,
                                                           *index.gather(batch))[0]
              for flag in (False, True)]
    assert losses[1].dtype == torch.float32
    assert math.isclose(losses[0].item(), losses[1].item(), rel_tol=2e-2)


def test_validation_errors():
    with pytest.raises(ValueError, match="batch_size=0"):
        TrainingConfig(batch_size=0)
    with pytest.raises(ValueError, match="lr_schedule='step'"):
        TrainingConfig(lr_schedule="step")
    kg = _tiny_graph()
    with pytest.raises(ValueError, match="reciprocal=True"):
        train(kg, ConvEConfig(**TINY, reciprocal=False), show_progress=False)


def test_cli_train_then_evaluate(tmp_path, capsys):
    import json

    from kgif.cli import main

    out = tmp_path / "run"
    assert main(["train", "--dataset", "nations", "--epochs", "2", "--embedding-dim", "12",
                 "--output-channels", "4", "--eval-every", "1", "--checkpoint-every", "1",
                 "--output-dir", str(out), "--no-progress"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["epochs_run"] == 2 and len(report["loss_history"]) == 2
    assert report["device"] == "cpu" and report["cuda"] is None  # kgif._environment's keys
    assert "realistic" in capsys.readouterr().out
    best = load_checkpoint(out / "best.pt")
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--no-progress",
                 "--output", str(tmp_path / "eval.json")]) == 0
    evaluated = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    from kgif.data.datasets import load_dataset

    kg = load_dataset("nations")
    expected = evaluate(best.params, best.buffers, best.config, kg, side="head")
    assert evaluated["head"] == pytest.approx(expected)
    assert evaluated["both"] == pytest.approx(report["test"]["both"])


# --------------------------------------------------------------------------- issue 12 items

FAST = dict(batch_size=24, eval_every=0, checkpoint_every=1)


def test_diverging_training_stops_at_the_first_non_finite_loss(tmp_path):
    from kgif.training.loop import NonFiniteLossError

    kg = _tiny_graph(seed=1)
    tc = TrainingConfig(epochs=6, learning_rate=1e30, batch_size=24, eval_every=1,
                        checkpoint_every=1)
    with pytest.raises(NonFiniteLossError, match=r"non-finite .* epoch \d+"):
        train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path, show_progress=False)
    for path in tmp_path.rglob("*.pt"):  # whatever was written before is a finite model
        load_checkpoint(path)


def test_checkpoint_weight_is_the_sum_of_rates_and_resume_does_not_double_count(tmp_path):
    kg = _tiny_graph(seed=2)
    base = dict(FAST, checkpoint_every=3, lr_schedule="exponential", lr_decay=0.8,
                learning_rate=0.003)
    train(kg, ConvEConfig(**TINY), TrainingConfig(epochs=15, **base), output_dir=tmp_path,
          show_progress=False)
    train(kg, ConvEConfig(**TINY), TrainingConfig(epochs=18, **base), output_dir=tmp_path,
          resume_from=tmp_path / "checkpoints" / "checkpoint_epoch_0015.pt",
          show_progress=False)
    # epochs 16, 17, 18 (1-based) run at 0.003 * 0.8 ** e for e = 15, 16, 17 (0-based)
    expected = 0.003 * (0.8**15 + 0.8**16 + 0.8**17)
    got = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_epoch_0018.pt").learning_rate
    assert got == pytest.approx(expected, rel=1e-12)
    first = load_checkpoint(tmp_path / "checkpoints" / "checkpoint_epoch_0003.pt")
    assert first.learning_rate == pytest.approx(0.003 * (1 + 0.8 + 0.64), rel=1e-12)


def test_run_ids_kept_by_resume_and_foreign_folders_refused(tmp_path):
    kg = _tiny_graph(seed=3)
    config, tc = ConvEConfig(**TINY), TrainingConfig(epochs=2, **FAST)
    one = train(kg, config, tc, output_dir=tmp_path / "a", show_progress=False)
    assert len(one.final.run_id) == 32
    ids = {load_checkpoint(p).run_id for p in (tmp_path / "a").rglob("*.pt")}
    assert ids == {one.final.run_id}
    longer = TrainingConfig(epochs=3, **FAST)
    resumed = train(kg, config, longer, output_dir=tmp_path / "a", show_progress=False,
                    resume_from=tmp_path / "a" / "checkpoints" / "checkpoint_epoch_0002.pt")
    assert resumed.final.run_id == one.final.run_id
    with pytest.raises(ValueError, match="another training run"):
        train(kg, config, tc, output_dir=tmp_path / "a", show_progress=False)
    fresh = train(kg, config, tc, output_dir=tmp_path / "a", show_progress=False,
                  overwrite=True)
    files = sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir())
    assert files == ["checkpoint_epoch_0001.pt", "checkpoint_epoch_0002.pt"]  # epoch 3 gone
    assert fresh.final.run_id != one.final.run_id
    with pytest.raises(ValueError, match="differs from the run id"):
        train(kg, config, longer, run_id="other", show_progress=False,
              resume_from=tmp_path / "a" / "checkpoints" / "checkpoint_epoch_0002.pt")


@pytest.mark.parametrize(("field", "value"), [
    ("learning_rate", 0.5), ("batch_size", 7), ("seed", 99), ("label_smoothing", 0.0),
    ("lr_schedule", "exponential"), ("relation_repeats", {"r0": 3})])
def test_resume_under_other_settings_is_refused(tmp_path, field, value):
    """A resumed run with another learning rate, batch size, seed, ... would silently be a
    different run under the same run id: refused naming the setting and both values; the
    number of epochs, the checkpoint interval and the device may change."""
    kg = _tiny_graph(seed=3)
    config, tc = ConvEConfig(**TINY), TrainingConfig(epochs=1, **FAST)
    train(kg, config, tc, output_dir=tmp_path / "a", show_progress=False)
    ckpt = tmp_path / "a" / "checkpoints" / "checkpoint_epoch_0001.pt"
    other = TrainingConfig(**{**tc.__dict__, "epochs": 2, field: value})
    with pytest.raises(ValueError, match=rf"trained with {field}=.*this run has {field}="):
        train(kg, config, other, show_progress=False, resume_from=ckpt)
    longer = TrainingConfig(**{**tc.__dict__, "epochs": 2, "checkpoint_every": 2})
    assert train(kg, config, longer, show_progress=False, resume_from=ckpt).final.epoch == 2


def test_identical_runs_give_byte_identical_checkpoints_and_stale_temporaries_go(tmp_path):
    kg = _tiny_graph(seed=4)
    tc = TrainingConfig(epochs=2, batch_size=24, eval_every=1, checkpoint_every=1)
    stale = tmp_path / "b" / "checkpoints" / ".checkpoint_epoch_0001.pt.kgif-1a2b3c4d.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a killed run")
    for name in ("a", "b"):
        train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path / name, run_id="fixed",
              show_progress=False)
    assert not stale.exists()
    names = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.pt"))
    assert len(names) == 3  # two checkpoints and best.pt
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_output_folder_checked_before_training_and_write_errors_name_the_file(
        tmp_path, monkeypatch):
    import errno
    from pathlib import Path

    kg = _tiny_graph(seed=5)
    (tmp_path / "file").write_text("not a folder")
    tc = TrainingConfig(epochs=1, **FAST)
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        with pytest.raises(OSError, match=str(out)):
            train(kg, ConvEConfig(**TINY), tc, output_dir=out, show_progress=False)

    def full_disk(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(OSError, match=r"checkpoint_epoch_0001\.pt.*No space left"):
        train(kg, ConvEConfig(**TINY), tc, output_dir=tmp_path / "out", show_progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message without a GPU")
def test_cuda_without_gpu_says_so():
    with pytest.raises(ValueError, match="no CUDA device"):
        train(_tiny_graph(), ConvEConfig(**TINY), TrainingConfig(epochs=1, device="cuda"),
              show_progress=False)


@pytest.mark.parametrize(("flags", "message"), [
    (["--lr-decay", "-5"], "argument --lr-decay: expected a number > 0 and <= 1, got -5"),
    (["--embedding-dim", "0"], "argument --embedding-dim: expected an integer >= 1, got 0"),
    (["--output-channels", "-1"], "argument --output-channels: expected an integer >= 1, got -1"),
    (["--patience", "2", "--eval-every", "0"], "--patience, --eval-every: "),
])
def test_cli_train_flag_errors_name_the_flag(tmp_path, capsys, flags, message):
    """Single values are refused by their argparse type, combinations by the dataclass."""
    from kgif.cli import main

    try:
        code = main(["train", "--dataset", "nations", "--output-dir", str(tmp_path), *flags])
    except SystemExit as exit_:
        code = exit_.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_train_output_folder_that_is_a_file(tmp_path, capsys):
    from kgif.cli import main

    (tmp_path / "taken").write_text("a file")
    assert main(["train", "--dataset", "nations", "--output-dir", str(tmp_path / "taken"),
                 "--no-progress"]) == 2
    assert f"{tmp_path / 'taken'} is a file" in capsys.readouterr().err


def test_cli_train_refuses_abbreviated_flags(tmp_path):
    from kgif.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--dataset", "nations", "--output-d", str(tmp_path), "--epochs", "1"])


def test_cli_train_without_test_split(tmp_path, capsys):
    import json

    from kgif.cli import main

    folder = tmp_path / "notest"
    folder.mkdir()
    kg = _tiny_graph(seed=6)
    for split, triples in (("train", kg.training), ("valid", kg.validation)):
        lines = [f"e{h}\tr{r}\te{t}" for h, r, t in triples.tolist()]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(folder), "--epochs", "1", "--embedding-dim", "12",
                 "--output-channels", "2", "--eval-every", "1", "--output-dir", str(out),
                 "--no-progress"]) == 0
    assert "test metrics skipped" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["test"] is None


def test_progress_bar_shows_no_validation_mrr_before_the_first_validation(capsys):
    kg = _tiny_graph(seed=7)
    tc = TrainingConfig(epochs=3, batch_size=24, eval_every=2, checkpoint_every=0)
    train(kg, ConvEConfig(**TINY), tc, show_progress=True)
    err = capsys.readouterr().err
    assert "val_mrr=0.0000" not in err
    bars = [line for line in err.split("\r") if "loss=" in line]
    assert "mrr" not in bars[0] and "0/3" in bars[0]  # epoch 1: loss only
    assert "best_val_mrr=" in bars[-1]


@pytest.mark.parametrize("dataset", ["kinships", "nations"])
def test_cli_evaluate_refuses_a_model_of_another_dataset(tmp_path, capsys, dataset):
    from kgif.cli import main
    from kgif.data.datasets import load_dataset
    from kgif.model.checkpoint import Checkpoint, save_checkpoint

    umls = load_dataset("umls")
    config = ConvEConfig(**TINY)
    params, buffers = init_conve(config, umls.num_entities, umls.num_relations, seed=0)
    path = save_checkpoint(Checkpoint(params, buffers, config, 0.1, 1), tmp_path / "umls.pt")
    assert main(["evaluate", "--checkpoint", str(path), "--dataset", dataset,
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "umls.pt has 135 rows in 'entity_embedding'" in err and repr(dataset) in err
    if not torch.cuda.is_available():
        assert main(["evaluate", "--checkpoint", str(path), "--dataset", "umls",
                     "--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err


def test_a_last_batch_of_one_row_joins_the_previous_batch():
    """BatchNorm cannot normalise one row ('Expected more than 1 value per channel'): with
    rows = k * batch_size + 1 the last row is trained in the batch before it, every row once."""
    from kgif.training.loop import _batch_bounds

    assert _batch_bounds(9, 4) == [0, 4, 9]
    assert _batch_bounds(8, 4) == [0, 4, 8]
    assert _batch_bounds(1, 4) == [0, 1]
    kg = _tiny_graph(seed=3, n=40)
    n_rows = TailIndex.from_triples(with_reciprocals(kg.training),
                                    2 * kg.num_relations).num_rows
    tc = TrainingConfig(epochs=1, batch_size=n_rows - 1, eval_every=0)
    assert len(train(kg, ConvEConfig(**TINY), tc, show_progress=False).loss_history) == 1


def test_python_train_takes_the_folder_lock(tmp_path):
    """A second writer into the same output folder is refused from Python too (issue 23),
    before any checkpoint is written; without a folder no lock is needed."""
    from kgif._lock import output_lock

    kg = _tiny_graph()
    config, tc = ConvEConfig(**TINY), TrainingConfig(epochs=1, eval_every=0)
    out = tmp_path / "run"
    out.mkdir()
    with output_lock(out, "another run"):
        with pytest.raises(ValueError, match=r"^train: .* is in use by another kgif run \(pid"):
            train(kg, config, tc, output_dir=out, show_progress=False)
    assert not (out / "checkpoints").exists()
    result = train(kg, config, tc, output_dir=out, show_progress=False)  # lock released
    assert (out / "checkpoints").is_dir() and result.final.epoch == 1
