"""PyKEEN and seed-project conversion: scores equal the source model's, round trips are exact."""

from __future__ import annotations

import copy
import importlib
import os
import sys

import pytest
import torch
from tolerances import ATOL64, RTOL64, RTOL_CONVERT
from torch import nn

from kgif.cli import main
from kgif.influence.tracin import TracIn
from kgif.interop.pykeen import from_pykeen, pykeen_model, to_pykeen
from kgif.interop.tiepin import from_seed
from kgif.model.checkpoint import load_checkpoint
from kgif.model.conve import hidden, score_all


def require_pykeen(module: str):
    """Import ``module`` (part of pykeen): skip without it locally, FAIL in CI (``CI`` set).

    CI must run the equivalence tests, so a missing pykeen there is an error, not a skip.
    """
    if os.environ.get("CI"):
        try:
            return importlib.import_module(module)
        except ImportError as error:
            pytest.fail(f"{module} is required when CI={os.environ['CI']!r} (the PyKEEN "
                        f"equivalence tests must run there): {error}")
    return pytest.importorskip(module)


@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception),
                                             (None, pytest.skip.Exception)])
def test_missing_pykeen_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setitem(sys.modules, "pykeen.models", None)  # import raises ImportError
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome):
        require_pykeen("pykeen.models")


def _assert_scores_close(got, expected):
    scale = expected.abs().max().item()
    torch.testing.assert_close(got, expected, rtol=RTOL_CONVERT, atol=RTOL_CONVERT * scale)


def _kgif_scores(ckpt):
    """(N * R', N) eval-mode scores of every (head, relation row) pair, kgif side."""
    n, rows = ckpt.params["entity_embedding"].shape[0], ckpt.params["relation_embedding"].shape[0]
    hr = torch.cartesian_prod(torch.arange(n), torch.arange(rows))
    f, _ = hidden(ckpt.params, ckpt.buffers, hr[:, 0], hr[:, 1], ckpt.config)
    return score_all(ckpt.params, f), hr


# --------------------------------------------------------------------------- PyKEEN


@pytest.fixture(scope="module")
def nations():
    datasets = require_pykeen("pykeen.datasets")
    return datasets.Nations(create_inverse_triples=True).training


def _train_steps(model, factory, steps=4, lr=0.01, seed=0):
    """A few 1-N BCE Adam steps in training mode, so BN statistics and weights move."""
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = factory.mapped_triples[torch.randint(factory.num_triples, (64,), generator=gen)]
        scores = model.score_t(batch[:, :2])
        labels = torch.zeros_like(scores).scatter_(1, batch[:, 2:], 1.0)
        loss = nn.functional.binary_cross_entropy_with_logits(scores, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def _pykeen_conve(factory, **kwargs):
    models = require_pykeen("pykeen.models")
    return _train_steps(models.ConvE(triples_factory=factory, random_seed=0, **kwargs), factory)


def _pykeen_scores(model, hr):
    with torch.no_grad():
        return model.score_t(hr)


SHAPES = {
    "d32_4x8_c8": dict(embedding_dim=32, embedding_height=4, embedding_width=8,
                       output_channels=8),
    "d24_4x6_c4": dict(embedding_dim=24, embedding_height=4, embedding_width=6,
                       output_channels=4),
    # the Hetionet preset's shape (kgif.training.presets), as the training bench converts it
    "d32_8x4_c32": dict(embedding_dim=32, embedding_height=8, embedding_width=4,
                        output_channels=32),
    "d24_no_bn": dict(embedding_dim=24, output_channels=4, apply_batch_normalization=False),
    "d200_default": dict(embedding_dim=200),
    "d36_6x6_k2x4": dict(embedding_dim=36, output_channels=3, kernel_height=2, kernel_width=4),
}


@pytest.mark.parametrize("name", SHAPES)
def test_pykeen_model_scores_and_exact_round_trip(nations, name):
    model = _pykeen_conve(nations, **SHAPES[name])
    ckpt = from_pykeen(model, entity_to_id=nations.entity_to_id,
                       relation_to_id=nations.relation_to_id, learning_rate=0.01)
    got, hr = _kgif_scores(ckpt)
    _assert_scores_close(got, _pykeen_scores(model, hr))

    state, original = to_pykeen(ckpt), model.state_dict()
    assert set(state) == set(original)
    for key, value in original.items():
        assert torch.equal(state[key], value), key
    fresh = pykeen_model(ckpt)  # builds a new ConvE and load_state_dict(strict=True)
    assert torch.equal(_pykeen_scores(fresh, hr), _pykeen_scores(model, hr))


def test_state_dict_with_ambiguous_shape_needs_config(nations):
    model = _pykeen_conve(nations, **SHAPES["d24_4x6_c4"])
    state, rel = model.state_dict(), nations.relation_to_id
    with pytest.raises(ValueError, match=r"candidates \[\(3, 8\), \(4, 6\)\].*embedding_height"):
        from_pykeen(state, relation_to_id=rel, learning_rate=1.0)
    right = from_pykeen(state, relation_to_id=rel, learning_rate=1.0,
                        config={"embedding_height": 4})
    got, hr = _kgif_scores(right)
    _assert_scores_close(got, _pykeen_scores(model, hr))
    wrong = from_pykeen(state, relation_to_id=rel, learning_rate=1.0,
                        config={"embedding_height": 3})  # fits the shapes, scores differently
    assert not torch.allclose(_kgif_scores(wrong)[0], got, rtol=1e-3)


def test_unique_shape_inferred_from_state_dict(nations):
    model = _pykeen_conve(nations, **SHAPES["d32_4x8_c8"])
    ckpt = from_pykeen(model.state_dict(), config={"reciprocal": True}, learning_rate=1.0)
    assert (ckpt.config.embedding_height, ckpt.config.embedding_width) == (4, 8)
    assert ckpt.config.reciprocal and ckpt.entity_to_id == {}


def test_inverse_layout_from_relation_map_or_error(nations):
    models = require_pykeen("pykeen.models")
    from pykeen.triples import TriplesFactory

    plain = TriplesFactory(nations.mapped_triples, entity_to_id=nations.entity_to_id,
                           relation_to_id=nations.relation_to_id)
    model = _train_steps(models.ConvE(triples_factory=plain, embedding_dim=32, random_seed=1),
                         plain)
    state, rel = model.state_dict(), nations.relation_to_id
    assert not from_pykeen(model, learning_rate=1.0).config.reciprocal  # the model knows
    ckpt = from_pykeen(state, relation_to_id=rel, learning_rate=1.0)
    assert not ckpt.config.reciprocal and ckpt.params["relation_embedding"].shape[0] == len(rel)
    got, hr = _kgif_scores(ckpt)
    _assert_scores_close(got, _pykeen_scores(model, hr))
    with pytest.raises(ValueError, match="inverse relations.*relation_to_id"):
        from_pykeen(state, learning_rate=1.0)
    with pytest.raises(ValueError, match="relation_to_id has 3 relations"):
        from_pykeen(state, relation_to_id={"a": 0, "b": 1, "c": 2}, learning_rate=1.0)


def test_callback_checkpoints_epoch_from_name_and_learning_rate(nations, tmp_path):
    require_pykeen("pykeen")
    from pykeen.models import ConvE
    from pykeen.training import LCWATrainingLoop
    from pykeen.training.callbacks import CheckpointTrainingCallback

    model = ConvE(triples_factory=nations, embedding_dim=32, output_channels=4, random_seed=2)
    loop = LCWATrainingLoop(model=model, triples_factory=nations, optimizer="Adam",
                            optimizer_kwargs={"lr": 0.005},
                            automatic_memory_optimization=False)
    callback = CheckpointTrainingCallback(root=tmp_path, schedule="every",
                                          schedule_kwargs={"frequency": 1},
                                          name_template="checkpoint_epoch_{epoch:07d}.pt")
    loop.train(triples_factory=nations, num_epochs=2, batch_size=512, callbacks=[callback],
               use_tqdm=False, pin_memory=False)
    files = sorted(tmp_path.glob("checkpoint_epoch_*.pt"))
    # PyKEEN 1.11 names the file after epoch k "k + 1" (1-based epoch, plus one in the callback)
    assert [p.name for p in files] == ["checkpoint_epoch_0000002.pt", "checkpoint_epoch_0000003.pt"]
    rel = nations.relation_to_id
    with pytest.warns(UserWarning, match="defaulting to 1.0"):
        first = from_pykeen(files[0], relation_to_id=rel)
    assert first.epoch == 1 and first.learning_rate == 1.0
    last = from_pykeen(files[1], relation_to_id=rel, learning_rate=0.005)
    assert last.epoch == 2 and last.learning_rate == 0.005
    got, hr = _kgif_scores(last)
    _assert_scores_close(got, _pykeen_scores(model.eval(), hr))  # the model ends at epoch 2


def test_training_loop_checkpoint_needs_trust_and_carries_lr(nations, tmp_path):
    require_pykeen("pykeen")
    from pykeen.models import ConvE
    from pykeen.training import LCWATrainingLoop

    model = ConvE(triples_factory=nations, embedding_dim=32, output_channels=4, random_seed=3)
    loop = LCWATrainingLoop(model=model, triples_factory=nations, optimizer="Adam",
                            optimizer_kwargs={"lr": 0.004},
                            automatic_memory_optimization=False)
    loop.train(triples_factory=nations, num_epochs=1, batch_size=512, use_tqdm=False,
               pin_memory=False,
               checkpoint_name="loop.pt", checkpoint_directory=tmp_path)
    with pytest.raises(ValueError, match="trust_pickle=True"):
        from_pykeen(tmp_path / "loop.pt")
    ckpt = from_pykeen(tmp_path / "loop.pt", trust_pickle=True)
    assert ckpt.learning_rate == 0.004 and ckpt.epoch == 1
    assert ckpt.entity_to_id == nations.entity_to_id
    assert ckpt.relation_to_id == nations.relation_to_id and ckpt.config.reciprocal
    with pytest.warns(UserWarning, match="using the checkpoint's learning rate 0.004"):
        from_pykeen(tmp_path / "loop.pt", trust_pickle=True, learning_rate=0.1)
    got, hr = _kgif_scores(ckpt)
    _assert_scores_close(got, _pykeen_scores(model.eval(), hr))


def test_pipeline_directory(nations, tmp_path):
    model = _pykeen_conve(nations, **SHAPES["d24_4x6_c4"])
    torch.save(model, tmp_path / "trained_model.pkl")  # as PipelineResult.save_to_directory
    nations.to_path_binary(tmp_path / "training_triples")
    with pytest.raises(ValueError, match="trust_pickle"):
        from_pykeen(tmp_path, learning_rate=1.0)
    ckpt = from_pykeen(tmp_path, learning_rate=1.0, trust_pickle=True)
    assert ckpt.entity_to_id == nations.entity_to_id
    assert ckpt.relation_to_id == nations.relation_to_id
    got, hr = _kgif_scores(ckpt)
    _assert_scores_close(got, _pykeen_scores(model, hr))


def test_bad_pykeen_inputs_name_the_key(nations):
    state = _pykeen_conve(nations, **SHAPES["d32_4x8_c8"]).state_dict()
    opts = {"config": {"reciprocal": True}, "learning_rate": 1.0}
    missing = {k: v for k, v in state.items() if k != "interaction.hr2d.3.running_var"}
    with pytest.raises(ValueError, match=r"missing .*interaction\.hr2d\.3\.running_var"):
        from_pykeen(missing, **opts)
    extra = {**state, "interaction.hr2d.9.weight": torch.ones(1)}
    with pytest.raises(ValueError, match=r"unexpected .*interaction\.hr2d\.9\.weight"):
        from_pykeen(extra, **opts)
    short = {**state, "interaction.hr1d.0.bias": torch.zeros(31)}
    with pytest.raises(ValueError, match=r"interaction\.hr1d\.0\.bias has shape \(31,\)"):
        from_pykeen(short, **opts)
    bias = {**state, "entity_representations.1._embeddings.weight": torch.zeros(14, 2)}
    with pytest.raises(ValueError, match=r"entity_representations\.1\._embeddings\.weight"):
        from_pykeen(bias, **opts)
    with pytest.raises(ValueError, match="version 2"):
        from_pykeen({"state_dict": state, "version": 2}, **opts)
    with pytest.raises(ValueError, match="contradicts the file layout"):
        from_pykeen(state, config={"stacking": "width"}, learning_rate=1.0)
    with pytest.raises(ValueError, match="unknown config field"):
        from_pykeen(state, config={"embeding_height": 4}, learning_rate=1.0)


def test_multichannel_pykeen_conve_is_rejected(nations):
    model = _pykeen_conve(nations, embedding_dim=32, input_channels=2, embedding_height=4,
                          output_channels=4)
    with pytest.raises(ValueError, match="2 input channels"):
        from_pykeen(model, learning_rate=1.0)


# --------------------------------------------------------------------------- seed layout


class SeedLayoutConvE(nn.Module):
    """Test-local model in the seed project's layout (key names, width concatenation, no
    bias, no inverses), eval-mode forward only."""

    def __init__(self, num_entities, num_relations, height, width, channels):
        super().__init__()
        dim = height * width
        self.shape = (height, width)
        self.entity_embeddings = nn.Embedding(num_entities, dim)
        self.relation_embeddings = nn.Embedding(num_relations, dim)
        self.bn0 = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, channels, (3, 3))
        self.bn1 = nn.BatchNorm2d(channels)
        self.fc = nn.Linear(channels * (height - 2) * (2 * width - 2), dim)
        self.bn2 = nn.BatchNorm1d(dim)

    def forward(self, heads, relations):
        left = self.entity_embeddings(heads).unflatten(1, self.shape)
        right = self.relation_embeddings(relations).unflatten(1, self.shape)
        image = torch.cat([left, right], dim=2)[:, None]  # (B, 1, H, 2W)
        maps = torch.relu(self.bn1(self.conv1(self.bn0(image))))
        f = torch.relu(self.bn2(self.fc(maps.reshape(len(heads), -1))))
        return f @ self.entity_embeddings.weight.T


def _seed_model(num_entities=9, num_relations=4, height=4, width=6, channels=5, seed=0):
    torch.manual_seed(seed)
    model = SeedLayoutConvE(num_entities, num_relations, height, width, channels)
    for bn in (model.bn0, model.bn1, model.bn2):
        bn.running_mean.normal_(0.0, 0.3)
        bn.running_var.uniform_(0.5, 1.5)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.normal_(0.0, 0.1)
        bn.num_batches_tracked.fill_(17)
    return model.eval()


def _seed_file(model, path, epoch=6, lr=0.002):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    payload = {
        "epoch": epoch, "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "model_config": {"num_entities": model.entity_embeddings.num_embeddings,
                         "num_relations": model.relation_embeddings.num_embeddings,
                         "embedding_dim": model.entity_embeddings.embedding_dim,
                         "embedding_height": model.shape[0], "embedding_width": model.shape[1]},
        "metrics": {"mean_reciprocal_rank": 0.25, "hits@10": 0.5},
    }
    torch.save(payload, path)
    return path


def test_seed_checkpoint_scores_identical(tmp_path):
    model = _seed_model()
    ckpt = from_seed(_seed_file(model, tmp_path / "checkpoint_epoch_7.pt"))
    cfg = ckpt.config
    assert (cfg.stacking, cfg.entity_bias, cfg.reciprocal) == ("width", False, False)
    assert (cfg.embedding_height, cfg.embedding_width, cfg.output_channels) == (4, 6, 5)
    assert ckpt.epoch == 7 and ckpt.learning_rate == 0.002  # 0-based epoch 6 -> 7 completed
    assert ckpt.metrics == {"mean_reciprocal_rank": 0.25, "hits@10": 0.5}
    assert "entity_bias" not in ckpt.params
    got, hr = _kgif_scores(ckpt)
    with torch.no_grad():
        expected = model(hr[:, 0], hr[:, 1])
    _assert_scores_close(got, expected)


def test_seed_state_dict_shape_ambiguity_and_errors():
    model = _seed_model(height=4, width=6, channels=2)  # 4x6 and 12x2 both give 20 positions
    state = model.state_dict()
    with pytest.raises(ValueError, match=r"candidates \[\(4, 6\), \(12, 2\)\]"):
        from_seed(state)
    ckpt = from_seed(state, config={"embedding_height": 4}, learning_rate=0.1)
    with torch.no_grad():
        expected = model(*_kgif_scores(ckpt)[1].T)
    _assert_scores_close(_kgif_scores(ckpt)[0], expected)
    with pytest.raises(ValueError, match=r"missing .*conv1\.bias"):
        from_seed({k: v for k, v in state.items() if k != "conv1.bias"}, learning_rate=1.0)
    with pytest.raises(ValueError, match="contradicts the file layout"):
        from_seed(state, config={"reciprocal": True}, learning_rate=1.0)
    bad = {"epoch": 0, "model_state_dict": state, "model_config": {"num_entities": 10}}
    with pytest.raises(ValueError, match="num_entities=10"):
        from_seed(bad, learning_rate=1.0, config={"embedding_height": 4})
    with pytest.raises(ValueError, match="no PyKEEN equivalent"):
        to_pykeen(ckpt)


def test_seed_file_needing_pickle_is_refused(tmp_path):
    torch.save(_seed_model(), tmp_path / "whole_model.pt")  # a pickled nn.Module
    with pytest.raises(ValueError, match="trust_pickle=True"):
        from_seed(tmp_path / "whole_model.pt")


# --------------------------------------------------------------------------- CLI


def test_cli_convert_seed_file_and_folder(tmp_path, capsys):
    model = _seed_model(seed=4)
    folder = tmp_path / "seed"
    folder.mkdir()
    for epoch in (1, 3):
        _seed_file(model, folder / f"checkpoint_epoch_{epoch + 1}.pt", epoch=epoch)
    assert main(["convert", "--from", "seed", "--input", str(folder / "checkpoint_epoch_2.pt"),
                 "--output", str(tmp_path / "one.pt")]) == 0
    one = load_checkpoint(tmp_path / "one.pt")
    direct = from_seed(folder / "checkpoint_epoch_2.pt")
    assert one.epoch == 2 and one.learning_rate == 0.002 and one.config == direct.config
    for name, value in direct.params.items():
        assert torch.equal(one.params[name], value), name
    assert main(["convert", "--from", "seed", "--input", str(folder),
                 "--output", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "checkpoint_epoch_2.pt", "checkpoint_epoch_4.pt"]
    assert load_checkpoint(tmp_path / "out" / "checkpoint_epoch_4.pt").epoch == 4
    assert "checkpoint_epoch_4.pt" in capsys.readouterr().out
    ids = {load_checkpoint(p).run_id for p in (tmp_path / "out").iterdir()}
    assert len(ids) == 1 and "" not in ids and ids != {one.run_id}  # one run per invocation
    assert main(["convert", "--from", "seed", "--input", str(folder / "checkpoint_epoch_2.pt"),
                 "--output", str(tmp_path / "fixed.pt"), "--run-id", "run-7"]) == 0
    assert load_checkpoint(tmp_path / "fixed.pt").run_id == "run-7"


def test_cli_convert_pykeen_with_training_triples(nations, tmp_path):
    model = _pykeen_conve(nations, **SHAPES["d24_4x6_c4"])
    torch.save({"state_dict": model.state_dict(), "version": 1}, tmp_path / "checkpoint_3.pt")
    nations.to_path_binary(tmp_path / "training_triples")
    args = ["convert", "--from", "pykeen", "--input", str(tmp_path / "checkpoint_3.pt"),
            "--output", str(tmp_path / "k.pt"), "--learning-rate", "0.01",
            "--training-triples", str(tmp_path / "training_triples")]
    assert main(args) == 2  # ambiguous 3x8 / 4x6: an error message, no traceback
    assert main([*args, "--model-config", '{"embedding_height": 4}']) == 0
    ckpt = load_checkpoint(tmp_path / "k.pt")
    assert ckpt.epoch == 3 and ckpt.learning_rate == 0.01
    assert ckpt.relation_to_id == nations.relation_to_id
    got, hr = _kgif_scores(ckpt)
    _assert_scores_close(got, _pykeen_scores(model, hr))


def _pykeen_reference_influence(snapshots, train, test):
    """sum_k eta_k <grad s(train edge, both directions), grad s(test)> with PyKEEN's own
    float64 ConvE and plain autograd over all its parameters (no kgif code)."""
    out = torch.zeros(len(test), len(train), dtype=torch.float64)
    for model, lr in snapshots:
        params = [p for p in model.parameters() if p.requires_grad]

        def grad(h, row, t, model=model, params=params):
            score = model.score_t(torch.tensor([[h, row]]))[0, t]
            return torch.cat([g.flatten() for g in torch.autograd.grad(score, params)])

        tests = [grad(h, 2 * r, t) for h, r, t in test.tolist()]
        for i, (a, q, b) in enumerate(train.tolist()):
            edge = grad(a, 2 * q, b) + grad(b, 2 * q + 1, a)
            for j, g_test in enumerate(tests):
                out[j, i] += lr * torch.dot(edge, g_test)
    return out


def test_tracin_of_converted_checkpoints_equals_pykeen_autograd_reference(nations):
    models = require_pykeen("pykeen.models")
    model = models.ConvE(triples_factory=nations, random_seed=0, embedding_dim=24,
                         embedding_height=4, embedding_width=6, output_channels=4)
    converted, snapshots = [], []
    for epoch, lr in ((1, 0.01), (2, 0.004)):
        _train_steps(model, nations, steps=3, lr=lr, seed=epoch)
        snapshot = copy.deepcopy(model).double().eval()
        snapshots.append((snapshot, lr))
        converted.append(from_pykeen(snapshot, learning_rate=lr, epoch=epoch))
    train, test = nations.mapped_triples[:12], nations.mapped_triples[100:103]
    scores = TracIn(converted, train, test_objective="score", dtype=torch.float64,
                    show_progress=False).influence(test)
    expected = _pykeen_reference_influence(snapshots, train, test)
    assert expected.abs().min() > 0  # a non-degenerate reference
    torch.testing.assert_close(scores, expected, rtol=RTOL64, atol=ATOL64 * expected.abs().max())


def test_damaged_files_are_not_sent_to_trust_pickle(tmp_path):
    torch.save({"model_state_dict": {"w": torch.ones(3)}}, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    for name, content in (("empty.pt", b""), ("half.pt", data[: len(data) // 2])):
        (tmp_path / name).write_bytes(content)
        for convert in (from_pykeen, from_seed):
            with pytest.raises(ValueError, match="damaged") as info:
                convert(tmp_path / name, learning_rate=1.0)
            assert name in str(info.value) and "trust_pickle" not in str(info.value)
