"""Qwen3-MoE against the reference (tests in decoder_parity.py): 4 experts top-2 with and without
renormalised weights, a dense layer among sparse ones (mlp_only_layers), q/k norms, the router logits
and load-balancing loss, a sliding window."""

import pytest
import torch

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Qwen3-MoE)
from decoder_parity import assert_close, batch, lean, reference

VARIANTS = {
    "top-2": {"num_experts_per_tok": 2},
    "top-2-norm-dense-layer-1-window": {"num_experts_per_tok": 2, "norm_topk_prob": True, "mlp_only_layers": [1],
                                        "use_sliding_window": True, "sliding_window": 4},
}


@pytest.fixture
def arch():
    return "qwen3_moe"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return list(VARIANTS.values())


def test_router_logits_and_aux_loss_equal_reference(checkpoints, variant):
    folder = checkpoints("qwen3_moe", "ForCausalLM", **variant)
    ref, ours = reference("qwen3_moe", "ForCausalLM", folder), lean("qwen3_moe", "ForCausalLM", folder)
    ids, mask = batch(pad_rows=False)
    with torch.no_grad():
        expected = ref(ids, attention_mask=mask, labels=ids, output_router_logits=True)
        got = ours(ids, attention_mask=mask, labels=ids, output_router_logits=True)
    assert len(got.router_logits) == len(expected.router_logits)
    for a, b in zip(got.router_logits, expected.router_logits):
        assert_close(a, b)
    assert abs(got.aux_loss.item() - expected.aux_loss.item()) < 1e-5
    assert abs(got.loss.item() - expected.loss.item()) < 1e-5
