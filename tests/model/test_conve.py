"""Functional ConvE: vmap(grad) vs an autograd loop, modes, PyKEEN equivalence."""

from __future__ import annotations

import pytest
import torch
from helpers import pykeen_state, small_conve
from tolerances import ATOL64, RTOL32, RTOL64
from torch.func import grad, vmap

from kgif.bench.common import random_triples
from kgif.model.conve import (
    ConvEConfig,
    hidden,
    init_conve,
    score_all,
    score_all_tails,
    score_hrt,
    score_tails,
)


def _loss_one(params, buffers, h, r, t, config):
    """Per-triple attribution loss: -log sigmoid(s_t) of one triple (scalar)."""
    s = score_hrt(params, buffers, torch.stack([h, r, t])[None], config)
    return torch.nn.functional.softplus(-s).sum()


@pytest.mark.parametrize("stacking", ["height", "width"])
def test_vmap_grad_equals_autograd_loop_float64(stacking):
    config, params, buffers = small_conve(seed=3, stacking=stacking)
    triples = random_triples(6, 11, 6, seed=4)
    per_sample = vmap(
        grad(_loss_one),
        in_dims=(None, None, 0, 0, 0, None),  # params, buffers shared; h, r, t mapped
    )(params, buffers, triples[:, 0], triples[:, 1], triples[:, 2], config)
    for i, (h, r, t) in enumerate(triples.tolist()):
        leaf = {k: v.clone().requires_grad_(True) for k, v in params.items()}
        f, _ = hidden(leaf, buffers, torch.tensor([h]), torch.tensor([r]), config)
        s = (f[0] * leaf["entity_embedding"][t]).sum() + leaf["entity_bias"][t]
        loss = torch.log1p(torch.exp(-s))  # -log sigmoid(s), written differently on purpose
        grads = torch.autograd.grad(loss, list(leaf.values()))
        for (name, _), g in zip(leaf.items(), grads, strict=True):
            torch.testing.assert_close(per_sample[name][i], g, rtol=RTOL64, atol=ATOL64)


def test_score_tails_matches_score_all():
    config, params, buffers = small_conve(seed=1)
    triples = random_triples(9, 11, 6, seed=2)
    f, _ = hidden(params, buffers, triples[:, 0], triples[:, 1], config)
    full = score_all(params, f)
    torch.testing.assert_close(
        score_tails(params, f, triples[:, 2]), full.gather(1, triples[:, 2:]).squeeze(1)
    )


def test_training_mode_returns_new_buffers_without_mutation():
    config, params, buffers = small_conve(seed=2)
    before = {k: v.clone() for k, v in buffers.items()}
    triples = random_triples(8, 11, 6, seed=0)
    _, updates = hidden(params, buffers, triples[:, 0], triples[:, 1], config, training=True)
    for name, value in buffers.items():
        assert torch.equal(value, before[name]), f"{name} mutated in place"
    assert set(updates) == set(buffers)
    assert not torch.equal(updates["bn1.running_mean"], buffers["bn1.running_mean"])
    assert int(updates["bn2.num_batches_tracked"]) == int(buffers["bn2.num_batches_tracked"]) + 1


def _reference_scores(params, buffers, triples, config):
    """ConvE in attribution mode written out with torch.nn modules, one triple at a time
    (Dettmers et al. 2018; PyKEEN's ConvEInteraction layout), independent of kgif.model.conve."""
    H, W, C = config.embedding_height, config.embedding_width, config.output_channels
    conv = torch.nn.Conv2d(1, C, (config.kernel_height, config.kernel_width)).double()
    fc = torch.nn.Linear(config.num_features, config.embedding_dim).double()
    norms = [torch.nn.BatchNorm2d(1), torch.nn.BatchNorm2d(C),
             torch.nn.BatchNorm1d(config.embedding_dim)]
    with torch.no_grad():
        conv.weight.copy_(params["conv.weight"]), conv.bias.copy_(params["conv.bias"])
        fc.weight.copy_(params["fc.weight"]), fc.bias.copy_(params["fc.bias"])
        for i, bn in enumerate(norms):
            bn.double().eval()
            bn.weight.copy_(params[f"bn{i}.weight"]), bn.bias.copy_(params[f"bn{i}.bias"])
            bn.running_mean.copy_(buffers[f"bn{i}.running_mean"])
            bn.running_var.copy_(buffers[f"bn{i}.running_var"])
        out = []
        for h, r, t in triples.tolist():
            img = torch.cat([params["entity_embedding"][h].view(1, 1, H, W),
                             params["relation_embedding"][r].view(1, 1, H, W)], dim=2)
            maps = torch.relu(norms[1](conv(norms[0](img))))
            f = torch.relu(norms[2](fc(maps.reshape(1, -1))))[0]
            out.append(f @ params["entity_embedding"][t] + params["entity_bias"][t])
    return torch.stack(out)


def test_attribution_scores_match_nn_module_reference_and_training_mode_is_random():
    config, params, buffers = small_conve(seed=5)
    triples = random_triples(8, 11, 6, seed=1)
    torch.testing.assert_close(score_hrt(params, buffers, triples, config),
                               _reference_scores(params, buffers, triples, config),
                               rtol=RTOL64, atol=ATOL64)
    torch.manual_seed(0)
    f1, _ = hidden(params, buffers, triples[:, 0], triples[:, 1], config, training=True)
    f2, _ = hidden(params, buffers, triples[:, 0], triples[:, 1], config, training=True)
    assert not torch.equal(f1, f2)  # dropout draws differ


def test_config_validation_names_values():
    with pytest.raises(ValueError, match="embedding_dim = 200"):
        ConvEConfig(embedding_dim=200, embedding_height=7, embedding_width=20)
    with pytest.raises(ValueError, match="input_dropout=1.5"):
        ConvEConfig(input_dropout=1.5)
    assert ConvEConfig().num_features == 10368  # 32 * 18 * 18 for 10x20
    assert ConvEConfig(stacking="width").num_features == 32 * 8 * 38


def test_init_shapes_and_seed():
    config = ConvEConfig(embedding_dim=32)
    params, buffers = init_conve(config, 14, 55, seed=7)
    assert params["relation_embedding"].shape == (110, 32)
    assert params["fc.weight"].shape == (32, config.num_features)
    again, _ = init_conve(config, 14, 55, seed=7)
    assert all(torch.equal(params[k], again[k]) for k in params)
    other, _ = init_conve(config, 14, 55, seed=8)
    assert not torch.equal(params["entity_embedding"], other["entity_embedding"])


def test_scores_equal_pykeen_conve_in_eval_mode():
    pykeen_models = pytest.importorskip("pykeen.models")
    from pykeen.triples import TriplesFactory

    num_entities, num_relations = 9, 2
    mapped = random_triples(40, num_entities, num_relations, seed=0)
    factory = TriplesFactory(mapped, entity_to_id={str(i): i for i in range(num_entities)},
                             relation_to_id={str(i): i for i in range(num_relations)},
                             create_inverse_triples=True)
    model = pykeen_models.ConvE(triples_factory=factory, embedding_dim=12, embedding_height=3,
                                embedding_width=4, output_channels=4, random_seed=0)
    config = ConvEConfig(embedding_dim=12, embedding_height=3, embedding_width=4, output_channels=4)
    _, params, buffers = small_conve(seed=9, num_entities=num_entities,
                                     num_relations=num_relations, dtype=torch.float32, **{
                                         k: getattr(config, k) for k in
                                         ("embedding_dim", "embedding_height", "embedding_width",
                                          "output_channels")})
    model.load_state_dict(pykeen_state(params, buffers), strict=True)
    model.eval()
    hr = mapped[:, :2].clone()
    hr[:, 1] *= 2  # PyKEEN's forward relation k is row 2k
    with torch.no_grad():
        expected = model.score_t(hr)
    f, _ = hidden(params, buffers, hr[:, 0], hr[:, 1], config)
    torch.testing.assert_close(score_all(params, f), expected, rtol=RTOL32, atol=1e-5)


def test_score_all_tails_matches_score_tails_of_every_entity():
    config, params, buffers = small_conve(seed=5)
    queries = random_triples(4, 11, 6, seed=6)
    got = score_all_tails(params, buffers, queries[:, 0], queries[:, 1], config)  # (4, 11)
    assert got.shape == (4, 11) and got.dtype == torch.float64 and not got.requires_grad
    for i, (h, r, _) in enumerate(queries.tolist()):
        hrt = torch.tensor([[h, r, t] for t in range(11)])
        torch.testing.assert_close(got[i], score_hrt(params, buffers, hrt, config),
                                   rtol=RTOL64, atol=ATOL64)
