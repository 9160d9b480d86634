"""``kgif.influence.grads.without_onednn``: the one process-global flag kgif sets, always
restored."""

from __future__ import annotations

import pytest
import torch
from helpers import small_conve

from kgif.bench.common import random_triples
from kgif.influence.grads import PER_SAMPLE, structured_factors, without_onednn
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
