"""Gemma against the reference (tests in decoder_parity.py): scaled embeddings, (1 + w) RMSNorm in
float32, GeGLU, tied and untied heads, multi-query attention with biases."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Gemma)

VARIANTS = {
    "tied": {},
    "untied-mqa-bias": {"tie_word_embeddings": False, "num_key_value_heads": 1, "attention_bias": True},
}


@pytest.fixture
def arch():
    return "gemma"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS["tied"]]


def test_legacy_gelu_means_tanh_and_bidirectional_is_refused():
    import transformers

    from leanformers import GemmaConfig

    assert GemmaConfig(hidden_act="gelu").hidden_act == transformers.GemmaConfig(hidden_act="gelu").hidden_act
    with pytest.raises(ValueError, match="use_bidirectional_attention"):
        GemmaConfig(use_bidirectional_attention=True)
