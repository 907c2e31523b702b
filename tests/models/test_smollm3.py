"""SmolLM3 against the reference (tests in decoder_parity.py): NoPE layers (no rotation) among RoPE
ones, sliding-window attention on the NoPE layers, attention and MLP biases, tied embeddings."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for SmolLM3)

VARIANTS = {
    "nope-every-2nd": {"no_rope_layer_interval": 2},
    "nope-window-4-bias": {"no_rope_layers": [0, 1], "use_sliding_window": True, "sliding_window": 4,
                           "attention_bias": True, "mlp_bias": True, "tie_word_embeddings": False},
}


@pytest.fixture
def arch():
    return "smollm3"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return list(VARIANTS.values())


def test_nope_layers_and_layer_types_like_reference():
    import transformers

    from leanformers import SmolLM3Config

    for kwargs in ({"num_hidden_layers": 9}, {"num_hidden_layers": 5, "use_sliding_window": True,
                                             "sliding_window": 16, "no_rope_layer_interval": 2}):
        ours, ref = SmolLM3Config(**kwargs), transformers.SmolLM3Config(**kwargs)
        assert (ours.no_rope_layers, ours.layer_types) == (ref.no_rope_layers, ref.layer_types)
