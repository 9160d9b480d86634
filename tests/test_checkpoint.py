"""Checkpoint round trips (torch.save with weights_only=True, safetensors) and atomicity."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve

from kgif.checkpoint import (
    Checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_checkpoints,
    save_checkpoint,
)


def _checkpoint(seed=0, epoch=3):
    config, params, buffers = small_conve(seed=seed)
    return Checkpoint(params, buffers, config, learning_rate=0.003, epoch=epoch,
                      entity_to_id={"a": 0, "b": 1}, relation_to_id={"r": 0},
                      metrics={"validation_mrr": 0.5},
                      training_state={"step": torch.tensor(7), "lr": [0.1]})


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_round_trip(tmp_path, suffix):
    ckpt = _checkpoint()
    path = save_checkpoint(ckpt, tmp_path / f"epoch_3{suffix}")
    back = load_checkpoint(path)
    assert back.config == ckpt.config
    assert (back.learning_rate, back.epoch) == (0.003, 3)
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
        save_checkpoint(_checkpoint(epoch=epoch), tmp_path / f"checkpoint_epoch_{epoch}.pt")
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
