"""Gemma 3 (text) against the reference (tests in decoder_parity.py): q/k norms, local sliding layers and
global ones in a pattern, a RoPE per layer type (scaled on the global layers only), pre/post norms,
final-logit soft-capping when set."""

import pytest

from decoder_parity import *  # noqa: F401,F403  (the shared parity tests run here for Gemma 3)

# three layers with a pattern of 2: local, global, local; a window shorter than the test sequences
PATTERN = {"num_hidden_layers": 3, "sliding_window_pattern": 2, "sliding_window": 4}
VARIANTS = {
    "pattern": dict(PATTERN),
    "linear-global-softcap": dict(PATTERN, final_logit_softcapping=0.3, rope_parameters={
        "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
    "yarn-global": dict(PATTERN, rope_parameters={
        "full_attention": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8,
                           "rope_theta": 1000000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}),
}


@pytest.fixture
def arch():
    return "gemma3_text"


@pytest.fixture(params=sorted(VARIANTS))
def variant(request):
    return VARIANTS[request.param]


@pytest.fixture
def generate_variants():
    return [VARIANTS[name] for name in ["pattern", "yarn-global"]]


def test_layer_pattern_and_rope_defaults_like_reference():
    import transformers

    from leanformers import Gemma3TextConfig

    for kwargs in ({"num_hidden_layers": 13}, {"num_hidden_layers": 4, "sliding_window_pattern": 2},
                   {"rope_theta": 500000.0, "rope_local_base_freq": 5000.0}):
        ours, ref = Gemma3TextConfig(**kwargs), transformers.Gemma3TextConfig(**kwargs)
        assert ours.layer_types == ref.layer_types
        assert ours.rope_parameters == ref.rope_parameters
