"""``kgif.influence.grads.without_onednn``: the one process-global flag kgif sets, always
restored."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve
from tolerances import ATOL64, RTOL64

from kgif.bench.common import random_triples
from kgif.influence.grads import (
    PER_SAMPLE,
    conv_maps_gemm,
    structured_factors,
    without_onednn,
)
from kgif.model.loss import get_objective


@pytest.fixture
def mkldnn_flag():
    """Restore the flag whatever a test does to it."""
    previous = torch.backends.mkldnn.enabled
    yield
    torch.backends.mkldnn.enabled = previous


@pytest.mark.parametrize("before", [True, False])
def test_restores_the_previous_value_on_exit_and_on_exceptions(mkldnn_flag, before):
    torch.backends.mkldnn.enabled = before
    with without_onednn():
        assert torch.backends.mkldnn.enabled is False
        with without_onednn():  # nested
            assert torch.backends.mkldnn.enabled is False
        assert torch.backends.mkldnn.enabled is False
    assert torch.backends.mkldnn.enabled is before
    with pytest.raises(RuntimeError, match="boom"), without_onednn():
        raise RuntimeError("boom")
    assert torch.backends.mkldnn.enabled is before


@pytest.mark.parametrize("before", [True, False])
def test_structured_factors_leave_the_flag_as_they_found_it(mkldnn_flag, before):
    config, params, buffers = small_conve(seed=1, num_entities=9, num_relations=2)
    examples = random_triples(4, 9, 4, seed=2)  # relation rows of a reciprocal model
    torch.backends.mkldnn.enabled = before
    structured_factors(params, buffers, config, examples, get_objective("score"), PER_SAMPLE)
    assert torch.backends.mkldnn.enabled is before
    bad = examples.clone()
    bad[0, 0] = 10_000  # an entity id outside the table: the forward pass raises
    with pytest.raises(IndexError):
        structured_factors(params, buffers, config, bad, get_objective("score"), PER_SAMPLE)
    assert torch.backends.mkldnn.enabled is before


@pytest.mark.parametrize(("height", "width", "channels"), [(16, 4, 32), (20, 20, 8), (6, 3, 2)])
def test_conv_as_one_gemm_equals_conv2d(height, width, channels):
    """conv_maps_gemm against F.conv2d in float64 (the reference), values and input gradient."""
    gen = torch.Generator().manual_seed(height * width)
    img = torch.randn(5, 1, height, width, generator=gen, dtype=torch.float64)
    params = {"conv.weight": torch.randn(channels, 1, 3, 3, generator=gen, dtype=torch.float64),
              "conv.bias": torch.randn(channels, generator=gen, dtype=torch.float64)}
    img.requires_grad_(True)
    got = conv_maps_gemm(params, img)
    expected = torch.nn.functional.conv2d(img, params["conv.weight"], params["conv.bias"])
    assert got.shape == expected.shape == (5, channels, height - 2, width - 2)
    torch.testing.assert_close(got, expected, rtol=RTOL64, atol=ATOL64)
    probe = torch.randn(expected.shape, generator=gen, dtype=torch.float64)
    (g_got,) = torch.autograd.grad(got, img, probe)
    (g_expected,) = torch.autograd.grad(expected, img, probe)
    torch.testing.assert_close(g_got, g_expected, rtol=RTOL64, atol=ATOL64)


def test_structured_factors_with_either_convolution_agree():
    config, params, buffers = small_conve(seed=1, num_entities=9, num_relations=2,
                                          dtype=torch.float64)
    examples = random_triples(6, 9, 4, seed=2)
    for objective in ("score", "pointwise_bce", "bce_1n"):
        a = structured_factors(params, buffers, config, examples, get_objective(objective),
                               PER_SAMPLE + ("conv.weight", "conv.bias"))
        b = structured_factors(params, buffers, config, examples, get_objective(objective),
                               PER_SAMPLE + ("conv.weight", "conv.bias"), conv_as_gemm=False)
        for name in ("f", "g", "k", "delta", "x", "small"):
            torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=RTOL64,
                                       atol=ATOL64)
