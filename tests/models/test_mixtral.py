"""Mixtral against the reference (tests in decoder_parity.py): 4 experts top-2 (and top-1), router
logits and the load-balancing loss added to the LM loss, a sliding window shorter than the prompts."""

import pytest
import torch

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Mixtral)
from decoder_parity import assert_close, batch, lean, reference

VARIANTS = {
    "4-experts-top-2": {},
    "top-1-window-4": {"num_experts_per_tok": 1, "sliding_window": 4},
}


@pytest.fixture
def arch():
    return "mixtral"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return list(VARIANTS.values())


@pytest.mark.parametrize("padded", [False, True])
def test_router_logits_and_aux_loss_equal_reference(checkpoints, variant, padded):
    folder = checkpoints("mixtral", "ForCausalLM", **variant)
    ref, ours = reference("mixtral", "ForCausalLM", folder), lean("mixtral", "ForCausalLM", folder)
    ids, mask = batch(pad_rows=padded)
    with torch.no_grad():
        expected = ref(ids, attention_mask=mask, labels=ids, output_router_logits=True)
        got = ours(ids, attention_mask=mask, labels=ids, output_router_logits=True)
    assert len(got.router_logits) == len(expected.router_logits) == 2
    rows = mask.reshape(-1).bool()
    for a, b in zip(got.router_logits, expected.router_logits):
        assert_close(a[rows], b[rows])
    if not padded:  # (padded rows' router logits are not defined; the aux loss masks them, the LM loss not)
        assert abs(got.aux_loss.item() - expected.aux_loss.item()) < 1e-5
        assert abs(got.loss.item() - expected.loss.item()) < 1e-5
