"""Checkpoint round trips (torch.save with weights_only=True, safetensors) and atomicity."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from helpers import small_conve

from kgif.data.datasets import load_dataset
from kgif.model.checkpoint import (
    Checkpoint,
    check_compatible,
    check_same_run,
    list_checkpoints,
    load_checkpoint,
    load_checkpoints,
    save_checkpoint,
)
from kgif.model.conve import ConvEConfig, init_conve


def _checkpoint(seed=0, epoch=3, run_id="run-a"):
    config, params, buffers = small_conve(seed=seed)
    return Checkpoint(params, buffers, config, learning_rate=0.003, epoch=epoch,
                      entity_to_id={"a": 0, "b": 1}, relation_to_id={"r": 0},
                      metrics={"validation_mrr": 0.5},
                      training_state={"step": torch.tensor(7), "lr": [0.1]}, run_id=run_id)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip(tmp_path, suffix):
    ckpt = _checkpoint()
    path = save_checkpoint(ckpt, tmp_path / f"epoch_3{suffix}")
    back = load_checkpoint(path)
    assert back.config == ckpt.config
    assert (back.learning_rate, back.epoch, back.run_id) == (0.003, 3, "run-a")
    assert back.entity_to_id == ckpt.entity_to_id and back.metrics == ckpt.metrics
    for name, value in {**ckpt.params, **ckpt.buffers}.items():
        got = back.params.get(name, back.buffers.get(name))
        assert torch.equal(got, value), name
    if suffix == ".pt":
        raw = torch.load(path, weights_only=True)  # plain containers only
        assert raw["format"] == "kgif-checkpoint"
        assert torch.equal(back.training_state["step"], torch.tensor(7))


def test_no_temporary_files_left_and_ordering(tmp_path):
    for epoch in (10, 2, 1):
        save_checkpoint(_checkpoint(seed=epoch, epoch=epoch),
                        tmp_path / f"checkpoint_epoch_{epoch}.pt")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert [c.epoch for c in load_checkpoints(tmp_path)] == [1, 2, 10]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    with pytest.raises(FileNotFoundError, match="no .*files"):
        list_checkpoints(tmp_path)
    with pytest.raises(ValueError, match="must end in"):
        save_checkpoint(_checkpoint(), tmp_path / "x.pkl")
    torch.save({"state_dict": {}}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="not a kgif checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


# --------------------------------------------------------------------------- item 1: finiteness


@pytest.mark.parametrize("where", ["params", "buffers"])
def test_load_refuses_non_finite_tensors_naming_file_and_tensor(tmp_path, where):
    ckpt = _checkpoint()
    name = "entity_embedding" if where == "params" else "bn1.running_var"
    getattr(ckpt, where)[name].view(-1)[2] = float("nan" if where == "params" else "inf")
    path = save_checkpoint(ckpt, tmp_path / "diverged.pt", allow_non_finite=True)
    with pytest.raises(ValueError, match=rf"diverged\.pt.*{name!r}.*1 non-finite"):
        load_checkpoint(path)
    with pytest.raises(ValueError, match=rf"{name!r}"):
        load_checkpoints(tmp_path)
    back = load_checkpoint(path, allow_non_finite=True)  # explicit opt-out, to inspect it
    assert not torch.isfinite(getattr(back, where)[name]).all()


#: The one message of the learning-rate rule, after "<checkpoint> has learning rate <lr>".
LR_RULE = "; the TracInCP weight eta_k (Pruthi et al. 2020, eq. 3) must be a finite number > 0"


@pytest.mark.parametrize("rate", [0.0, 0, -0.01, float("nan"), float("inf"), -float("inf"),
                                  None, "0.1", True])
def test_learning_rate_rule_is_one_on_save_load_and_in_tracin(tmp_path, rate):
    """lr = 0 was accepted by TracIn while save_checkpoint refused it: one rule, one message."""
    from kgif.influence.tracin import TracIn

    bad = replace(_checkpoint(), learning_rate=rate)
    messages = {}
    with pytest.raises(ValueError) as saving:
        save_checkpoint(bad, tmp_path / "saved.pt")
    messages["save"] = str(saving.value)
    assert not (tmp_path / "saved.pt").exists()
    if type(rate) in (int, float):  # a file stores a float; other types never reach one
        path = save_checkpoint(bad, tmp_path / "lr.pt", allow_non_finite=True)
        with pytest.raises(ValueError) as loading:
            load_checkpoint(path)
        messages["load"] = str(loading.value)
        assert messages["load"].startswith(f"{path} has learning rate ")
    with pytest.raises(ValueError) as tracin:
        TracIn([bad], show_progress=False)
    messages["TracIn"] = str(tracin.value)
    assert messages["save"].startswith(f"save_checkpoint: {tmp_path / 'saved.pt'} has ")
    assert messages["TracIn"].startswith("checkpoint of epoch 3 has learning rate ")
    for who, message in messages.items():
        stored = float(rate) if who == "load" else rate
        assert message.endswith(f" has learning rate {stored!r}{LR_RULE}"), who


def test_learning_rate_rule_accepts_positive_finite_rates(tmp_path):
    for rate in (1e-300, 0.003, 7):
        back = load_checkpoint(save_checkpoint(replace(_checkpoint(), learning_rate=rate),
                                               tmp_path / "ok.pt"))
        assert back.learning_rate == rate and isinstance(back.learning_rate, float)


def test_save_refuses_non_finite_model(tmp_path):
    ckpt = _checkpoint()
    ckpt.params["fc.weight"][0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"nan\.pt.*'fc.weight'"):
        save_checkpoint(ckpt, tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()


# --------------------------------------------------------------------------- item 11: damage


def _damaged_files(tmp_path, suffix):
    good = save_checkpoint(_checkpoint(), tmp_path / f"good{suffix}").read_bytes()
    files = {"empty": b"", "truncated": good[: len(good) // 2],
             "random": torch.randint(256, (4096,), generator=torch.Generator().manual_seed(0),
                                     dtype=torch.uint8).numpy().tobytes()}
    for name, data in files.items():
        (tmp_path / f"{name}{suffix}").write_bytes(data)
    return [tmp_path / f"{name}{suffix}" for name in files]


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_damaged_files_give_a_clear_error(tmp_path, suffix):
    for path in _damaged_files(tmp_path, suffix):
        with pytest.raises(ValueError, match="damaged") as info:
            load_checkpoint(path)
        message = str(info.value)
        assert str(path) in message and "not a checkpoint" in message
        assert "weights_only" not in message and "Unpickl" not in message


# --------------------------------------------------------------------------- item 15: bytes


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_saved_bytes_do_not_depend_on_the_file_name(tmp_path, suffix):
    ckpt = _checkpoint()
    a = save_checkpoint(ckpt, tmp_path / "one" / f"a{suffix}")
    b = save_checkpoint(ckpt, tmp_path / "two" / f"b{suffix}")
    assert a.read_bytes() == b.read_bytes()


# --------------------------------------------------------------------------- item 3: runs


def test_load_checkpoints_refuses_duplicates_and_mixed_runs(tmp_path):
    one = save_checkpoint(_checkpoint(seed=1, epoch=1), tmp_path / "e1.pt")
    two = save_checkpoint(_checkpoint(seed=2, epoch=2), tmp_path / "e2.pt")
    assert [c.epoch for c in load_checkpoints([one, two])] == [1, 2]
    with pytest.raises(ValueError, match="listed twice"):
        load_checkpoints([one, two, one])
    (tmp_path / "copy.pt").write_bytes(one.read_bytes())
    with pytest.raises(ValueError, match="same content"):
        load_checkpoints([one, tmp_path / "copy.pt"])
    again = save_checkpoint(_checkpoint(seed=3, epoch=2), tmp_path / "other_e2.pt")
    with pytest.raises(ValueError, match="epoch 2"):
        load_checkpoints([one, two, again])
    other = save_checkpoint(_checkpoint(seed=4, epoch=3, run_id="run-b"), tmp_path / "b.pt")
    with pytest.raises(ValueError, match="2 different training runs"):
        load_checkpoints([one, two, other])
    old = save_checkpoint(_checkpoint(seed=5, epoch=4, run_id=""), tmp_path / "old.pt")
    with pytest.raises(ValueError, match="old.pt carry no run id"):
        load_checkpoints([one, old])
    assert len(load_checkpoints([old])) == 1  # an unknown run alone is fine
    mixed = load_checkpoints([one, two, one, again, other, old], allow_mixed_runs=True)
    assert len(mixed) == 6


def test_check_same_run_on_objects():
    a, b = _checkpoint(seed=1, epoch=1), _checkpoint(seed=2, epoch=2)
    assert check_same_run([a, b]) == [a, b]
    with pytest.raises(ValueError, match="same content"):
        check_same_run([a, b, _checkpoint(seed=1, epoch=5)])


# --------------------------------------------------------------------------- item 5: datasets


def _model_for(kg, reciprocal=True, maps=False):
    config = ConvEConfig(embedding_dim=12, output_channels=2, reciprocal=reciprocal)
    params, buffers = init_conve(config, kg.num_entities, kg.num_relations, seed=0)
    return Checkpoint(params, buffers, config, 0.1, 1,
                      dict(kg.entity_to_id) if maps else {},
                      dict(kg.relation_to_id) if maps else {})


def test_check_compatible_refuses_other_datasets():
    umls, kinships, nations = (load_dataset(n) for n in ("umls", "kinships", "nations"))
    model = _model_for(umls)
    check_compatible(model, umls)
    check_compatible([model, _model_for(umls, maps=True)], umls)
    with pytest.raises(ValueError, match=r"135 rows in 'entity_embedding' .*'kinships' has 104"):
        check_compatible(model, kinships)
    with pytest.raises(ValueError, match=r"'nations' has 14 entities"):
        check_compatible([model], nations)
    wrong_layout = replace(model, config=replace(model.config, reciprocal=False))
    with pytest.raises(ValueError, match=r"92 rows in 'relation_embedding'.*reciprocal=False"):
        check_compatible(wrong_layout, umls)


def test_check_compatible_compares_id_maps():
    umls = load_dataset("umls")
    model = _model_for(umls, maps=True)
    names = list(umls.relation_to_id)
    swapped = dict(umls.relation_to_id)
    swapped[names[0]], swapped[names[1]] = swapped[names[1]], swapped[names[0]]
    with pytest.raises(ValueError, match=rf"relation ids .*{names[0]!r} has id 1 in it but 0"):
        check_compatible(replace(model, relation_to_id=swapped), umls)
    renamed = {("X" + k if i == 3 else k): v for i, (k, v) in enumerate(umls.entity_to_id.items())}
    with pytest.raises(ValueError, match="entity ids .* is not in it"):
        check_compatible(replace(model, entity_to_id=renamed), umls)
