"""Gemma 2 against the reference (tests in decoder_parity.py): pre/post norms around both sub-blocks,
attention and final-logit soft-capping (on and off), alternating sliding-window layers with a window
shorter than the test sequences, query_pre_attn_scalar."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Gemma 2)

VARIANTS = {
    # soft caps low enough that tanh bends the tiny model's scores and logits
    "softcap-window-4": {"sliding_window": 4, "attn_logit_softcapping": 0.5, "final_logit_softcapping": 0.3},
    "no-softcap": {"attn_logit_softcapping": None, "final_logit_softcapping": None, "query_pre_attn_scalar": 16},
}


@pytest.fixture
def arch():
    return "gemma2"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS["softcap-window-4"]]


def test_layer_types_alternate_like_reference():
    import transformers

    from leanformers import Gemma2Config

    assert Gemma2Config(num_hidden_layers=5).layer_types == transformers.Gemma2Config(num_hidden_layers=5).layer_types
